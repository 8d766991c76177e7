"""Ingesting files: atomic, idempotent, and every refusal names FILE:LINE."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger import InvalidBatch, Ledger, NotInitialised
from ledger.domain.codec import decode_object
from tests.conftest import VECTORS
from tests.support.cli import ok, run

HEADER = [
    {"type": "market_listed", "id": "m-btc", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"},
    {"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "alice", "asset": "USD", "amount": "1000"},
    {"type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.5", "price": "60000", "fee": "3"},
    {"type": "mark", "id": "k-1", "at": "2024-08-05T00:03:00Z", "market": "BTC-PERP", "price": "58900"},
]


def write(tmp_path: Path, records: list, name: str = "batch.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def stored_count(ledger: Ledger) -> int:
    with ledger.store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM events")).scalar()


def test_a_clean_file_is_stored_whole_and_replays_to_the_contract_example(ledger, tmp_path):
    """A clean file is stored whole, and replays to the contract example's cash and position for alice."""
    result = ledger.ingest_file(write(tmp_path, HEADER))
    assert (result.appended, result.skipped, result.head_seq) == (4, 0, 4)
    alice = ledger.state().accounts["alice"]
    assert alice.cash["USD"] == Decimal("997")
    assert alice.positions["BTC-PERP"].size == Decimal("0.5")


def test_reingesting_the_same_file_stores_nothing_new(ledger, tmp_path):
    """Ingesting the same file again skips every line and stores nothing new."""
    path = write(tmp_path, HEADER)
    ledger.ingest_file(path)
    again = ledger.ingest_file(path)
    assert (again.appended, again.skipped) == (0, 4)
    assert stored_count(ledger) == 4


BAD_LINES = [
    ({"type": "trade", "id": "t-2", "at": "2024-08-05T00:04:00Z", "account": "alice", "market": "DOGE-PERP", "side": "buy", "qty": "1", "price": "1", "fee": "0"}, "unknown market 'DOGE-PERP'"),
    ({"type": "trade", "id": "t-2", "at": "2024-08-05T00:04:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.0005", "price": "60000", "fee": "0"}, "not a multiple of BTC-PERP lot size 0.001"),
    ({"type": "trade", "id": "t-2", "at": "2024-08-05T00:04:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.001", "price": "0", "fee": "0"}, "price must be > 0"),
    ({"type": "trade", "id": "t-2", "at": "2024-08-05T00:04:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "-0.001", "price": "1", "fee": "0"}, "qty must be > 0"),
    ({"type": "mark", "id": "k-2", "at": "2024-08-05T00:04:00Z", "market": "BTC-PERP", "price": "-1"}, "price must be > 0"),
    ({"type": "deposit", "id": "d-2", "at": "2024-08-05T00:04:00Z", "account": "bob", "asset": "USD", "amount": "0"}, "amount must be > 0"),
    ({"type": "deposit", "id": "d-2", "at": "2024-08-05T00:04:00Z", "account": "bob", "asset": "USD", "amount": "1e3"}, "not a plain decimal"),
    ({"type": "deposit", "id": "d-2", "at": "2024-08-05T00:04:00Z", "account": "bob", "asset": "USD", "amount": "NaN"}, "not a plain decimal"),
    ('{"type": "deposit", "id": "d-2", "at": "2024-08-05T00:04:00Z", "account": "bob", "asset": "USD", "amount": 5.0}', "JSON number 5.0"),
    ({"type": "deposit", "id": "d-2", "at": "2024-08-05T00:04:00Z", "account": "bob", "asset": "USD", "amount": ""}, "not a plain decimal"),
    ({"type": "deposit", "id": "d-1", "at": "2024-08-05T00:04:00Z", "account": "alice", "asset": "USD", "amount": "5"}, "already stored with different content"),
    ({"type": "deposit", "id": "d-2", "at": "2024-08-05T00:02:30Z", "account": "alice", "asset": "USD", "amount": "5"}, "goes backwards"),
    ({"type": "withdrawal", "id": "w-1", "at": "2024-08-05T00:04:00Z", "account": "alice", "asset": "USD", "amount": "998"}, "exceeds the"),
    ({"type": "withdrawal", "id": "w-1", "at": "2024-08-05T00:04:00Z", "account": "bob", "asset": "USD", "amount": "1"}, "exceeds the 0 available to 'bob'"),
    ({"type": "market_listed", "id": "m-2", "at": "2024-08-05T00:04:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "1"}, "already listed"),
    ({"type": "market_listed", "id": "m-2", "at": "2024-08-05T00:04:00Z", "market": "X", "settle_asset": "USD", "lot_size": "0"}, "lot_size must be > 0"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_LINES, ids=[reason for _, reason in BAD_LINES])
def test_one_bad_line_rejects_the_whole_file_naming_file_and_line(ledger, tmp_path, bad, reason):
    """One bad line refuses the whole file, naming the file, the line and the reason; nothing of the file is stored."""
    ledger.ingest_file(write(tmp_path, HEADER, "first.jsonl"))
    good = {"type": "deposit", "id": "d-9", "at": "2024-08-05T00:03:30Z", "account": "carol", "asset": "USD", "amount": "5"}
    path = write(tmp_path, [good, bad], "second.jsonl")
    with pytest.raises(InvalidBatch) as caught:
        ledger.ingest_file(path)
    message = str(caught.value)
    assert f"{path}:2: " in message and reason in message
    assert "nothing was stored" in message
    assert stored_count(ledger) == 4
    assert "carol" not in ledger.state().accounts


def test_decoding_errors_are_all_reported_at_once(ledger, tmp_path):
    """Every line that fails to decode is reported at once, each by file and line, and nothing is stored."""
    path = write(tmp_path, ['{"type": "mark"', HEADER[0], '{"type": "deposit", "amount": 1}'])
    with pytest.raises(InvalidBatch) as caught:
        ledger.ingest_file(path)
    assert [e.where for e in caught.value.errors] == [f"{path}:1", f"{path}:3"]
    assert stored_count(ledger) == 0


def test_a_duplicate_id_inside_one_file_with_other_content_is_refused(ledger, tmp_path):
    """An id repeated within one file with other content is refused, naming the later line, and nothing is stored."""
    other = dict(HEADER[1], amount="2000")
    path = write(tmp_path, [*HEADER[:2], other])
    with pytest.raises(InvalidBatch, match=r"batch.jsonl:3: id .d-1. is used earlier in this batch with different content"):
        ledger.ingest_file(path)
    assert stored_count(ledger) == 0


def test_a_missing_file_is_a_clear_error(ledger, tmp_path):
    """Ingesting a file that does not exist is refused, saying there is no such file."""
    with pytest.raises(InvalidBatch, match="no such file"):
        ledger.ingest_file(tmp_path / "nope.jsonl")


def test_an_uninitialised_database_says_to_run_init(tmp_path, sqlite_url):
    """Ingesting into a database without the ledger's schema is refused, saying to run ``ledger init``."""
    with Ledger.open(sqlite_url) as ledger, pytest.raises(NotInitialised, match="ledger init"):
        ledger.ingest_file(write(tmp_path, HEADER))


def test_blank_lines_are_skipped(ledger, tmp_path):
    """Blank and whitespace-only lines are skipped; the records around them are stored."""
    path = write(tmp_path, [HEADER[0], "", "   ", HEADER[1]])
    assert ledger.ingest_file(path).appended == 2


def test_a_withdrawal_within_cash_but_beyond_equity_is_refused(ledger, tmp_path):
    """Unrealized losses back nothing: alice has 997 cash but 447 equity at 58900."""
    ledger.ingest_file(write(tmp_path, HEADER, "first.jsonl"))
    path = write(tmp_path, [{"type": "withdrawal", "id": "w-1", "at": "2024-08-05T00:04:00Z", "account": "alice", "asset": "USD", "amount": "500"}])
    with pytest.raises(InvalidBatch, match=r"exceeds the 447\.0 available"):
        ledger.ingest_file(path)


def test_a_writer_behind_another_folds_only_the_new_rows_and_decides_as_a_fresh_replay(db_url, monkeypatch):
    """Two writers on one database, taking turns: each finds the other's rows at the head and carries its warm
    state over them (no replay of the whole log under the lock); every state equals a replay from scratch."""
    from ledger.domain.snapshot import dump_state
    from ledger.replay import load

    history = [json.loads(line) for line in (VECTORS / "partial-one-position.jsonl").read_text().splitlines() if line]
    with Ledger.open(db_url) as first, Ledger.open(db_url) as second:
        first.init()
        first.append_located([(f"line {i}", decode_object(r)) for i, r in enumerate(history[:4], 1)])
        second.append_located([(f"line {i}", decode_object(r)) for i, r in enumerate(history[4:5], 5)])
        real_state_at = load.state_at

        def no_full_replay(*args, **kwargs):
            raise AssertionError("a writer behind the head replayed the whole log")

        monkeypatch.setattr(load, "state_at", no_full_replay)
        result = first.append_located([(f"line {i}", decode_object(r)) for i, r in enumerate(history[5:], 6)])
        assert result.engine_events >= 1, "the mark distressed alice: the caught-up state decided it"
        monkeypatch.setattr(load, "state_at", real_state_at)
        assert dump_state(first._unit.warm.state) == dump_state(load.state_at(first.store, use_snapshots=False))
        second.append_located([("extra", decode_object(
            {"type": "deposit", "id": "d-late", "at": "2024-08-05T01:00:00Z", "account": "bob", "asset": "USD",
             "amount": "5"}))])
        assert dump_state(second._unit.warm.state) == dump_state(load.state_at(second.store, use_snapshots=False))


def test_a_value_nested_deeper_than_the_stack_ahead_of_the_type_is_refused_by_line(sqlite_url, tmp_path):
    """``ledger ingest`` of a file whose second line nests a value 1,200 deep before its ``type`` (the fast path's
    decoder looks for the tag recursively and runs out of stack): exit 2, the line named with the reference
    decoder's words, and nothing stored (it was an internal error, exit 4, before the fast path caught it)."""
    first = {"type": "market_listed", "id": "m-1", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP",
             "settle_asset": "USD", "lot_size": "0.001"}
    path = tmp_path / "deep.jsonl"
    path.write_bytes(json.dumps(first).encode() + b'\n{"id": ' + b"[" * 1200 + b"]" * 1200 + b', "type": "deposit"}\n')
    ok(sqlite_url, "init")
    code, _, err = run(sqlite_url, "ingest", str(path))
    assert code == 2, err
    assert f"{path}:2: JSON nested too deeply" in err and "internal error" not in err
    with Ledger.open(sqlite_url) as ledger:
        assert stored_count(ledger) == 0
