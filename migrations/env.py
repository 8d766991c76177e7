"""Alembic environment: runs migrations on a connection handed in by the ledger
(``config.attributes["connection"]``), or on ``$LEDGER_DB`` / ``sqlalchemy.url``
when run as ``alembic upgrade head`` from the command line.

Either way the run is one transaction holding the schema's lock
(``ledger.store.migrate.schema_locked``; Alembic would otherwise commit
SQLite's steps one at a time, and a refusal half-way left the schema
half-downgraded), and a downgrade of a log that holds events is refused before
any step runs (``migrate.guard_downgrades``: it sees the whole plan, so it
holds for every target and every migration, present or future)."""

from __future__ import annotations

import os

from alembic import context

from ledger.store import migrate
from ledger.store.engine import make_engine
from ledger.store.schema import metadata

config = context.config
target_metadata = metadata


def _run(connection) -> None:
    # transactional_ddl: SQLite's DDL is transactional too, so a run is one transaction even on a connection
    # handed in outside one (the ledger's and the command line's are already inside one)
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      transactional_ddl=True)
    migrate.guard_downgrades(context.get_context())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    ini = config.config_file_name
    from_ini = config.get_main_option("sqlalchemy.url") if ini is None or os.path.exists(ini) else None
    url = from_ini or os.environ.get("LEDGER_DB", "sqlite:///ledger.db")
    engine = make_engine(url)
    try:
        with migrate.schema_locked(engine) as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported: the triggers differ per dialect")
run_migrations_online()
