"""The ``ledger`` command: outputs per the contract, exit statuses 0 / 1 / 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal

import click
import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from ledger import Ledger
from ledger.cli import cli
from rules import registry
from tests.conftest import ROOT, VECTORS
from tests.support.cli import ok, run
from tests.support.tampering import tamper

SAMPLE = ROOT / "examples" / "sample-history.jsonl"


@pytest.fixture
def db(db_url) -> str:
    code, out, _ = run(db_url, "init")
    assert code == 0 and "head" in out
    return db_url


def test_init_ingest_and_balances_json_match_the_contract_example(db, tmp_path):
    """After ``init`` and ``ingest`` of the contract example, ``balances`` in JSON gives the contract's figures for alice.
    The perpetual fields stand beside them: cross margin, no funding paid, no liquidation price while no rules are in force."""
    contract = tmp_path / "contract.jsonl"
    contract.write_text("\n".join([
        '{"type": "market_listed", "id": "m-btc", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"}',
        '{"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "alice", "asset": "USD", "amount": "1000"}',
        '{"type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.5", "price": "60000", "fee": "3"}',
        '{"type": "mark", "id": "k-1", "at": "2024-08-05T00:03:00Z", "market": "BTC-PERP", "price": "58900"}',
    ]) + "\n")
    code, out, _ = run(db, "ingest", str(contract))
    assert code == 0 and "4 appended" in out
    code, out, _ = run(db, "balances", "--format", "json")
    report = json.loads(out)
    alice = report["accounts"]["alice"]
    assert Decimal(alice["cash"]["USD"]) == 997 and Decimal(alice["equity"]) == 447
    position = alice["positions"]["BTC-PERP"]
    assert {k: Decimal(position[k]) for k in ("size", "entry_price", "mark_price", "unrealized_pnl", "realized_pnl")} == {
        "size": Decimal("0.5"), "entry_price": 60000, "mark_price": 58900, "unrealized_pnl": -550, "realized_pnl": 0}
    # the perpetual account model's fields, added beside them (no rules in force: no liquidation price)
    assert position["margin_mode"] == "cross" and Decimal(position["funding_paid"]) == 0
    assert position["liquidation_price"] is None and "isolated_margin" not in position
    assert Decimal(alice["cross_equity"]) == 447
    assert Decimal(report["system"]["insurance_fund"]["USD"]) == 0 and report["system"]["funding"] == {}
    assert report["as_of"].startswith("2024-08-05T00:03:00")


def test_balances_as_of_a_time_and_for_one_account_in_csv(db):
    """``balances`` as of a time for one account prints, in CSV, that account's cash as it stood then, in statement shape."""
    ok(db, "ingest", str(SAMPLE))
    _code, out, _ = run(db, "balances", "--as-of", "2024-08-05T00:01:03Z", "--account", "carol", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    carol = [r for r in rows if not r["account"].startswith("system:")]
    assert [(r["account"], r["asset"], r["balance"]) for r in carol] == [("carol", "USD", "2000")]  # the statement's shape


def test_a_balances_csv_reconciles_back_as_it_is_cash_and_positions(db, tmp_path):
    """Issue 12: the ledger's own CSV is a statement the reconcile takes, for cash and for positions."""
    ok(db, "ingest", str(SAMPLE))
    for extra, name in (([], "cash.csv"), (["--positions"], "positions.csv")):
        code, out, _ = run(db, "balances", "--format", "csv", *extra)
        statement = tmp_path / name
        statement.write_text(out if not extra else "\n".join(
            ",".join(row[:3]) for row in csv.reader(io.StringIO(out))) + "\n")
        code, out, err = run(db, "reconcile", str(statement), "--include-system", "--format", "json")
        assert code == 0 and json.loads(out)["breaks"] == [], err
    positions = list(csv.DictReader(io.StringIO(run(db, "balances", "--positions", "--format", "csv")[1])))
    assert positions and set(positions[0]) >= {"account", "market", "size", "entry_price", "liquidation_price"}
    statement.write_text("account,market,size\nalice,BTC-PERP,0.001\n")
    code, out, _ = run(db, "reconcile", str(statement), "--format", "json")
    assert code == 1 and any(b["account"] == "alice" and b["kind"] == "difference" for b in json.loads(out)["breaks"])


def test_balances_table_is_printed(db):
    """``balances`` prints a table by default, naming the accounts and the insurance fund."""
    ok(db, "ingest", str(SAMPLE))
    code, out, _ = run(db, "balances")
    assert code == 0 and "insurance_fund" in out and "alice" in out


def test_liquidations_json_has_the_contract_fields_oldest_first(db):
    """``liquidations`` in JSON has the contract's fields, oldest first, and lists nothing for an unknown account."""
    ok(db, "ingest", str(VECTORS / "partial-spills-to-second-position.jsonl"))
    _, out, _ = run(db, "liquidations", "--format", "json")
    records = json.loads(out)
    assert [(r["market"], r["qty"], r["trigger"], r["rule_version"]) for r in records] == [
        ("BTC-PERP", "0.5", "k2", "partial-v1"), ("ETH-PERP", "1.50", "k2", "partial-v1")]
    assert {"id", "account", "market", "side", "qty", "price", "penalty", "rule_version", "trigger"} <= set(records[0])
    _code, out, _ = run(db, "liquidations", "--account", "nobody", "--format", "json")
    assert json.loads(out) == []


def test_rules_list_shows_versions_and_activation_history(db):
    """``rules list`` shows every registered version, the activation history, and the version in force."""
    ok(db, "ingest", str(VECTORS / "full-one-position.jsonl"))
    _code, out, _ = run(db, "rules", "list", "--format", "json")
    report = json.loads(out)
    assert [v["version"] for v in report["versions"]] == registry.names(), "every registered version, by name"
    assert [(a["event_id"], a["version"]) for a in report["activations"]] == [("r1", "full-v1")]
    assert report["in_force"] == "full-v1"


def test_bad_input_exits_2_naming_file_and_line(db, tmp_path):
    """A malformed input line makes ``ingest`` exit 2, naming the file, the line and the reason."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "deposit", "id": "d", "at": "2024-08-05T00:00:00Z", "account": "a", "asset": "USD", "amount": "1e3"}\n')
    code, _, err = run(db, "ingest", str(bad))
    assert code == 2 and f"{bad}:1: amount is not a plain decimal" in err


def test_usage_errors_exit_2(db):
    """A usage error (an unreadable time, an unknown command) exits with status 2."""
    assert run(db, "balances", "--as-of", "not-a-time")[0] == 2
    assert run(db, "no-such-command")[0] == 2


def test_verify_exits_0_then_1_naming_the_first_tampered_event(db):
    """``verify`` exits 0 on an untouched log, and 1 once an event is altered, naming that event and its sequence number."""
    ok(db, "ingest", str(SAMPLE))
    code, out, _ = run(db, "verify")
    assert code == 0 and out.startswith("ok: 51 events")
    with Ledger.open(db) as ledger:
        tamper(ledger.store, "UPDATE events SET payload = replace(payload, '5000', '50000') WHERE event_id = 'd-alice'")
    code, _, err = run(db, "verify")
    assert code == 1 and "event d-alice" in err and "#4" in err


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_is_refused_with_advice(url):
    """Its log would vanish with the process: refused at once, not a driver error halfway through."""
    code, _, err = run(url, "init")
    assert code == 2 and "in-memory SQLite database is not supported" in err and "sqlite:///ledger.db" in err


def _arguments_of_every_command(tmp_path) -> dict[str, list[str]]:
    """Each database command of the CLI with arguments it accepts (the files exist, so only the schema is missing)."""
    history, statement, grid = tmp_path / "h.jsonl", tmp_path / "s.csv", tmp_path / "g.json"
    history.write_text(SAMPLE.read_text())
    statement.write_text("account,asset,balance\nalice,USD,1\n")
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001"]}}))
    return {
        "ingest": [str(history)], "balances": [], "account": ["alice"], "verify": [], "anchor": [], "seal": [], "rotate-key": [str(history)], "rules": ["list"],
        "liquidations": [], "bankruptcies": [], "audit": [], "explain": ["k-1~liq~alice/BTC-PERP"],
        "history": ["alice"], "reconcile": [str(statement)], "whatif": ["--rules", "full-v1"],
        "sweep": ["--rules", "full-v1", "--grid", str(grid), "--workers", "1"], "report": ["--out", str(tmp_path / "r")],
        "export": ["--format", "csv", "--out", str(tmp_path / "e")], "deleverages": [], "grant": ["ledger_app"], "serve": [],
    }


def test_every_command_on_a_database_without_the_schema_exits_2_naming_ledger_init(db_url, tmp_path):
    """Every command that opens the ledger (the CLI's own list: a new command must be added here) answers a database
    without the ledger's schema with exit 2 and ``ledger init``, never a driver error (exit 3) or a crash (exit 4)."""
    if db_url.startswith("sqlite"):
        (tmp_path / "ledger.db").touch()  # a database file without the schema (a missing file is exit 3: test_failures)
    arguments = _arguments_of_every_command(tmp_path)
    assert set(cli.list_commands(click.Context(cli))) - {"init", "keygen"} == set(arguments), "every command that opens the ledger is tried"
    for command, args in arguments.items():
        code, out, err = run(db_url, command, *args)
        assert (code, out) == (2, ""), (command, code, out, err)
        assert "ledger init" in err and "Traceback" not in err, (command, err)


def test_recorded_time_comes_from_the_database_clock_and_business_time_from_the_event(db):
    """Each event's recorded time comes from the database's clock at ingest (an embedded file's is this machine's,
    frozen here; PostgreSQL's is the server's, whatever this process's clock says), its business time from the
    event itself."""
    with freeze_time("2026-03-04 05:06:07"):
        before = _database_time(db)
        ok(db, "ingest", str(VECTORS / "full-one-position.jsonl"))
        after = _database_time(db)
    with Ledger.open(db) as ledger:
        rows = list(ledger.events())
    assert len({r.recorded_at for r in rows}) == 1
    assert before <= rows[0].recorded_at <= after
    if db.startswith("sqlite"):
        assert rows[0].recorded_at == "2026-03-04T05:06:07.000000Z"
    else:
        assert not rows[0].recorded_at.startswith("2026-03-04T05:06"), "not this process's frozen clock"
    assert rows[0].at == "2024-08-05T00:00:00.000000Z"


def _database_time(url: str) -> str:
    """The database's clock as the ledger formats times (this machine's for SQLite)."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from ledger.domain.timefmt import format_time
    from ledger.store.engine import make_engine

    if url.startswith("sqlite"):
        return format_time(datetime.now(UTC))
    engine = make_engine(url)
    with engine.connect() as conn:
        now = conn.execute(text("SELECT clock_timestamp()")).scalar()
    engine.dispose()
    return format_time(now.astimezone(UTC))


def test_python_dash_m_ledger_runs_the_same_command(tmp_path):
    """``python -m ledger`` runs the same command line as ``ledger``."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "ledger", "--db", url, "verify"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("ok: 0 events")


def test_the_database_url_comes_from_LEDGER_DB(tmp_path, monkeypatch):
    """Without ``--db``, the database URL is taken from the ``LEDGER_DB`` environment variable."""
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("LEDGER_DB", url)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0 and "env.db" in result.output
