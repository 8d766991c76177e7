"""Compliance and back-office commands on fixture histories, with exact outputs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.compliance import audit as audit_service
from ledger.domain.fold import apply
from ledger.domain.money import arithmetic, to_str
from ledger.domain.positions import fill
from ledger.domain.state import LedgerState
from ledger.domain.valuation import equity_by_asset
from ledger.replay import load as replay
from ledger.reports.history import account_history
from tests.conftest import ROOT, VECTORS, fixed_clock
from tests.support.builders import deposit, listed, mark, rules, trade
from tests.support.cli import ok, run
from tests.support.tampering import tamper

SAMPLE = ROOT / "examples" / "sample-history.jsonl"
D = Decimal


@pytest.fixture
def sample(ledger) -> Ledger:
    ledger.ingest_file(SAMPLE)
    return ledger


def kinds(report) -> list[tuple[str, str | None]]:
    return [(d.kind, d.event_id) for d in report.discrepancies]


# -- audit -------------------------------------------------------------------

@pytest.mark.parametrize("exhaustive", [False, True])
def test_audit_passes_on_an_honest_log(sample, exhaustive):
    """The audit passes on an honest log, replaying every event, re-deriving every mark and checking every liquidation."""
    report = audit_service.audit(sample.store, exhaustive=exhaustive)
    assert report.ok
    assert (report.events_checked, report.marks_rederived, report.liquidations_checked) == (51, 16, 7)


def test_audit_compares_snapshots_with_the_full_replay(sample):
    """The audit checks the ledger's snapshot and each account's against the full replay, and passes when they agree."""
    assert sample.snapshot()
    report = audit_service.audit(sample.store)
    assert report.ok and report.snapshots_checked == 1 + len(sample.state().accounts)  # the ledger's, and each account's


def test_audit_catches_a_tampered_payload(sample):
    """The audit names an altered payload as a break in the hash chain, and each engine event it no longer explains."""
    tamper(sample.store, "UPDATE events SET payload = replace(payload, '\"5000\"', '\"50000\"') WHERE event_id = 'd-alice'")
    report = audit_service.audit(sample.store)
    # with 50000 deposited alice was never distressed: her recorded liquidations are unexplained
    assert kinds(report) == [
        ("hash_chain", "d-alice"),
        ("unexplained_engine_event", "k-btc-4/liq/alice/BTC-PERP"),
        ("unexplained_engine_event", "k-btc-5/liq/alice/BTC-PERP"),
        ("unexplained_engine_event", "k-btc-5/bankruptcy/alice/USD"),
    ]


def test_audit_catches_a_deleted_row(sample):
    """The audit names a deleted event as a gap in the sequence, at the first event after it."""
    tamper(sample.store, "DELETE FROM events WHERE event_id = 'w-1'")
    report = audit_service.audit(sample.store)
    first = report.discrepancies[0]
    assert (first.kind, first.seq, first.event_id) == ("hash_chain", 23, "k-btc-1")
    assert "sequence jumps from 21 to 23: an event is missing" in first.detail


def test_audit_catches_a_liquidation_whose_quantity_was_altered(sample):
    """The audit names a liquidation whose stored quantity differs from what the rule decides, with both quantities."""
    tamper(sample.store, "UPDATE events SET payload = replace(payload, '\"qty\":\"1.452\"', '\"qty\":\"1.5\"') "
                   "WHERE event_id = 'k-btc-4/liq/alice/BTC-PERP'")
    report = audit_service.audit(sample.store)
    mismatch = next(d for d in report.discrepancies if d.kind == "liquidation_mismatch")
    assert mismatch.event_id == "k-btc-4/liq/alice/BTC-PERP"
    assert "qty stored 1.5, rule decides 1.452" in mismatch.detail


@pytest.mark.parametrize("exhaustive", [False, True])
def test_audit_catches_a_missing_liquidation(sample, exhaustive):
    """The audit names a liquidation the rule decides but the log lacks, exhaustive or not."""
    tamper(sample.store, "DELETE FROM events WHERE event_id = 'k-btc-3/liq/dave/BTC-PERP'")
    report = audit_service.audit(sample.store, exhaustive=exhaustive)
    assert ("missed_liquidation", "k-btc-3/liq/dave/BTC-PERP") in kinds(report)


def test_audit_re_derives_even_when_the_chain_is_intact(ledger):
    """A writer that bypassed the engine: the chain is valid, the audit still fails."""
    ledger.append([listed("BTC-PERP"), listed("ETH-PERP", "0.01"), rules(), deposit("alice", "1000"),
                   trade("alice", "buy", "0.5", "60000")])
    ledger.store.append([mark("58200", t=3, id="k-bypass")], "2026-01-01T00:00:00.000000Z")
    report = audit_service.audit(ledger.store)
    assert ledger.verify().ok
    assert kinds(report) == [("missed_liquidation", "k-bypass/liq/alice/BTC-PERP")]


def test_audit_flags_a_stale_projection(sample):
    """The audit flags a stored snapshot that claims the head but holds an earlier state, and nothing else."""
    head, head_hash = sample.store.head()
    bogus = replay.state_at(sample.store, head - 1)
    from ledger.domain.snapshot import SNAPSHOT_FORMAT, dump_state

    sample.store.snapshots.save([(replay.LEDGER_SCOPE, dump_state(bogus).replace(f'"seq":{head - 1}', f'"seq":{head}'))], head, head_hash, SNAPSHOT_FORMAT)
    report = audit_service.audit(sample.store)
    assert [d.kind for d in report.discrepancies] == ["projection"]


def test_audit_flags_a_replay_fast_path_that_drifts_from_the_reference_fold(sample, monkeypatch):
    """The fast path every balance query uses is proven against the reference fold on the real log."""
    from ledger.replay import fast_fold as bulk_fold

    def off_by_a_cent(size, entry, side, qty, price):
        size, entry, realized = fill(size, entry, side, qty, price)
        return size, entry + Decimal("0.01"), realized

    assert audit_service.audit(sample.store).ok
    monkeypatch.setattr(bulk_fold, "fill", off_by_a_cent)
    report = audit_service.audit(sample.store)
    assert [(d.kind, d.detail) for d in report.discrepancies] == [
        ("projection", "the replay fast path differs from the reference fold")
    ]


def test_audit_cli_exits_1_with_the_discrepancies_in_json(sample):
    """``audit`` exits 1 on a failed audit and lists the discrepancies in JSON, each with its kind, sequence number and event."""
    tamper(sample.store, "DELETE FROM events WHERE event_id = 'k-btc-3/liq/dave/BTC-PERP'")
    code, out, _ = run(sample.store.engine.url.render_as_string(hide_password=False), "audit", "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert {"kind": "missed_liquidation", "seq": 30, "event_id": "k-btc-3/liq/dave/BTC-PERP"}.items() <= {
        **next(d for d in report["discrepancies"] if d["kind"] == "missed_liquidation")}.items()


def test_audit_cli_exits_0_on_an_honest_log(sample):
    """``audit`` exits 0 on an honest log and says how many events it replayed."""
    code, out, _ = run(sample.store.engine.url.render_as_string(hide_password=False), "audit")
    assert code == 0 and out.startswith("OK: 51 events replayed")


# -- explain -----------------------------------------------------------------

def test_explain_fills_in_the_formula(sqlite_url):
    """``explain`` shows a liquidation's trigger, margins and formula with its figures filled in, the lot rounding and the after.
    The text rounds figures at their scales; the JSON gives every figure exact."""
    ok(sqlite_url, "init")
    ok(sqlite_url, "ingest", str(VECTORS / "partial-one-position.jsonl"))
    code, out, _ = run(sqlite_url, "explain", "k1/liq/alice/BTC-PERP")
    assert code == 0
    # text: money at USD's 2 places, quantities at the lot's 3, params as JSON, long formula figures shortened (≈)
    assert "Triggered by mark k1 (#6): BTC-PERP at 58,200.00." in out
    assert "equity E = 100.00, maintenance MM = 145.50, target (1+b)·MM = 181.88" in out
    assert "size 0.500 entry 60,000.00 mark 58,200.00 unrealized -900.00" in out
    assert "= ((1+0.25)·145.5000 − 100.0) / (58200·((1+0.25)·0.005 − 0.002)) = ≈0.33100869," in out
    assert "rounded up to the lot 0.001" in out and "After: E = 61.36, MM = 48.89, target = 61.11" in out
    params = json.loads(out.split(", params ", 1)[1].split(".\n", 1)[0])
    assert params["liquidation_fee_rate"] == "0.002" and params["target_buffer"] == "0.25"
    code, out, _ = run(sqlite_url, "explain", "k1/liq/alice/BTC-PERP", "--format", "json")
    info = json.loads(out)  # JSON: every figure exact
    assert info["formula"]["result"].startswith("= 0.3310086921366484738225186982")
    assert info["after"] == {"equity": "61.355200", "maintenance_margin": "48.888000", "target": "61.11000000"}
    assert info["rule"]["version"] == "partial-v1" and info["trigger"]["price"] == "58200"
    assert info["account_before"]["positions"] == [
        {"market": "BTC-PERP", "size": "0.5", "entry_price": "60000", "mark": "58200", "unrealized_pnl": "-900.0"}]


def test_explain_refuses_what_is_not_an_engine_event(sqlite_url):
    """``explain`` refuses with exit 2 an event that is not an engine decision, and an id that names no event."""
    ok(sqlite_url, "init")
    ok(sqlite_url, "ingest", str(VECTORS / "partial-one-position.jsonl"))
    code, _, err = run(sqlite_url, "explain", "t1")
    assert code == 2 and "event t1: a trade is not an engine decision" in err
    code, _, err = run(sqlite_url, "explain", "nope")
    assert code == 2 and "event nope: no such event" in err


def test_explain_a_bankruptcy(sample):
    """``explain`` of a bankruptcy states the deficit, what the insurance fund had and covered, and the loss socialized."""
    _code, out, _ = run(sample.store.engine.url.render_as_string(hide_password=False), "explain", "k-btc-3/bankruptcy/dave/USD")
    assert "Bankruptcy: deficit 353.00; insurance fund had 0.00, covered 0.00; socialized loss 353.00." in out


# -- history -----------------------------------------------------------------

def test_history_runs_cash_positions_and_equity(sample):
    """An account's history gives its cash, positions and equity after each event that touches it, to its bankruptcy."""
    rows = account_history(sample.store, "bob")
    assert [(r["seq"], r["type"], r["cash"], r["positions"], r["equity"]) for r in rows] == [
        (5, "deposit", {"USD": "3000"}, {}, "3000"),
        (12, "trade", {"USD": "2988"}, {"ETH-PERP": "-20"}, "2988"),
        (24, "mark", {"USD": "2988"}, {"ETH-PERP": "-20"}, "2988"),
        (26, "mark", {"USD": "2988"}, {"ETH-PERP": "-20"}, "2788"),
        (30, "mark", {"USD": "2988"}, {"ETH-PERP": "-20"}, "2188"),
        (33, "mark", {"USD": "2988"}, {"ETH-PERP": "-20"}, "988"),
        (39, "mark", {"USD": "2988"}, {"ETH-PERP": "-20"}, "-12"),
        (40, "liquidation", {"USD": "-12"}, {}, "-12"),
        (41, "bankruptcy", {"USD": "0"}, {}, "0"),
    ]
    assert all(r["equity_by_asset"] == {"USD": r["equity"]} for r in rows)


def test_history_window_by_business_time(sample):
    """History within a window of business time holds only the rows whose events fall inside it."""
    rows = account_history(sample.store, "bob", start=datetime(2024, 8, 5, 0, 8, tzinfo=UTC),
                           end=datetime(2024, 8, 5, 0, 9, 59, tzinfo=UTC))
    assert [r["seq"] for r in rows] == [30, 33]


def test_history_known_at_answers_what_the_ledger_knew_then(sqlite_url, tmp_path):
    """History known at a moment leaves out events recorded after it, whatever their business time."""
    times = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)])
    with Ledger.open(sqlite_url, clock=lambda: next(times)) as ledger:
        ledger.init()
        ledger.append([listed(), deposit("alice", "100", t=1)])
        ledger.append([deposit("alice", "5", t=0.5 + 1, id="late")])
        knew = account_history(ledger.store, "alice", known_at=datetime(2026, 1, 1, 12, tzinfo=UTC))
        now = account_history(ledger.store, "alice")
    assert [r["cash"] for r in knew] == [{"USD": "100"}]
    assert [r["cash"] for r in now] == [{"USD": "100"}, {"USD": "105"}]


def whole_ledger_history(store, account):
    """The oracle: (seq, cash, positions, equity) after each row that touches ``account``, folding every event."""
    state, out = LedgerState(), []
    for row in store.read():
        event = row.event()
        held = state.accounts.get(account) and state.accounts[account].positions.get(getattr(event, "market", None))
        touches = getattr(event, "account", None) == account or (event.TYPE == "mark" and held and held.size != 0)
        apply(state, event, row.seq)
        if touches:
            acct = state.account(account)
            with arithmetic():
                equities = equity_by_asset(state, acct)
            out.append((row.seq, {a: to_str(v) for a, v in sorted(acct.cash.items())},
                        {m: to_str(p.size) for m, p in sorted(acct.positions.items()) if p.size != 0},
                        {a: to_str(v) for a, v in equities.items()}))
    return out


@pytest.mark.parametrize("name", ["sample", *sorted(p.name[: -len(".jsonl")] for p in VECTORS.glob("*.jsonl"))])
def test_history_equals_folding_the_whole_ledger_for_every_account(ledger, name):
    """History replays a narrow state (the account, its markets); every row must be what the whole ledger says."""
    ledger.ingest_file(SAMPLE if name == "sample" else VECTORS / f"{name}.jsonl")
    accounts = sorted(ledger.state().accounts)
    assert accounts
    for account in accounts:
        rows = account_history(ledger.store, account)
        assert [(r["seq"], r["cash"], r["positions"], r["equity_by_asset"]) for r in rows] == whole_ledger_history(
            ledger.store, account)


def test_history_values_a_position_at_other_accounts_trades_before_the_first_mark(ledger):
    """Before a market's first mark, equity uses its last trade price, whoever traded."""
    ledger.append([listed(), deposit("alice", "1000", t=1), deposit("bob", "1000", t=1), deposit("carol", "1000", t=1),
                   trade("alice", "buy", "1", "60000", t=2, id="t1"), trade("bob", "sell", "1", "60000", t=2, id="t2"),
                   trade("bob", "buy", "0.5", "60100", t=3, id="t3"), trade("carol", "sell", "0.5", "60100", t=3, id="t4"),
                   deposit("alice", "1", t=4, id="later")])
    rows = account_history(ledger.store, "alice")
    assert [(r["id"], r["equity"]) for r in rows] == [("d-alice-1", "1000"), ("t1", "1000"), ("later", "1101")]


def test_history_cli_csv(sample):
    """``history`` in CSV lists an account's rows in order, from its deposit to its liquidation and bankruptcy."""
    code, out, _ = run(sample.store.engine.url.render_as_string(hide_password=False), "history", "dave", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["type"] for r in rows] == ["deposit", "trade", "mark", "mark", "mark", "liquidation", "bankruptcy"]


def test_history_keeps_every_figure_apart_from_its_asset_in_csv_and_json(sqlite_url):
    """#26: ``history`` in CSV and JSON never writes ``USD 6912.52`` in one cell: JSON maps each asset (or market) to
    its figure, as ``balances`` does; CSV names the asset or market in the column (``cash_USD``,
    ``isolated_margin_BTC-PERP``), each cell a bare decimal; only the table, for people, writes them together."""
    from tests.support.builders import isolated_margin, margin_mode

    ok(sqlite_url, "init")
    with Ledger.open(sqlite_url) as ledger:
        ledger.append([listed(), listed("ETH-PERP", lot="0.01"), listed("BTC-INV", settle="BTC"), deposit("amy", "6912.52"),
                       deposit("amy", "2", asset="BTC", id="d-btc"),
                       margin_mode("amy", market="ETH-PERP"), isolated_margin("amy", "100", market="ETH-PERP"),
                       trade("amy", "buy", "0.5", "60000", fee="3"), trade("bob", "sell", "0.5", "60000")])
    rows = json.loads(ok(sqlite_url, "history", "amy", "--format", "json"))
    last = rows[-1]
    assert last["cash"] == {"BTC": "2", "USD": "6809.52"} and last["positions"] == {"BTC-PERP": "0.5"}
    assert last["isolated_margin"] == {"ETH-PERP": "100"} and last["equity"] is None, "two settle assets: no one figure"
    assert last["equity_by_asset"] == {"BTC": "2", "USD": "6909.52"}
    assert rows[0]["equity"] == "6912.52" and rows[0]["cash"] == {"USD": "6912.52"}
    table = list(csv.DictReader(io.StringIO(ok(sqlite_url, "history", "amy", "--format", "csv"))))
    assert list(table[0]) == ["seq", "at", "type", "id", "what", "cash_BTC", "cash_USD", "isolated_margin_ETH-PERP",
                              "position_BTC-PERP", "equity_BTC", "equity_USD"]
    assert (table[0]["cash_USD"], table[0]["cash_BTC"], table[0]["position_BTC-PERP"]) == ("6912.52", "", "")
    assert (table[-1]["cash_USD"], table[-1]["isolated_margin_ETH-PERP"], table[-1]["equity_USD"]) == ("6809.52", "100",
                                                                                                       "6909.52")
    money = [c for row in table for k, c in row.items() if k.startswith(("cash_", "isolated_", "position_", "equity_"))]
    assert money and all(c == "" or Decimal(c) == Decimal(c) for c in money), "every figure cell is a bare decimal"
    assert "USD 6,912.52" in ok(sqlite_url, "history", "amy"), "the table keeps them readable"


def test_history_of_an_unknown_account_is_a_usage_error(sample):
    """``history`` of an account the ledger does not know exits 2, saying there is no such account."""
    code, _, err = run(sample.store.engine.url.render_as_string(hide_password=False), "history", "nobody")
    assert code == 2 and "account nobody: no such account" in err


# -- reconcile ---------------------------------------------------------------

def statement(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "statement.csv"
    path.write_text("account,asset,balance\n" + body)
    return path


def test_reconcile_with_no_breaks_exits_0(sample, tmp_path):
    """A statement that agrees with the ledger on every line reconciles with no breaks and exit 0."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    body = "alice,USD,1000\nbob,USD,0\ncarol,USD,0\ndave,USD,0\nerin,USD,18497.6\nmm-desk,USD,1000037.1\n"
    code, out, _ = run(url, "reconcile", str(statement(tmp_path, body)))
    assert code == 0 and "no breaks: 6 statement lines agree" in out


def test_reconcile_lists_every_kind_of_break_and_exits_1(sample, tmp_path):
    """``reconcile`` lists every break (a difference beyond tolerance, an account missing on either side) and exits 1.
    A difference gives both balances, the difference and the statement line; one within the tolerance is no break."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    body = "alice,USD,1000.004\nerin,USD,18400\nzoe,USD,10\nsystem:insurance_fund,USD,104.8\n"
    path = statement(tmp_path, body)
    code, out, _ = run(url, "reconcile", str(path), "--tolerance", "0.01", "--include-system", "--format", "json")
    breaks = {(b["kind"], b["account"]): b for b in json.loads(out)["breaks"]}
    assert code == 1
    assert set(breaks) == {("difference", "erin"), ("missing_in_ledger", "zoe"), ("missing_in_statement", "mm-desk"),
                           ("missing_in_statement", "system:external"), ("missing_in_statement", "system:fees"),
                           ("missing_in_statement", "system:clearing"), ("missing_in_statement", "system:liquidation"),
                           ("missing_in_statement", "system:socialized_loss")}
    assert breaks[("difference", "erin")] == {"kind": "difference", "account": "erin", "asset": "USD", "ledger": "18497.6",
                                              "statement": "18400", "difference": "97.6", "where": f"{path}:3"}


def test_reconcile_as_of_a_time(sample, tmp_path):
    """``reconcile --as-of`` compares the statement with the balances as they stood then, accounts missing from it included."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    path = statement(tmp_path, "alice,USD,5000\nbob,USD,3000\n")
    code, out, _ = run(url, "reconcile", str(path), "--as-of", "2024-08-05T00:01:01Z", "--format", "json")
    breaks = json.loads(out)["breaks"]
    assert code == 0 and breaks == []
    path = statement(tmp_path, "alice,USD,5000\n")
    code, out, _ = run(url, "reconcile", str(path), "--as-of", "2024-08-05T00:01:01Z", "--format", "json")
    assert code == 1 and [(b["kind"], b["account"]) for b in json.loads(out)["breaks"]] == [("missing_in_statement", "bob")]


@pytest.mark.parametrize(("body", "message"), [
    ("alice,USD,1e3\n", "statement.csv:2: balance is not a plain decimal"),
    ("alice,USD\n", "statement.csv:2: expected 3 columns"),
    ("alice,USD,1\nalice,USD,2\n", "statement.csv:3: alice USD is listed twice"),
])
def test_a_malformed_statement_exits_2_naming_the_line(sample, tmp_path, body, message):
    """A malformed statement (a bad figure, a wrong column count, an account listed twice) exits 2 naming the line."""
    code, _, err = run(sample.store.engine.url.render_as_string(hide_password=False), "reconcile",
                       str(statement(tmp_path, body)))
    assert code == 2 and message in err


# -- whatif ------------------------------------------------------------------

def test_whatif_compares_without_writing(sample):
    """``whatif`` compares the recorded outcome with an alternative rule's, figure by figure, and writes nothing to the log."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    before = sample.head_seq()
    code, out, _ = run(url, "whatif", "--rules", "full-v1", "--format", "json")
    data = json.loads(out)
    usd = {metric: {k: D(v) for k, v in values.items()} for metric, values in data["summary"]["USD"].items()}
    assert code == 0 and sample.head_seq() == before
    assert data["actual_versions"] == ["partial-v1"] and data["alternative_version"] == "full-v1"
    assert (usd["liquidations"]["actual"], usd["liquidations"]["alternative"]) == (7, 5)
    assert (usd["penalties"]["actual"], usd["penalties"]["alternative"]) == (D("248.9568"), D("262.8"))
    assert (usd["bankruptcies"]["actual"], usd["bankruptcies"]["alternative"]) == (4, 2)
    assert (usd["insurance_fund_end"]["actual"], usd["insurance_fund_end"]["alternative"]) == (D("104.8"), D("250.8"))
    carol = next(a for a in data["accounts"] if a["account"] == "carol")
    assert (D(carol["equity_actual"].split()[1]), D(carol["equity_alternative"].split()[1])) == (0, 18)


@pytest.mark.parametrize(("version", "params"), [("full-v1", None), ("partial-v1", {
    "liquidation_fee_rate": "0.004", "target_buffer": "0.1", "markets": {
        "BTC-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
        "ETH-PERP": {"maintenance_margin_rate": "0.02", "initial_margin_rate": "0.04"}}})])
def test_whatif_through_the_index_equals_a_full_scan(sqlite_ledger, crash_history, version, params):
    """A ``whatif`` read through the liquidation index gives exactly what a full scan of the log gives."""
    from ledger.compliance.whatif import whatif

    sqlite_ledger.ingest_file(crash_history)
    fast = whatif(sqlite_ledger.store, version, params).to_json()
    slow = whatif(sqlite_ledger.store, version, params, indexed=False).to_json()
    assert fast == slow and D(fast["summary"]["USD"]["liquidations"]["alternative"]) > 0


def test_whatif_with_the_same_rule_changes_nothing(sample):
    """A ``whatif`` with the rule already in force shows no difference in any figure."""
    from ledger.compliance.whatif import whatif

    data = whatif(sample.store, "partial-v1").to_json()
    assert all(D(v["difference"]) == 0 for v in data["summary"]["USD"].values())


def test_whatif_with_params_and_a_window(sample, tmp_path):
    """``whatif`` takes parameters from a file and a time window, and neither side counts what falls before the window."""
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"liquidation_fee_rate": "0.002", "target_buffer": "2", "markets": {
        "BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
        "ETH-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"}}}))
    url = sample.store.engine.url.render_as_string(hide_password=False)
    code, out, _ = run(url, "whatif", "--rules", "partial-v1", "--params", str(params),
                       "--from", "2024-08-05T00:09:00Z", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["window"]["from"] == "2024-08-05T00:09:00.000000Z"
    # dave's bankruptcy at 00:08 is before the window: neither side counts it
    assert D(data["summary"]["USD"]["liquidations"]["actual"]) == 6


def test_whatif_refuses_unknown_versions_and_bad_params(sample, tmp_path):
    """``whatif`` refuses an unknown rule version, and parameters off the contract (a JSON number), with exit 2."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    code, _, err = run(url, "whatif", "--rules", "partial-v9")
    assert code == 2 and "unknown rule version 'partial-v9'" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"liquidation_fee_rate": 0.002}')
    code, _, err = run(url, "whatif", "--rules", "full-v1", "--params", str(bad))
    assert code == 2 and f"{bad}: JSON number 0.002" in err



def test_whatif_compare_and_sweep_refuse_params_without_rates_for_a_listed_market(sample, tmp_path):
    """A candidate's params must give margin rates for every market the history lists, as an activation's must: a
    what-if, a comparison and a sweep refuse one that lacks a market with exit 2 naming the file and the market (it
    was an internal error, exit 4, at the first fill the world could not value)."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    only_btc = tmp_path / "only-btc.json"
    only_btc.write_text('{"liquidation_fee_rate": "0.002", "markets": {"BTC-PERP": '
                        '{"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}}')
    code, _, err = run(url, "whatif", "--rules", "full-v1", "--params", str(only_btc))
    assert code == 2 and f"{only_btc}: full-v1: params.markets has no margin rates for listed market(s): ETH-PERP" in err
    full_v1 = ROOT / "examples" / "params" / "full-v1.json"
    code, _, err = run(url, "whatif", "--rules", "full-v1", "--params", str(full_v1), "--rules", "full-v1",
                       "--params", str(only_btc))
    assert code == 2 and f"{only_btc}: full-v1: params.markets has no margin rates" in err
    grid = tmp_path / "grid.json"
    grid.write_text('{"params": ' + only_btc.read_text() + ', "grid": {"liquidation_fee_rate": ["0.001", "0.002"]}}')
    code, _, err = run(url, "sweep", "--rules", "full-v1", "--grid", str(grid))
    assert code == 2 and "candidate full-v1 liquidation_fee_rate=0.001: full-v1: params.markets has no margin" in err
    assert run(url, "whatif", "--rules", "full-v1")[0] == 0  # the params in force cover every market


# -- report and export -------------------------------------------------------

def test_report_writes_html_with_charts(sample, tmp_path):
    """``report`` writes an HTML page with its summary, a chart per distressed account and a what-if chart, all valid PNGs."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    code, _out, _ = run(url, "report", "--out", str(tmp_path / "r"), "--whatif", "full-v1")
    page = (tmp_path / "r" / "index.html").read_text()
    assert code == 0 and "7 liquidations, 4 bankruptcies, 4 distressed accounts" in page
    assert page.count("<img") == 5 and "What-if" in page
    pngs = sorted(p.name for p in (tmp_path / "r").glob("*.png"))
    assert pngs == ["account-0.png", "account-1.png", "account-2.png", "account-3.png", "whatif.png"]
    assert all((tmp_path / "r" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_a_name_matplotlib_would_read_as_markup_is_charted_as_text(ledger, tmp_path):
    """#27 point 17: an account named ``$\\undefinedmacro$`` that is liquidated used to make every `ledger report`
    exit 4 (matplotlib parsed it as mathematical notation); it is drawn as plain text and escaped in the page."""
    name = "$\\undefinedmacro$"
    ledger.append([listed(), listed("ETH-PERP", lot="0.01"), rules("full-v1", buffer=None), deposit(name, "100", t=1),
                   deposit("mm", "100000", t=1), trade(name, "buy", "1", "1000", t=2),
                   trade("mm", "sell", "1", "1000", t=2), mark("900", t=3)])
    assert [e.account for _, e in ledger.liquidations()] == [name]
    url = ledger.store.engine.url.render_as_string(hide_password=False)
    code, _, err = run(url, "report", "--out", str(tmp_path / "r"))
    assert code == 0, err
    page = (tmp_path / "r" / "index.html").read_text()
    assert f"<h3>{name}</h3>" in page and (tmp_path / "r" / "account-0.png").stat().st_size > 1000


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_events_and_balances(sample, tmp_path, fmt):
    """``export`` writes every event and the balances, in CSV or Parquet, the balances in the reconcile statement's shape."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    code, _out, _ = run(url, "export", "--format", fmt, "--out", str(tmp_path / "x"))
    assert code == 0
    if fmt == "csv":
        events = list(csv.DictReader((tmp_path / "x" / "events.csv").open()))
        balances = list(csv.DictReader((tmp_path / "x" / "balances.csv").open()))
    else:
        import pyarrow.parquet as pq

        events = pq.read_table(tmp_path / "x" / "events.parquet").to_pylist()
        balances = pq.read_table(tmp_path / "x" / "balances.parquet").to_pylist()
    assert len(events) == 51 and events[3]["event_id"] == "d-alice" and Decimal(events[3]["amount"]) == 5000
    assert [Decimal(b["balance"]) for b in balances if b["account"] == "erin" and b["asset"] == "USD"] == [Decimal("18497.6")]
    assert set(balances[0]) == {"account", "asset", "balance"}, "the reconcile statement's shape"


# -- the main job --------------------------------------------------------------

def test_the_crash_history_is_deterministic_and_partial_beats_full_on_it(tmp_path, sqlite_url):
    """The crash history is deterministic, and on it partial-v1 closes less notional for lower penalties than full-v1."""
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in paths:
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_crash_history.py"), str(path)], check=True)
    assert hashlib.sha256(paths[0].read_bytes()).digest() == hashlib.sha256(paths[1].read_bytes()).digest()
    with Ledger.open(sqlite_url, clock=fixed_clock) as ledger:
        ledger.init()
        ledger.ingest_file(paths[0])
        reasons = {e.reason.split(":")[0] for _, e in ledger.liquidations()}
        from ledger.compliance.whatif import whatif

        usd = whatif(ledger.store, "full-v1").to_json()["summary"]["USD"]
        assert audit_service.audit(ledger.store).ok
    assert "partial" in reasons
    assert D(usd["notional_liquidated"]["actual"]) < D(usd["notional_liquidated"]["alternative"])
    assert D(usd["penalties"]["actual"]) < D(usd["penalties"]["alternative"])


def test_export_as_of_cuts_the_events_and_replays_the_balances_then(sample, tmp_path):
    """``export --as-of`` exports only the events up to that time, and the balances as they stood then."""
    url = sample.store.engine.url.render_as_string(hide_password=False)
    cut = "2024-08-05T00:01:03Z"
    code, _out, _ = run(url, "export", "--format", "csv", "--out", str(tmp_path / "x"), "--as-of", cut)
    assert code == 0
    events = list(csv.DictReader((tmp_path / "x" / "events.csv").open()))
    assert events and all(e["at"] <= "2024-08-05T00:01:03.000000Z" for e in events)
    balances = {(b["account"], b["asset"]): b["balance"] for b in csv.DictReader((tmp_path / "x" / "balances.csv").open())}
    then = json.loads(run(url, "balances", "--as-of", cut, "--format", "json")[1])
    assert {(name, asset): amount for name, acct in then["accounts"].items() for asset, amount in acct["cash"].items()} \
        == {k: v for k, v in balances.items() if not k[0].startswith("system:") and "@" not in k[0]}


def test_parquet_export_types_figures_as_decimals_and_times_as_utc_timestamps(sample, tmp_path):
    """Parquet export types figures as decimal128(38, 18) and times as UTC timestamps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    url = sample.store.engine.url.render_as_string(hide_password=False)
    assert run(url, "export", "--format", "parquet", "--out", str(tmp_path / "x"))[0] == 0
    events = pq.read_table(tmp_path / "x" / "events.parquet")
    assert events.schema.field("amount").type == pa.decimal128(38, 18)
    assert events.schema.field("at").type == pa.timestamp("us", tz="UTC")
    rows = events.to_pylist()
    assert rows[3]["amount"] == Decimal("5000") and rows[3]["at"].tzinfo is not None
    balances = pq.read_table(tmp_path / "x" / "balances.parquet")
    assert balances.schema.field("balance").type == pa.decimal128(38, 18)
    erin = [r["balance"] for r in balances.to_pylist() if r["account"] == "erin"]
    assert erin == [Decimal("18497.6")]
    positions = pq.read_table(tmp_path / "x" / "positions.parquet")
    assert positions.schema.field("size").type == pa.decimal128(38, 18)


def test_a_figure_parquet_cannot_hold_exactly_is_refused_naming_it_never_rounded(tmp_path):
    """A figure decimal128(38, 18) cannot hold exactly fails a Parquet export with exit 2, never rounded; CSV still exports it."""
    from tests.support.builders import funding, mark

    url = f"sqlite:///{tmp_path / 'wide.db'}"
    with Ledger.open(url, clock=fixed_clock) as ledger:
        ledger.init()
        ledger.append([listed(lot="0.000000000000000001"), deposit("alice", "1000", t=1), deposit("bob", "1000", t=1),
                       trade("alice", "buy", "0.123456789012345678", "1.123456789012345678", t=2),
                       trade("bob", "sell", "0.123456789012345678", "1.123456789012345678", t=2),
                       mark("1.123456789012345678", t=2.5), funding("0.000123456789012345", t=3)])
    code, _, err = run(url, "export", "--format", "parquet", "--out", str(tmp_path / "x"))
    assert code == 2 and "does not fit decimal128(38, 18) exactly: export it as CSV" in err and "alice" in err
    assert run(url, "export", "--format", "csv", "--out", str(tmp_path / "y"))[0] == 0


def test_the_audit_re_decides_a_mark_on_a_copy_made_only_when_it_decides(sample, monkeypatch):
    """``after_event(..., on_copy=True)``, as the audit calls it at every mark: the real state is left as it was, the
    events equal those decided on a full copy, and a copy is made only at a mark that decides something (the whole
    state was copied at every mark: O(accounts) per mark)."""
    from ledger.domain.snapshot import dump_state
    from ledger.engine import liquidation

    rows = list(sample.store.read())
    deciding = {r.event().trigger for r in rows if r.type in ("liquidation", "bankruptcy")}  # type: ignore[attr-defined]
    copies = []
    real_clone = liquidation.clone
    monkeypatch.setattr(liquidation, "clone", lambda state: (copies.append(state.seq), real_clone(state))[1])
    state, checked = LedgerState(), 0
    for row in rows:
        event = row.event()
        apply(state, event, row.seq)
        if row.type not in ("mark", "funding"):
            continue
        before, copies[:] = dump_state(state), []
        made = liquidation.after_event(state, event, on_copy=True)
        assert dump_state(state) == before, f"{row.event_id}: the audit's state was changed"
        assert made == liquidation.after_event(real_clone(state), event), row.event_id
        assert bool(copies) == bool(made) == (event.id in deciding), row.event_id
        checked += 1
    assert checked and deciding, "the sample holds marks, and marks that decide"
