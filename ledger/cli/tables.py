"""Tables for people at a terminal: a number or an id is never split, whatever the width.

A table at the terminal's width used to fold every cell that did not fit,
mid-token (``58,50`` over ``0.00``, an id over three lines): the id ``explain``
needs could not be copied. Now only free text (a reason, a description) may
wrap, between words; every other cell keeps its line. A table that does not
fit shows the columns that matter for its command, and says how to see the
rest (``--wide``, or CSV/JSON); when even those do not fit, each record is
printed as a block of ``column  value`` lines, as ``psql``'s expanded mode
does. Piped output, and ``--wide``, keep the plain full-width layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ledger.domain.words import counted

__all__ = ["render", "WRAPPABLE"]

TIME_COLUMNS = frozenset({"at", "recorded_at", "as_of", "from", "to"})
"""Columns of times: only these are shown without zero microseconds on a terminal (an id that looks like a time
is left as it is)."""

MIN_COLUMNS = 4
"""A narrowed table keeps at least this many columns; fewer would say less than one record per block."""

WRAPPABLE = frozenset({"reason", "detail", "what", "summary", "meaning", "range", "params", "basis", "where"})
"""Columns of free text: the only cells that may wrap, and only between words."""


def _table(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], numeric: frozenset[str],
           plain: bool) -> Table:
    table = Table(title=Text(title), box=box.SIMPLE_HEAD if plain else box.HEAVY_HEAD)
    for column in columns:
        wraps = column in WRAPPABLE
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=not wraps,
                         overflow="fold" if wraps else "ignore", min_width=_narrowest(column, rows) if wraps else None)
    for row in rows:  # as text: a cell is data, never markup (``[bold]``) nor an emoji code (``:a:``)
        table.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))
    return table


def _minimum(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> int:
    """The narrowest the table can be with no cell split: every cell whole on its line, but free text wrapped at its
    longest word; with the box's borders and each column's padding."""
    return 1 + sum(_narrowest(column, rows) + 3 for column in columns)


def _narrowest(column: str, rows: Sequence[dict[str, Any]]) -> int:
    """The narrowest a column can be with no cell split: its widest cell, or for free text its longest word; never
    narrower than its name."""
    cells = ["" if row.get(column) is None else str(row.get(column)) for row in rows]
    pieces = [word for cell in cells for word in cell.split()] if column in WRAPPABLE else cells
    return max([cell_len(column), *(cell_len(piece) for piece in pieces)])


def _expanded(console: Console, title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """One record per block, one ``column  value`` line each: fits any width without splitting a value."""
    console.print(Text(f"{title} ({counted(len(rows), 'record')}, one per block: the table is wider than "
                  "this terminal; `--wide` prints it whole)"), soft_wrap=False, highlight=False)
    label = max((len(c) for c in columns), default=0)
    for number, row in enumerate(rows, start=1):
        console.print(Text(f"-[ record {number} ]-"), highlight=False)
        for column in columns:
            value = "" if row.get(column) is None else str(row.get(column))
            console.print(Text(f"{column:<{label}}  {value}"), soft_wrap=False, highlight=False)


_WHOLE_SECOND = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)\.000000Z$")


def _compact(value: object) -> object:
    """A time on a whole second without its zero microseconds (``2024-08-05 00:15:30Z``): the same instant, seven
    characters narrower, for a terminal; CSV, JSON and piped tables keep the canonical text."""
    if isinstance(value, str):
        found = _WHOLE_SECOND.match(value)
        if found:
            return f"{found.group(1)} {found.group(2)}Z"
    return value


def render(console: Console, title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
           numeric: frozenset[str], essential: Sequence[str] | None) -> None:
    """``rows`` on a terminal as wide as ``console``: whole if it fits, else as many of its ``essential`` columns
    (most important first) as fit, with a word on what is hidden, else one record per block."""
    rows = [{key: _compact(value) if key in TIME_COLUMNS else value for key, value in row.items()} for row in rows]
    width = console.width
    if _minimum(columns, rows) <= width:
        console.print(_table(title, columns, rows, numeric, plain=False))
        return
    kept = [c for c in essential or () if c in columns]
    while len(kept) >= MIN_COLUMNS and _minimum(kept, rows) > width:
        kept.pop()  # the essential columns come most important first: the last gives way
    if len(kept) >= MIN_COLUMNS:
        console.print(_table(title, kept, rows, numeric, plain=False))
        hidden = [c for c in columns if c not in kept]
        console.print(Text(f"{counted(len(hidden), 'more column')} at a wider terminal or with "
                           f"`--wide`: {', '.join(hidden)} (`--format csv` or `json` gives every field)"),
                      soft_wrap=False, highlight=False)
        return
    _expanded(console, title, columns, rows)


def plain(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], numeric: frozenset[str]) -> Table:
    """The full-width layout of a pipe, a file, or ``--wide``: as wide as its widest row, nothing folded."""
    return _table(title, columns, rows, numeric, plain=True)
