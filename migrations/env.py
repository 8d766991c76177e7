"""Alembic environment: runs migrations on a connection handed in by the ledger
(``config.attributes["connection"]``), or on ``$LEDGER_DB`` / ``sqlalchemy.url``
when run as ``alembic upgrade head`` from the command line."""

from __future__ import annotations

import os

from alembic import context

from ledger.store.engine import make_engine
from ledger.store.schema import metadata

config = context.config
target_metadata = metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
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
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) mode is not supported: the triggers differ per dialect")
run_migrations_online()
