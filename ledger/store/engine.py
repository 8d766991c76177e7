"""Database engines with the settings a ledger needs.

SQLite: WAL journal, ``synchronous=FULL`` (a committed batch survives power
loss), a busy timeout so concurrent writers wait instead of failing, and
transactions opened by SQLAlchemy itself so a writer can take the write lock at
``BEGIN`` (``BEGIN IMMEDIATE``) before it reads the head of the log.
PostgreSQL: psycopg 3. Engines are made on demand, never at import time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url

from ledger.errors import UnsupportedDatabase

__all__ = ["make_engine", "normalise_url"]


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if make_url(url).database in (None, "", ":memory:"):
            raise UnsupportedDatabase(
                f"{url}: an in-memory SQLite database is not supported (the log must outlive the process); "
                "give a file, e.g. sqlite:///ledger.db"
            )
        engine = create_engine(url, connect_args={"timeout": 60})
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
