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
