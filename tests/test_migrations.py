"""The schema exists only through Alembic: migrations round-trip and never drift."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from ledger.store import migrate
from ledger.store.engine import make_engine
from ledger.store.schema import metadata

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


def test_a_downgrade_refuses_while_the_log_holds_events_and_drops_nothing(ledger):
    """The attack: ``alembic downgrade base`` on a live ledger used to drop the log without a word."""
    import pytest

    from tests.support.builders import deposit, listed

    ledger.append([listed(), deposit("alice", "100", t=1)])
    with pytest.raises(RuntimeError, match="refusing to downgrade: the event log holds 2 events"):
        migrate.downgrade(ledger.store.engine, "base")
    assert {"events", "snapshots"} <= set(inspect(ledger.store.engine).get_table_names())
    assert ledger.head_seq() == 2 and ledger.verify().ok
    with ledger.store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD


def test_a_database_behind_this_codes_schema_is_refused_until_init_migrates_it(db_url):
    """Reading with a newer ledger than the schema used to fail on a missing column; it now names the fix."""
    import pytest

    from ledger import Ledger, NotInitialised

    engine = make_engine(db_url)
    migrate.upgrade(engine, "0003")
    engine.dispose()
    with Ledger.open(db_url) as ledger:
        with pytest.raises(NotInitialised, match=r"at revision 0003, this ledger needs \d+: run `ledger init`"):
            ledger.balances()
        ledger.init()
        assert ledger.balances()["accounts"] == {}
