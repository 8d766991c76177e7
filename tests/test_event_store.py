"""What only the database can guarantee, on SQLite and on a real PostgreSQL server.

Append-only is enforced by the database itself; stale expected versions and
reused ids with other content are refused and store nothing; the hash chain
names the first event altered, deleted or inserted behind the ledger's back.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import Ledger
from ledger.store.sql import SqlEventStore as EventStore
from tests.support.builders import deposit, listed, mark, trade
from tests.support.tampering import tamper

RECORDED = "2026-01-01T00:00:00.000000Z"


def store_of(ledger: Ledger) -> EventStore:
    return ledger.store


def seed(store: EventStore) -> None:
    store.append([listed(), deposit("alice", "100", t=1), deposit("bob", "50", t=2), mark("60000", t=3)], RECORDED)


def count(store: EventStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM events")).scalar()


@pytest.mark.parametrize("statement", ["UPDATE events SET payload = '{}' WHERE seq = 1", "DELETE FROM events WHERE seq = 2"])
def test_the_database_refuses_update_and_delete_on_the_log(ledger, statement):
    """The database refuses an UPDATE or DELETE on the log as append-only, and the log stays whole and verifies."""
    store = store_of(ledger)
    seed(store)
    with pytest.raises(DBAPIError, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text(statement))
    assert count(store) == 4 and store.verify().ok


def test_postgres_refuses_truncate_too(pg_url):
    """PostgreSQL refuses a TRUNCATE of the log too, as append-only, and no row is lost."""
    with Ledger.open(pg_url) as ledger:
        ledger.init()
        seed(ledger.store)
        with pytest.raises(DBAPIError, match="append-only"):
            with ledger.store.engine.begin() as conn:
                conn.execute(text("TRUNCATE events"))
        assert count(ledger.store) == 4


def test_the_unique_stream_version_constraint_backs_up_the_lock(ledger):
    """The database refuses a second row with a stream version already taken, behind the ledger's lock."""
    store = store_of(ledger)
    seed(store)
    with pytest.raises(DBAPIError):
        with store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO events (seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload, hash) "
                "VALUES (99, 'x', 'account:alice', 1, 'deposit', 1, 'a', 'b', '{}', 'h')"
            ))


def test_verify_names_an_altered_payload(ledger):
    """Verify names the first event whose payload was altered, with its sequence number."""
    store = store_of(ledger)
    seed(store)
    tamper(store, "UPDATE events SET payload = replace(payload, '100', '900') WHERE seq = 2")
    report = store.verify()
    assert not report.ok
    assert (report.first_bad_seq, report.first_bad_event) == (2, "d-alice-1")
    assert "altered" in report.problem


def test_verify_names_a_deleted_row(ledger):
    """Verify names a deleted row as missing, at the event that follows the gap."""
    store = store_of(ledger)
    seed(store)
    tamper(store, "DELETE FROM events WHERE seq = 3")
    report = store.verify()
    assert (report.first_bad_seq, report.first_bad_event) == (4, "k-BTC-PERP-3")
    assert "missing" in report.problem


def test_verify_names_an_inserted_row(ledger):
    """Verify names a row inserted with a plausible but wrong hash, at its sequence number."""
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


