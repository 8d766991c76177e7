"""The schema exists only through Alembic: migrations round-trip and never drift."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text

from ledger.store import migrate
from ledger.store.engine import make_engine
from ledger.store.schema import metadata
from tests.conftest import ROOT
from tests.support.builders import deposit, listed

HEAD = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def drift(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def triggers(engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
        else:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade_round_trips(db_url):
    """Upgrade creates the tables and triggers, downgrade to base removes them all, and upgrading again recreates the tables."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    assert {"events", "snapshots"} <= set(inspect(engine).get_table_names())
    assert triggers(engine)
    migrate.downgrade(engine, "base")
    assert not {"events", "snapshots"} & set(inspect(engine).get_table_names())
    assert not triggers(engine)
    migrate.upgrade(engine)
    assert {"events", "snapshots"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_do_not_drift(db_url):
    """The schema the migrations build matches the models exactly: autogenerate finds no drift."""
    engine = make_engine(db_url)
    migrate.upgrade(engine)
    assert drift(engine) == []
    engine.dispose()


def test_the_schema_head_the_code_checks_is_alembics_head():
    """The schema revision the code requires is Alembic's head revision."""
    assert migrate.head_revision() == HEAD


def test_init_is_safe_to_repeat(ledger):
    """Running ``init`` again is harmless and leaves the schema at the head revision."""
    ledger.init()
    ledger.init()
    with ledger.store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD


def schema(engine) -> list:
    """Everything the schema is made of, in order: every table, column, index, constraint, trigger and trigger function
    (SQLite: ``sqlite_master`` whole; PostgreSQL: its catalogs), and the revision in ``alembic_version``."""
    postgres = [
        ("SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
         "WHERE table_schema = current_schema()"),
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
        ("SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
         "WHERE connamespace = current_schema()::regnamespace"),
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
        "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = current_schema()::regnamespace",
        "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()",
    ]
    queries = postgres if engine.dialect.name == "postgresql" else ["SELECT type, name, tbl_name, sql FROM sqlite_master"]
    with engine.connect() as conn:
        found = [sorted(tuple(map(str, row)) for row in conn.execute(text(query))) for query in queries]
        return [*found, conn.execute(text("SELECT version_num FROM alembic_version")).scalar()]


def _alembic(url: str, *args: str, script_location: Path | None = None) -> subprocess.CompletedProcess:
    """``alembic ARGS`` on the command line as docs/storage.md shows it (``LEDGER_DB=URL``, from the project's root);
    Alembic prints a refusal (``FAILED: ...``) on standard output."""
    command = [str(Path(sys.executable).with_name("alembic"))]
    if script_location is not None:  # an ini naming another migrations folder (the project's is in pyproject.toml)
        ini = script_location.parent / "alembic.ini"
        ini.write_text(f"[alembic]\nscript_location = {script_location}\n")
        command += ["-c", str(ini)]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "LEDGER_DB": url})


def test_a_downgrade_refuses_while_the_log_holds_events_and_drops_nothing(ledger):
    """The attack: ``alembic downgrade base`` on a live ledger used to drop the log without a word; through the ledger's
    own ``migrate.downgrade`` it is refused before any step, and the schema is as it was."""
    ledger.append([listed(), deposit("alice", "100", t=1)])
    before = schema(ledger.store.engine)
    for target in ("base", "-1", "0006"):
        with pytest.raises(CommandError, match=f"refusing to downgrade from {HEAD} to .*: the event log holds 2 events"):
            migrate.downgrade(ledger.store.engine, target)
        assert schema(ledger.store.engine) == before
    assert ledger.head_seq() == 2 and ledger.verify().ok


def test_alembic_downgrade_on_the_command_line_is_refused_before_any_step_and_changes_nothing(ledger):
    """#27 point 12: ``alembic downgrade base`` as docs/storage.md shows it, then ``-1`` twice and down to 0003, each
    refused with the reason (exit 1, no traceback) before any step ran: every table, index, trigger and function is
    still there and ``alembic_version`` unchanged (on SQLite the refused ``base`` used to commit down to 0003)."""
    ledger.append([listed(), deposit("alice", "100", t=1)])
    url = ledger.store.engine.url.render_as_string(hide_password=False)
    before = schema(ledger.store.engine)
    assert before[-1] == HEAD and any("seals" in str(part) for part in before)
    for target in ("base", "-1", "-1", "0003"):
        done = _alembic(url, "downgrade", target)
        said = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in said, said
        assert f"FAILED: refusing to downgrade from {HEAD} to" in said
        assert "the event log holds 2 events" in said and "nothing was changed" in said
        assert schema(ledger.store.engine) == before, f"downgrade {target} changed the schema"
    assert ledger.head_seq() == 2 and ledger.verify().ok


def test_an_empty_ledger_still_downgrades_on_the_command_line(db_url):
    """An empty ledger may be downgraded (one step, then to base) and upgraded again with the ``alembic`` command."""
    assert _alembic(db_url, "upgrade", "head").returncode == 0
    engine = make_engine(db_url)
    for target, left in (("-1", f"{int(HEAD) - 1:04d}"), ("base", None)):
        done = _alembic(db_url, "downgrade", target)
        assert done.returncode == 0, done.stderr
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == left
    assert _alembic(db_url, "upgrade", "head").returncode == 0
    assert schema(engine)[-1] == HEAD and drift(engine) == []
    engine.dispose()


_CARELESS = '''"""A later migration whose downgrade forgets the log (as a future one might).

Revision ID: {revision}
Revises: {head}
"""

from alembic import op

revision = "{revision}"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing."""


def downgrade() -> None:
    op.drop_table("events")
'''


def test_a_future_migration_is_guarded_without_remembering_to_be(ledger, tmp_path):
    """A migration added after this one, whose downgrade drops the log with no check of its own, is refused all the
    same: the guard is in ``env.py``, over the whole plan, not in any migration."""
    ledger.append([listed(), deposit("alice", "100", t=1)])
    folder = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", folder, ignore=shutil.ignore_patterns("__pycache__"))
    later = f"{int(HEAD) + 1:04d}"
    (folder / "versions" / f"{later}_careless.py").write_text(_CARELESS.format(revision=later, head=HEAD))
    url = ledger.store.engine.url.render_as_string(hide_password=False)
    assert _alembic(url, "upgrade", "head", script_location=folder).returncode == 0
    before = schema(ledger.store.engine)
    done = _alembic(url, "downgrade", "-1", script_location=folder)
    assert done.returncode != 0 and f"refusing to downgrade from {later} to {HEAD}" in done.stdout, done.stderr
    assert schema(ledger.store.engine) == before and before[-1] == later
    with ledger.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 2


def test_a_database_behind_this_codes_schema_is_refused_until_init_migrates_it(db_url):
    """Reading with a newer ledger than the schema used to fail on a missing column; it now names the fix."""
    from ledger import Ledger, NotInitialised

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0003")
    engine.dispose()
    with Ledger.open(db_url) as ledger:
        with pytest.raises(NotInitialised, match=r"at revision 0003, this ledger needs \d+: run `ledger init`"):
            ledger.balances()
        ledger.init()
        assert ledger.balances()["accounts"] == {}
