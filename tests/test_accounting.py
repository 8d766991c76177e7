"""Replay and double entry: positions, PnL, equity, postings, as-of, snapshots."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.domain import events as ev
from ledger.domain.fold import APPLIERS, apply, replay
from ledger.domain.positions import apply_fill
from ledger.domain.postings import trial_balance
from ledger.domain.snapshot import SNAPSHOT_FORMAT, dump_state, load_state
from ledger.domain.state import CLEARING, EXTERNAL, FEES, Position
from ledger.domain.valuation import equity
from ledger.replay import load as replay_service
from tests.conftest import at
from tests.support.builders import deposit, listed, mark, trade, withdrawal

D = Decimal


def test_every_event_type_has_an_applier():
    """Every event type has an applier in the fold, and every applier is for a known event type."""
    assert set(APPLIERS) == set(ev.EVENT_TYPES.values())


@pytest.mark.parametrize(
    ("start", "side", "qty", "price", "size", "entry", "realized"),
    [
        ((D(0), D(0)), "buy", "1", "100", "1", "100", "0"),
        ((D(1), D(100)), "buy", "1", "200", "2", "150", "0"),
        ((D(2), D(150)), "sell", "0.5", "170", "1.5", "150", "10"),
        ((D(2), D(150)), "sell", "2", "140", "0", "0", "-20"),
        ((D(2), D(150)), "sell", "3", "160", "-1", "160", "20"),
        ((D(-2), D(100)), "buy", "1", "90", "-1", "100", "10"),
        ((D(1), D(100)), "buy", "2", "101", "3", "100.666666666667", "0"),
    ],
    ids=["open", "add", "reduce", "close", "flip", "cover-short", "average-rounds-half-even-to-12-places"],
)
def test_fills_move_size_average_entry_and_realize_pnl(start, side, qty, price, size, entry, realized):
    """A fill moves the position's size and average entry and realizes PnL on what it closes; the average rounds half-even."""
    position, pnl = apply_fill(Position(*start), side, D(qty), D(price))
    assert (position.size, position.entry_price, pnl) == (D(size), D(entry), D(realized))


def history():
    return [
        listed(),
        deposit("alice", "1000", t=1),
        deposit("bob", "1000", t=1.5),
        trade("alice", "buy", "0.5", "60000", fee="3", t=2),
        trade("bob", "sell", "0.5", "60000", fee="-1", t=2.5),
        mark("58900", t=3),
        trade("alice", "sell", "0.2", "59000", fee="1", t=4),
        withdrawal("bob", "100", t=5),
    ]


def test_replay_books_cash_positions_equity_and_system_accounts():
    """Replay books cash, positions, realized PnL, fees, equity at the last mark, and the external, fee and clearing accounts."""
    state = replay(history())
    alice, bob = state.accounts["alice"], state.accounts["bob"]
    assert alice.cash["USD"] == D("1000") - 3 - 200 - 1
    assert alice.positions["BTC-PERP"] == Position(D("0.3"), D("60000"), D("-200"))
    # after the last trade at 59000 the last *mark* (58900) still values positions
    assert equity(state, alice, "USD") == D("796") + D("0.3") * (D("58900") - 60000)
    assert bob.cash["USD"] == D("1000") + 1 - 100
    assert state.system[EXTERNAL]["USD"] == D("-1900")
    assert state.system[FEES]["USD"] == D("3")
    assert state.system[CLEARING]["USD"] == D("200")
    assert alice.fees_paid["USD"] == D("4")


def test_before_any_mark_positions_are_valued_at_the_last_trade_price():
    """Before any mark, positions are valued at the market's last trade price."""
    state = replay(history()[:5])
    assert state.markets["BTC-PERP"].price == D("60000")
    assert equity(state, state.accounts["alice"], "USD") == D("997")


def test_the_trial_balance_is_zero_after_every_event():
    """Every event's postings sum to zero, and the trial balance is zero after every event."""
    state = replay([])
    for event in history():
        postings = apply(state, event)
        assert sum((p.amount for p in postings), D(0)) == 0
        assert all(total == 0 for total in trial_balance(state).values())


def test_a_snapshot_round_trips_the_whole_state():
    """A snapshot dumped and loaded again gives back the whole state: accounts, markets and system accounts."""
    state = replay(history())
    again = load_state(dump_state(state))
    assert dump_state(again) == dump_state(state)
    assert again.accounts == state.accounts and again.markets == state.markets and again.system == state.system


def test_as_of_by_business_time_and_by_sequence(ledger):
    """The state can be read as of a business time or as of a sequence number; before the first event it is empty."""
    ledger.append(history())
    by_time = ledger.state(as_of=at(3.5))
    assert by_time.seq == 6 and by_time.accounts["alice"].positions["BTC-PERP"].size == D("0.5")
    by_seq = ledger.state(seq=4)
    assert "bob" in by_seq.accounts and "BTC-PERP" not in by_seq.accounts["bob"].positions
    assert ledger.state(as_of=at(-1)).seq == 0


def test_old_snapshots_are_thinned_and_every_point_still_replays_the_same(ledger, monkeypatch):
    """Whole-state snapshots would outgrow the log: the newest few stay, and the first of each span."""
    monkeypatch.setattr(replay_service, "SNAPSHOT_EVERY", 2)
    monkeypatch.setattr(replay_service, "SNAPSHOT_KEEP_NEWEST", 2)
    monkeypatch.setattr(replay_service, "SNAPSHOT_KEEP_ONE_PER", 10)
    ledger.append([listed()])
    for i in range(30):
        ledger.append([deposit("alice", "1", t=1 + i, id=f"d-{i}")])
    kept = [seq for seq, _ in ledger.store.snapshots.of_scope(replay_service.LEDGER_SCOPE, SNAPSHOT_FORMAT)]
    assert kept == [2, 10, 20, 28, 30], "every 2 events written; kept: the first of each span of 10, and the newest two"
    for seq in range(32):
        assert dump_state(ledger.state(seq=seq)) == dump_state(replay_service.state_at(ledger.store, seq, use_snapshots=False))


def test_snapshots_spare_the_replay_from_rereading_history(ledger, monkeypatch):
    """A replay starts from the latest snapshot (the one the append of the 8th event bound in the log), reads only
    the events after it, and equals a full replay."""
    monkeypatch.setattr(replay_service, "SNAPSHOT_EVERY", 8)
    ledger.append(history())
    assert ledger.store.snapshots.latest(replay_service.LEDGER_SCOPE, SNAPSHOT_FORMAT)[0] == 8
    ledger.append([deposit("carol", "5", t=6)])
    read = []
    original = ledger.store.read_batches

    def counting_read(**kwargs):
        for rows in original(**kwargs):
            read.extend(row[0] for row in rows)
            yield rows

    monkeypatch.setattr(ledger.store, "read_batches", counting_read)
    state = ledger.state()
    assert read == [9], "only the event after the snapshot is read"
    monkeypatch.undo()
    full = replay_service.state_at(ledger.store, use_snapshots=False)
    assert dump_state(state) == dump_state(full)


def test_a_snapshot_whose_event_no_longer_matches_is_ignored(ledger):
    """A snapshot whose event hash no longer matches the log is ignored, and the log is replayed instead."""
    ledger.append(history())
    ledger.store.snapshots.save([(replay_service.LEDGER_SCOPE, "{}")], 8, "f" * 64, SNAPSHOT_FORMAT)
    assert ledger.state().seq == 8  # the bogus snapshot was skipped, the log replayed


def test_a_snapshot_that_cannot_be_written_does_not_fail_a_committed_append(ledger, monkeypatch, caplog):
    """Snapshots are a cache: the append stands, the failure is a warning, the next replay folds from the log."""
    from sqlalchemy.exc import OperationalError

    def disk_full(*args, **kwargs):
        raise OperationalError("INSERT INTO snapshots", None, Exception("database or disk is full"))

    monkeypatch.setattr(replay_service, "SNAPSHOT_EVERY", 1)
    monkeypatch.setattr(ledger.store.snapshots, "save", disk_full)
    with caplog.at_level("WARNING", logger="ledger"):
        result = ledger.append([listed(), deposit("alice", "100", t=1)])
    assert result.appended == 2 and ledger.head_seq() == 2
    assert "not written (the append itself is committed)" in caplog.text and "disk is full" in caplog.text
    assert ledger.state().accounts["alice"].cash["USD"] == Decimal("100")


def test_a_file_ingested_in_many_chunks_binds_one_snapshot_at_its_end(ledger, monkeypatch, tmp_path):
    """A file is one transaction of 2,000-record chunks: only its last chunk binds the whole-ledger snapshot due (one
    dump of the state per file, not one per chunk), at the file's last event, and a replay starts from it."""
    import json

    from sqlalchemy import text

    monkeypatch.setattr(replay_service, "SNAPSHOT_EVERY", 10)
    lines = [{"type": "deposit", "id": f"d-{n}", "at": "2024-08-05T00:00:01Z", "account": f"a{n % 7}", "asset": "USD",
              "amount": "1"} for n in range(4500)]
    path = tmp_path / "three-chunks.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dumped = []
    real_dump = replay_service.dump_state
    monkeypatch.setattr(replay_service, "dump_state", lambda state: dumped.append(state.seq) or real_dump(state))
    assert ledger.ingest_file(path).appended == 4500
    with ledger.store.engine.connect() as conn:
        bound = conn.execute(text("SELECT seq FROM events WHERE snapshot_digest IS NOT NULL")).scalars().all()
    assert bound == [4500] and dumped == [4500]
    assert ledger.store.snapshots.latest(replay_service.LEDGER_SCOPE, SNAPSHOT_FORMAT)[0] == 4500


def test_a_snapshot_of_the_previous_format_is_ignored_and_the_log_replays_the_same(ledger):
    """Format 2 (before funding and isolated margins) stays in old databases: never loaded, never audited, never wrong."""
    import json

    from ledger.domain.snapshot import SNAPSHOT_FORMAT

    ledger.append(history())
    head_seq, head_hash = ledger.store.head()
    old = json.loads(dump_state(ledger.state()))
    old["format"] = 2
    old["accounts"] = {}  # were it ever loaded, every balance would read empty
    ledger.store.snapshots.save([(replay_service.LEDGER_SCOPE, json.dumps(old))], head_seq, head_hash, 2)
    assert SNAPSHOT_FORMAT == 3
    assert dump_state(ledger.state()) == dump_state(replay_service.state_at(ledger.store, use_snapshots=False))
    report = ledger.audit()
    assert report.ok and report.snapshots_checked == 0
