"""What an attacker with direct database access does, for tests that must catch it."""

from __future__ import annotations

from sqlalchemy import text

from ledger.store.sql import SqlEventStore as EventStore


def disable_append_only(store: EventStore) -> None:
    """Remove the database's own refusal of UPDATE/DELETE (an attacker's first step)."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_delete"))
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_replace"))


def tamper(store: EventStore, statement: str) -> None:
    """Run ``statement`` against the log behind the ledger's back."""
    disable_append_only(store)
    with store.engine.begin() as conn:
        conn.execute(text(statement))


def insert_tail_deposit(store: EventStore, event_id: str, account: str, amount: str) -> tuple[int, str]:
    """INSERT only (the ledger's own privilege): a deposit to a new account at the tail, numbered, versioned and
    chained exactly as the ledger would have; (its seq, its chain hash)."""
    from ledger.domain.codec import encode_payload
    from ledger.store.hashchain import chain_hash
    from tests.support.builders import deposit

    seq, head = store.head()
    payload = encode_payload(deposit(account, amount, t=5, id=event_id))
    at = "2024-08-05T00:05:00.000000Z"
    stream = f"account:{account}"
    digest = chain_hash(head, seq + 1, event_id, stream, 1, "deposit", 1, at, at, payload)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO events (seq, event_id, stream, stream_version, type, schema_version, at, "
                          "recorded_at, payload, hash) VALUES (:seq, :id, :stream, 1, 'deposit', 1, :at, :at, "
                          ":payload, :hash)"),
                     {"seq": seq + 1, "id": event_id, "stream": stream, "at": at, "payload": payload, "hash": digest})
    return seq + 1, digest



def rechain(store: EventStore) -> None:
    """Recompute every row's hash in order (an attacker with write access covering a rewrite): the chain verifies
    again, and only the audit's re-derivations can still catch what was changed."""
    from ledger.store.hashchain import GENESIS, chain_hash

    disable_append_only(store)
    with store.engine.begin() as conn:
        previous = GENESIS
        rows = conn.execute(text("SELECT seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, "
                                 "payload FROM events ORDER BY seq")).all()
        for seq, event_id, stream, version, kind, schema, at, recorded_at, payload in rows:
            previous = chain_hash(previous, seq, event_id, stream, version, kind, schema, at, recorded_at, payload)
            conn.execute(text("UPDATE events SET hash = :hash WHERE seq = :seq"), {"hash": previous, "seq": seq})
