"""The event store contract, run on SQLite and on a real PostgreSQL server.

Append-only is enforced by the database itself; stale expected versions and
reused ids with other content are refused and store nothing; the hash chain
names the first event altered, deleted or inserted behind the ledger's back.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import ConcurrencyConflict, DuplicateEventConflict, Ledger
from ledger.store import EventStore
from tests.builders import deposit, listed, mark, trade
from tests.tampering import tamper

RECORDED = "2026-01-01T00:00:00.000000Z"


def store_of(ledger: Ledger) -> EventStore:
    return ledger.store


def seed(store: EventStore) -> None:
    store.append([listed(), deposit("alice", "100", t=1), deposit("bob", "50", t=2), mark("60000", t=3)], RECORDED)


def count(store: EventStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM events")).scalar()


def test_appends_get_a_gapless_global_sequence_and_per_stream_versions(ledger):
    store = store_of(ledger)
    seed(store)
    rows = list(store.read())
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [(r.stream, r.stream_version) for r in rows] == [
        ("market:BTC-PERP", 1), ("account:alice", 1), ("account:bob", 1), ("market:BTC-PERP", 2)
    ]
    assert [r.event() for r in rows][1] == deposit("alice", "100", t=1)


@pytest.mark.parametrize("statement", ["UPDATE events SET payload = '{}' WHERE seq = 1", "DELETE FROM events WHERE seq = 2"])
def test_the_database_refuses_update_and_delete_on_the_log(ledger, statement):
    store = store_of(ledger)
    seed(store)
    with pytest.raises(DBAPIError, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text(statement))
    assert count(store) == 4 and store.verify().ok


def test_postgres_refuses_truncate_too(pg_url):
    with Ledger.open(pg_url) as ledger:
        ledger.init()
        seed(ledger.store)
        with pytest.raises(DBAPIError, match="append-only"):
            with ledger.store.engine.begin() as conn:
                conn.execute(text("TRUNCATE events"))
        assert count(ledger.store) == 4


def test_a_stale_expected_stream_version_is_a_conflict_and_stores_nothing(ledger):
    store = store_of(ledger)
    seed(store)
    with pytest.raises(ConcurrencyConflict, match="account:alice.* version 1, the append expected 0"):
        store.append([deposit("alice", "5", t=4), deposit("carol", "5", t=4)], RECORDED, {"account:alice": 0})
    assert count(store) == 4
    store.append([deposit("alice", "5", t=4)], RECORDED, {"account:alice": 1})
    assert store.stream_version("account:alice") == 2


def test_reappending_the_same_event_is_a_no_op(ledger):
    store = store_of(ledger)
    seed(store)
    assert store.append([deposit("alice", "100", t=1)], RECORDED) == []
    assert count(store) == 4


def test_the_same_id_with_other_content_is_refused_and_nothing_is_stored(ledger):
    store = store_of(ledger)
    seed(store)
    changed = deposit("alice", "101", t=1, id="d-alice-1")
    with pytest.raises(DuplicateEventConflict, match="event d-alice-1: id is already stored with different content"):
        store.append([deposit("carol", "1", t=5), changed], RECORDED)
    assert count(store) == 4


def test_the_unique_stream_version_constraint_backs_up_the_lock(ledger):
    store = store_of(ledger)
    seed(store)
    with pytest.raises(DBAPIError):
        with store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO events (seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload, hash) "
                "VALUES (99, 'x', 'account:alice', 1, 'deposit', 1, 'a', 'b', '{}', 'h')"
            ))


def test_a_writer_with_a_stale_view_hits_the_constraint_and_stores_nothing(ledger):
    """If the lock ever failed, the append path itself turns the database's refusal into a conflict."""
    store = store_of(ledger)
    seed(store)
    with pytest.raises(ConcurrencyConflict, match="database refused the batch.*nothing was stored"):
        with store.writer() as writer:
            writer._versions["account:alice"] = 0  # as if another writer's append were unseen
            writer.append_new([deposit("carol", "1", t=5), deposit("alice", "5", t=5)], RECORDED)
    assert count(store) == 4 and store.verify().ok


def test_verify_passes_on_an_untouched_log(ledger):
    seed(store_of(ledger))
    report = ledger.verify()
    assert report.ok and report.events_checked == 4


def test_verify_names_an_altered_payload(ledger):
    store = store_of(ledger)
    seed(store)
    tamper(store, "UPDATE events SET payload = replace(payload, '100', '900') WHERE seq = 2")
    report = store.verify()
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_event) == (2, "d-alice-1")
    assert "altered" in report.problem


def test_verify_names_a_deleted_row(ledger):
    store = store_of(ledger)
    seed(store)
    tamper(store, "DELETE FROM events WHERE seq = 3")
    report = store.verify()
    assert (report.first_bad_seq, report.first_bad_event) == (4, "k-BTC-PERP-3")
    assert "missing" in report.problem


def test_verify_names_an_inserted_row(ledger):
    store = store_of(ledger)
    seed(store)
    forged = store.append([trade("alice", "buy", "1", "60000", t=9)], RECORDED)[0]
    # a forger who appends a row with a plausible but wrong hash
    with store.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO events (seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload, hash) "
            f"VALUES (6, 'forged', 'account:mallory', 1, 'deposit', 1, '{forged.at}', '{RECORDED}', "
            "'{\"account\":\"mallory\",\"amount\":\"1000000\",\"asset\":\"USD\"}', '" + forged.hash + "')"
        ))
    report = store.verify()
    assert (report.first_bad_seq, report.first_bad_event) == (6, "forged")


def test_reading_cuts_by_sequence_business_time_and_type(ledger):
    store = store_of(ledger)
    seed(store)
    assert [r.seq for r in store.read(upto_seq=2)] == [1, 2]
    assert [r.seq for r in store.read(after_seq=2)] == [3, 4]
    assert [r.type for r in store.read(types=["mark"])] == ["mark"]
    assert store.last_seq_at_or_before("2024-08-05T00:02:00.000000Z") == 3


def test_the_replay_read_gives_bare_rows_and_identities_on_request(ledger):
    """``read_batches`` leaves out event id and time; ``identities`` answers them for any rows asked."""
    store = store_of(ledger)
    store.append([deposit(f"acct{n}", "1", t=1 + n // 400, id=f"dep-{n}") for n in range(1200)], RECORDED)
    batches = list(store.read_batches(after_seq=100, upto_seq=1150, batch_size=500))
    assert [len(b) for b in batches] == [500, 500, 50]
    rows = [row for batch in batches for row in batch]
    assert rows[0][:3] == (101, "deposit", 1) and rows[0][3] == '{"account":"acct100","amount":"1","asset":"USD"}'
    asked = [1, 700, 1200, 5000, *range(600, 1200)]  # more than one query's worth; 5000 is not stored
    found = store.identities(asked)
    assert sorted(found) == sorted({s for s in asked if s <= 1200})
    stored = {r.seq: (r.event_id, r.at) for r in store.read()}
    assert all(found[seq] == stored[seq] for seq in found)
    assert found[700] == ("dep-699", "2024-08-05T00:02:00.000000Z")  # t = 1 + 699 // 400
