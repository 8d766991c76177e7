"""Tables at a terminal's width (#26 point 1): a number or an id is never split, at 80 columns or 120.

A table that fits is printed whole; one that does not shows the command's
essential columns (most important first) and names the ones hidden; when
even those do not fit, one record per block. Checked on the main job's crash
history through the real command (a terminal of 80 and of 120 columns, as
rich sees one with ``FORCE_COLOR``), and on generated rows through the
renderer itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from ledger.cli import tables
from tests.support.cli import ok

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def crash(crash_url) -> str:
    """The session's crash ledger (every test here only reads it)."""
    return crash_url


def at_terminal(url: str, width: int, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ledger", *args], capture_output=True, text=True, check=True,
                          env={**os.environ, "LEDGER_DB": url, "FORCE_COLOR": "1", "COLUMNS": str(width)})
    return ANSI.sub("", done.stdout)


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", [["liquidations"], ["bankruptcies"], ["deleverages"], ["history", "trader-03"]])
def test_no_id_is_split_and_no_line_is_wider_than_the_terminal(crash, width, command):
    """Every record's id is on one line, whole, and no line is wider than the terminal (it used to fold ids over
    three lines, and numbers mid-digit)."""
    shown = at_terminal(crash, width, *command)
    assert all(cell_len(line) <= width for line in shown.splitlines()), shown
    records = json.loads(ok(crash, *command, "--format", "json"))
    assert records
    for record in records:
        assert record["id"] in shown, f"{record['id']} is split or missing at {width} columns"


def test_a_table_that_does_not_fit_keeps_its_essential_columns_and_names_the_others(crash):
    """At 120 columns `liquidations` shows its first essential columns (id, at, account, ...) and says which are
    hidden and how to see them; `--wide` prints every column."""
    shown = at_terminal(crash, 120, "liquidations")
    header = next(line for line in shown.splitlines() if " id " in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")][:4] == ["id", "at", "account", "market"]
    assert "more columns at a wider terminal or with `--wide`:" in shown and "maintenance_after" in shown
    wide = at_terminal(crash, 120, "--wide", "liquidations")
    assert "maintenance_after" in next(line for line in wide.splitlines() if " id " in line)


_CELL = st.text(alphabet="abc-/:.,0123456789", min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@example([{"id": "0", "qty": "0", "price": "0", "account": ":a:", "reason": "[bold]x"}], 40)  # rich read an emoji code
@given(st.lists(st.fixed_dictionaries({"id": _CELL, "qty": _CELL, "price": _CELL, "account": _CELL,
                                       "reason": st.text(alphabet="ab -", max_size=80)}), min_size=1, max_size=6),
       st.sampled_from([40, 80, 120]))
def test_the_renderer_never_splits_a_cell_that_is_not_free_text(rows, width):
    """For any rows and width, every id, quantity, price and account shown is whole on one line, and no line is wider
    than the console (free text, a reason, may wrap between words)."""
    console = Console(width=width, record=True, force_terminal=True, color_system=None)
    with console.capture() as captured:
        tables.render(console, "t", ["id", "account", "qty", "price", "reason"], rows, frozenset({"qty", "price"}),
                      ["id", "account", "qty", "price"])
    shown = captured.get()
    lines = shown.splitlines()
    assert all(cell_len(line) <= width for line in lines), shown
    for row in rows:
        for column in ("id", "account", "qty", "price"):
            if f" {column} " in shown or f"{column}  " in shown or column in shown.split():
                assert any(row[column] in line for line in lines), (column, row[column], shown)
