"""The ledger's one CSV writer, and what ``--safe-csv`` does to a cell a spreadsheet would run as a formula.

Names and ids are the ingest's text: an account may be named
``=HYPERLINK("http://…","statement")``, ``+1``, ``-2+3`` or ``@SUM(A1)``.
Written as they are, such a cell is a formula once the file is opened in
Excel, LibreOffice or Google Sheets ("CSV injection"): it may fetch a URL,
hide a figure, or (DDE, in older Excel) start a program. The default CSV is
exact all the same: it is what ``ledger reconcile`` reads back, and a
changed name would no longer be the ledger's.

With ``safe=True`` (``--safe-csv``), OWASP's advice for CSV injection: a
cell beginning with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return
(or NUL, after OWASP ASVS) gets a single quote in front, which spreadsheets
read as "this cell is text" and do not show; and every cell is quoted, so
a ``;`` inside a name cannot start a new cell where ``;`` separates cells.
A plain decimal number is not a formula and is left as it is, so figures
stay numbers: ``-12.50``, ``-0E-18`` (an optional minus sign, digits, an
optional point and digits, an optional exponent: how the ledger writes a
figure). A name that is itself such a number (``-5``) is therefore written
as it is too: a spreadsheet shows it as the number -5, which runs nothing;
``+1`` is never a figure the ledger writes, and is neutralised.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TextIO

__all__ = ["FORMULA_TRIGGERS", "spreadsheet_safe", "write_csv"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
"""What a cell may not begin with in a ``--safe-csv`` file (OWASP's CSV injection list; NUL from OWASP ASVS 1.2.10)."""
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:E[+-]?[0-9]+)?", re.IGNORECASE)


def spreadsheet_safe(value: Any) -> Any:
    """``value`` as a spreadsheet reads it as text: a single quote before a string beginning with a formula trigger,
    unless it is a plain decimal number (a figure stays a number); anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(
    handle: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *, safe: bool = False,
    extras: Literal["raise", "ignore"] = "raise",
) -> int:
    """``rows`` under a header of ``columns`` (``extras``: what a key outside them does); the rows written. ``safe``:
    each cell as ``spreadsheet_safe`` writes it, every cell quoted."""
    writer = csv.DictWriter(handle, fieldnames=columns, extrasaction=extras, lineterminator="\n",
                            quoting=csv.QUOTE_ALL if safe else csv.QUOTE_MINIMAL)
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({key: spreadsheet_safe(value) for key, value in row.items()} if safe else row)
        count += 1
    return count
