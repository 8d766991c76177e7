"""Storage: the append-only event log and snapshot cache, behind SQLAlchemy Core.

The rest of the ledger sees ``EventStore`` (append, read, verify) and never a
table or a connection. SQLite is the embedded default, PostgreSQL the server
backend; both get the same behaviour, proven by one contract test suite.
"""

from ledger.store.engine import make_engine, normalise_url
from ledger.store.eventstore import EventStore, StoredEvent, VerifyReport

__all__ = ["EventStore", "StoredEvent", "VerifyReport", "make_engine", "normalise_url"]
