"""Running the Alembic migrations from the ledger (``ledger init``).

Alembic is imported when a migration runs, not with the ledger: every other
command would pay ~0.1 s of start-up for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

import migrations

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["alembic_config", "upgrade", "downgrade", "head_revision"]


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration this code knows (what ``ledger init`` upgrades a database to).

    Read from the file names (revisions are numbered ``NNNN`` and named after
    their file, one after the other): asking Alembic costs a fifth of a second
    per command. ``tests/test_migrations.py`` holds it equal to Alembic's head.
    """
    versions = Path(migrations.__file__).parent / "versions"
    return max(path.name[:4] for path in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config(engine)
    with _locked(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


_MIGRATION_LOCK_KEY = 7_423_002


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the schema's lock: concurrent ``ledger init`` runs wait their turn, the later ones find
    the schema at head and do nothing (PostgreSQL: an advisory lock; SQLite: ``BEGIN IMMEDIATE``)."""
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
    try:
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
            yield conn
    finally:
        conn.close()


def downgrade(engine: Engine, revision: str = "base") -> None:
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
