"""One account replayed from its own stream equals the full replay, and costs only its recent events.

Account snapshots are forced often here (every 3 events of a stream) so that
replays start from them: at every sequence number of the worked examples, on
both backends, each account's figures equal those of the whole-log replay.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Ledger
from ledger.compliance import audit as audit_service
from ledger.domain.codec import decode_line
from ledger.domain.snapshot import ACCOUNT_SNAPSHOT_FORMAT, dump_account
from ledger.replay import account as account_replay
from ledger.reports import balances as reports
from tests.conftest import VECTORS
from tests.support.builders import deposit, listed, mark, rules, trade
from tests.support.cli import run
from tests.support.histories import ACCOUNTS, activations, header, policies, steps, to_event
from tests.support.values import own_figures

VECTOR_NAMES = sorted(p.name[: -len(".jsonl")] for p in VECTORS.glob("*.jsonl"))


@pytest.fixture(autouse=True)
def frequent_account_snapshots(monkeypatch):
    monkeypatch.setattr(account_replay, "ACCOUNT_SNAPSHOT_EVERY", 3)


def figures(state, account):
    """The account's own figures (``own_figures``: without the ADL quantile, which ranks it against every holder)."""
    return own_figures(reports.balances(state, account)["accounts"].get(account))


def assert_every_point_agrees(ledger: Ledger, accounts) -> None:
    for seq in range(ledger.head_seq() + 1):
        full = ledger.state(seq=seq)
        for account in accounts:
            one = ledger.account(account, seq=seq)
            assert figures(one, account) == figures(full, account), f"{account} as of #{seq}"
            assert one.seq == full.seq and one.last_at == full.last_at


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_one_account_equals_the_full_replay_at_every_point(ledger, name):
    """One account replayed from its own stream has the full replay's figures at every sequence number of each vector."""
    lines = (VECTORS / f"{name}.jsonl").read_text().splitlines()
    for line in lines:  # one append each, so account snapshots land all along the log
        ledger.append([decode_line(line)])
    accounts = sorted(ledger.state().accounts)
    if any(ledger.store.stream_version(f"account:{a}") >= 3 for a in accounts):
        assert ledger.store.snapshots.with_prefix("account:", ACCOUNT_SNAPSHOT_FORMAT), "snapshots were written"
    assert_every_point_agrees(ledger, accounts)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(activation=activations, history=st.lists(steps(), min_size=5, max_size=40), batch=st.integers(1, 7),
       policy=policies)
def test_generated_histories_agree_account_by_account(tmp_path_factory, activation, history, batch, policy):
    """On generated histories, each account replayed alone equals the full replay at every sequence number."""
    url = f"sqlite:///{tmp_path_factory.mktemp('acct') / 'l.db'}"
    with Ledger.open(url) as ledger:
        ledger.init()
        ledger.append(header(activation, policy))
        events = [to_event(step, n) for n, step in enumerate(history)]
        for start in range(0, len(events), batch):
            for event in events[start:start + batch]:
                with contextlib.suppress(InvalidBatch):
                    ledger.append([event])
        assert_every_point_agrees(ledger, ACCOUNTS)


def test_an_account_replay_reads_only_the_events_after_its_snapshot(sqlite_ledger, monkeypatch):
    """An account replay reads only its stream's events after its latest snapshot, and its market's funding and
    auto-deleveragings after it."""
    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), listed("ETH-PERP", "0.01"), rules(), deposit("alice", "100000", t=1)])
    for i in range(10):
        ledger.append([trade("alice", "buy", "0.1", "60000", t=2 + i, id=f"t-{i}"), mark("60000", t=2 + i, id=f"k-{i}")])
    read = []
    original = ledger.store.read_stream

    def counting(stream, **kwargs):
        rows = list(original(stream, **kwargs))
        read.append((stream, kwargs["after_version"], len(rows)))
        return iter(rows)

    monkeypatch.setattr(ledger.store, "read_stream", counting)
    state = ledger.account("alice")
    assert read == [("account:alice", 9, 2), ("funding:BTC-PERP", 0, 0), ("adl:BTC-PERP", 0, 0)], (
        "11 events in alice's stream, snapshot after 9; and her market's funding and ADL streams after it (none)")
    assert figures(state, "alice") == figures(ledger.state(), "alice")


def test_a_market_without_marks_is_valued_at_its_last_trade_through_the_whole_log(sqlite_ledger):
    """A market without marks values an account's position at its last trade by any account, in the one-account replay too."""
    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), deposit("alice", "1000", t=1), deposit("bob", "1000", t=1),
                   trade("alice", "buy", "0.01", "60000", t=2), trade("bob", "sell", "0.01", "61000", t=3)])
    one = ledger.account("alice")
    assert figures(one, "alice")["positions"]["BTC-PERP"]["mark_price"] == "61000"  # bob's trade set it
    assert figures(one, "alice") == figures(ledger.state(), "alice")


def test_the_audit_names_an_account_snapshot_that_differs_from_the_replay(sqlite_ledger):
    """The audit names a stored account snapshot whose figures differ from the full replay."""
    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), deposit("alice", "100", t=1)])
    seq, head_hash = ledger.store.head()
    wrong = dump_account(ledger.state().accounts["alice"], 1).replace('"100"', '"900"')
    ledger.store.snapshots.save([("account:alice", wrong)], seq, head_hash, ACCOUNT_SNAPSHOT_FORMAT)
    report = audit_service.audit(ledger.store)
    assert [(d.kind, d.detail) for d in report.discrepancies] == [
        ("projection", "the stored snapshot of account alice differs from the full replay")
    ]
    assert figures(ledger.account("alice"), "alice")["cash"] == {"USD": "900"}, "the cache is what the audit guards"


def test_account_cli_prints_the_balances_shape_and_refuses_unknown_accounts(sqlite_ledger):
    """``ledger account`` prints one account in the balances shape without the system accounts, and refuses an unknown one."""
    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), deposit("alice", "100", t=1)])
    url = ledger.store.engine.url.render_as_string(hide_password=False)
    code, out, _ = run(url, "account", "alice", "--format", "json")
    import json

    data = json.loads(out)
    assert code == 0 and data["accounts"]["alice"]["cash"] == {"USD": "100"} and "system" not in data
    code, _, err = run(url, "account", "nobody")
    assert code == 2 and "nobody" in err


def test_a_snapshot_taken_while_another_append_lands_describes_its_own_point(sqlite_ledger, monkeypatch):
    """``snapshot()`` folds to some head; events appended meanwhile must not leak into what it records."""
    from ledger.replay import load as replay

    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), deposit("alice", "100", t=1), deposit("alice", "5", t=2, id="d-2")])
    folded_before_the_last = replay.state_at(ledger.store, 2)
    monkeypatch.setattr(replay, "state_at", lambda store, *a, **k: folded_before_the_last)
    ledger.snapshot()
    monkeypatch.undo()
    (scope, seq, text), = ledger.store.snapshots.with_prefix("account:", ACCOUNT_SNAPSHOT_FORMAT)
    assert (scope, seq) == ("account:alice", 2) and '"stream_version":1' in text
    assert figures(ledger.account("alice"), "alice")["cash"] == {"USD": "105"}
    assert audit_service.audit(ledger.store).ok


def test_the_fallback_keeps_every_market_for_equity(sqlite_ledger):
    """Cash counts as equity in any listed market's settle asset, even one the account never traded."""
    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), listed("ETH-PERP", "0.01", settle="USDC"), deposit("alice", "1000", t=1),
                   deposit("alice", "50", t=1, asset="USDC", id="d-usdc"), deposit("bob", "1000", t=1),
                   trade("alice", "buy", "0.01", "60000", t=2), trade("bob", "sell", "0.01", "60000", t=2)])
    one, full = ledger.account("alice"), ledger.state()
    assert figures(one, "alice")["equity_by_asset"] == {"USD": "1000.00", "USDC": "50"}
    assert figures(one, "alice") == figures(full, "alice")
