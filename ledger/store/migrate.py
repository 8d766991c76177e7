"""Running the Alembic migrations from the ledger (``ledger init``), and the rule every run keeps on the way down.

Every run, from the ledger or from ``alembic`` on the command line
(``migrations/env.py``), is one transaction holding the schema's lock: a
migration that fails leaves nothing behind, on SQLite too (Alembic would
otherwise commit SQLite's steps one by one). And a log that holds events is
never downgraded: ``guard_downgrades`` refuses the whole run before its first
step, whatever the target and through whichever revisions, present or future
(a downgrade removes a guard of the log, and past 0001 the log itself).

Alembic is imported when a migration runs, not with the ledger: every other
command would pay ~0.1 s of start-up for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect

import migrations

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

__all__ = ["alembic_config", "upgrade", "downgrade", "head_revision", "schema_locked", "guard_downgrades"]


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
    with schema_locked(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


_MIGRATION_LOCK_KEY = 7_423_002


@contextmanager
def schema_locked(engine: Engine) -> Iterator[Connection]:
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
    """Alembic ``downgrade`` in one transaction under the schema's lock: refused (``CommandError``), nothing changed,
    while the log holds an event."""
    from alembic import command

    config = alembic_config(engine)
    with schema_locked(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def guard_downgrades(migration: MigrationContext) -> None:
    """Make this run refuse a downgrade of a log that holds events before its first step runs (``migrations/env.py``).

    The guard wraps the run's plan, the steps Alembic computed from the
    command and the database's revision: it looks at every step before any
    runs, so it holds whatever the target (``base``, ``-1``, a revision) and
    for every migration, present or future, without one of them having to
    remember it. Migration 0003's own refusal stays, behind it.
    """
    from alembic.runtime.migration import RevisionStep

    plan = migration._migrations_fn  # the command's plan: Alembic hands it to the context and names no public accessor
    if plan is None:
        return

    def checked(heads: Any, context: MigrationContext) -> list[Any]:
        steps = list(plan(heads, context))
        down = [step for step in steps if isinstance(step, RevisionStep) and step.is_downgrade]
        if down and context.connection is not None:
            target = down[-1].revision.down_revision or "base"
            _refuse_while_the_log_holds_events(context.connection, f"from {down[0].revision.revision} to {target}")
        return steps

    migration._migrations_fn = checked


def _refuse_while_the_log_holds_events(conn: Connection, what: str) -> None:
    """``CommandError`` (Alembic's own: its command line prints the message, no traceback) when the log holds an event.

    On PostgreSQL the log is locked against inserts until the run ends, so
    it cannot gain an event between this look and the steps that follow
    (SQLite's writer already holds the write lock: ``BEGIN IMMEDIATE``).
    """
    from alembic.util import CommandError

    if not inspect(conn).has_table("events"):
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE events IN SHARE MODE")
    stored = conn.exec_driver_sql("SELECT max(seq) FROM events").scalar()
    if stored:
        raise CommandError(
            f"refusing to downgrade {what}: the event log holds {stored} events, and a ledger that holds events is "
            "never downgraded (each downgrade removes a guard of the log, and past 0001 the log itself); nothing was "
            "changed. The log is kept forever: to discard a ledger, drop its database"
        )
