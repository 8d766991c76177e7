"""#27 point 18: names a spreadsheet would run as formulas, in every CSV the ledger writes.

The attack: accounts, markets, assets and ids beginning with ``=``, ``+``, ``-`` or ``@`` were written verbatim into
every CSV (balances, positions, liquidations, export...), where a spreadsheet runs them. The default CSV stays exact
(``reconcile`` reads it back); ``--safe-csv`` writes such cells as text, a single quote in front, and leaves plain
numbers, negative ones included, as numbers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.cli import cli
from ledger.domain.csvcells import FORMULA_TRIGGERS, spreadsheet_safe
from tests.support.builders import deposit, listed, loss_allocation, mark, rules, trade
from tests.support.cli import ok, run

LINK = '=HYPERLINK("evil.example","statement")'
LONG, SHORT1, SHORT2 = LINK, "+1", "-2+3"
MARKET, ASSET, CRASH = "@SUM(A1)", "-USD", "=1+2"
HOSTILE = {LINK, SHORT1, SHORT2, MARKET, ASSET, CRASH}
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?(E[+-]?[0-9]+)?", re.IGNORECASE)


def _history():
    """The loss-allocation worked example (tests/support/adl.py) with hostile names: the long ``=HYPERLINK(...)`` is
    closed whole at the crash mark ``=1+2`` in market ``@SUM(A1)`` (settled in ``-USD``), bankrupt, and the shorts
    ``+1`` and ``-2+3`` are deleveraged to pay for it."""
    markets = {MARKET: {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}
    shorts = {SHORT1: ("4", "130", "60"), SHORT2: ("6", "110", "30"), "S3": ("6", "100", "100")}
    events = [listed(MARKET, lot="0.1", settle=ASSET), rules("full-v1", fee="0", buffer=None, markets=markets),
              mark("120", market=MARKET, t=0.7), loss_allocation("adl-ranked-v1")]
    events += [deposit(name, cash, t=1, asset=ASSET) for name, (_, _, cash) in shorts.items()]
    events += [deposit(LONG, "150", t=1, asset=ASSET), trade(LONG, "buy", "16", "120", market=MARKET, t=2)]
    events += [trade(name, "sell", size, entry, market=MARKET, t=2 + n / 10)
               for n, (name, (size, entry, _)) in enumerate(shorts.items())]
    return [*events, mark("100", market=MARKET, t=4, id=CRASH)]


def _outputs(url, tmp_path, *safe: str) -> dict[str, str]:
    """Every CSV the ledger writes on the hostile history, by name (with ``--safe-csv`` when ``safe`` holds it)."""
    statement = tmp_path / "statement.csv"
    statement.write_text(f'account,asset,balance\n"{LINK.replace(chr(34), chr(34) * 2)}",{ASSET},1\n')
    commands = {
        "balances": ["balances"], "positions": ["balances", "--positions"], "account": ["account", SHORT1],
        "liquidations": ["liquidations"], "bankruptcies": ["bankruptcies"], "deleverages": ["deleverages"],
        "history": ["history", LINK], "reconcile": ["reconcile", str(statement)], "whatif": ["whatif", "--rules", "full-v1"],
    }
    outputs = {}
    for name, args in commands.items():
        code, out, err = run(url, *args, "--format", "csv", *safe)
        assert code in (0, 1) and out, (name, err)
        outputs[name] = out
    folder = tmp_path / ("safe" if safe else "exact")
    ok(url, "export", "--format", "csv", "--out", str(folder), *safe)
    for name in ("events", "balances", "positions"):
        outputs[f"export {name}"] = (folder / f"{name}.csv").read_text(encoding="utf-8")
    return outputs


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_every_csv_output_writes_hostile_names_exactly_by_default_and_as_text_with_safe_csv(ledger, db_url, tmp_path):
    """In every CSV output (balances, positions, account, liquidations, bankruptcies, deleverages, history, reconcile,
    what-if, the three export files) each hostile name is written as it is by default, and with ``--safe-csv`` every
    cell beginning with = + - @ is the same text after a single quote, while every plain number, negative ones too,
    is the very same cell."""
    ledger.append(_history())
    exact, safe = _outputs(db_url, tmp_path), _outputs(db_url, tmp_path, "--safe-csv")
    negatives = 0
    for name, text in exact.items():
        cells, neutral = _cells(text), _cells(safe[name])
        assert len(cells) == len(neutral), name
        flat = [cell for row in cells for cell in row]
        assert HOSTILE & set(flat), f"{name} holds no hostile name"
        for cell, written in zip(flat, [cell for row in neutral for cell in row], strict=True):
            if cell.startswith(FORMULA_TRIGGERS) and not _NUMBER.fullmatch(cell):
                assert written == "'" + cell, (name, cell, written)
            else:
                assert written == cell, (name, cell, written)
            negatives += bool(_NUMBER.fullmatch(cell) and cell.startswith("-"))
        assert '"' + "'=" in safe[name] or LINK not in flat, name  # quoted, with the quote inside the cell
    assert negatives >= 5  # figures below zero stayed numbers


def test_the_default_csv_reconciles_back_exactly_with_hostile_names(ledger, db_url, tmp_path):
    """The ledger's own balances CSV, hostile names and all, reconciles with no break: the default CSV is exact."""
    ledger.append(_history())
    statement = tmp_path / "statement.csv"
    statement.write_text(ok(db_url, "balances", "--format", "csv"), encoding="utf-8")
    code, out, err = run(db_url, "reconcile", str(statement), "--include-system", "--format", "json")
    assert code == 0 and '"breaks": []' in out, err


def test_every_command_that_writes_csv_offers_safe_csv():
    """Each command with a CSV format (``--format csv``) also takes ``--safe-csv``: none is left out."""
    listing = click.Context(cli)  # the group imports each command's module as it is looked up (``cli.on_demand``)
    by_name = {name: command for name in cli.list_commands(listing) if (command := cli.get_command(listing, name))}
    commands = list(by_name.values())
    writing = [command.name for command in commands
               if any(isinstance(p.type, click.Choice) and "csv" in p.type.choices for p in command.params)]
    assert {"balances", "liquidations", "history", "reconcile", "export", "sweep", "audit"} <= set(writing)
    assert [name for name in writing if "--safe-csv" not in {o for p in by_name[name].params for o in p.opts}] == []


def test_the_ledger_writes_csv_in_one_place_only():
    """No module of the ledger but ``domain/csvcells.py`` makes a CSV writer, so every CSV it writes can be made safe."""
    package = Path(__file__).resolve().parents[1] / "ledger"
    writers = [str(path.relative_to(package)) for path in package.rglob("*.py")
               if re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))]
    assert writers == ["domain/csvcells.py"]


@given(st.text(max_size=12))
def test_a_neutralised_cell_never_begins_a_formula_and_loses_nothing(text):
    """Any text: the cell ``--safe-csv`` writes begins with no formula trigger unless it is a plain number, and is the
    text itself, or the text after one single quote."""
    written = spreadsheet_safe(text)
    assert written in (text, "'" + text)
    assert not written.startswith(FORMULA_TRIGGERS) or _NUMBER.fullmatch(written)


@pytest.mark.parametrize(("cell", "written"), [
    ("-12.50", "-12.50"), ("-0E-18", "-0E-18"), ("1E+3", "1E+3"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\r=1", "'\r=1"), ("-", "'-"), ("-1e", "'-1e"), ("a=1", "a=1"),
])
def test_negative_numbers_stay_numbers_and_anything_else_with_a_trigger_becomes_text(cell, written):
    """A plain decimal number (sign, digits, point, exponent) is kept; anything else beginning with a trigger is quoted."""
    assert spreadsheet_safe(cell) == written
