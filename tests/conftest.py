"""Shared fixtures: a fresh ledger on every backend, and history builders.

Every storage-touching test runs on SQLite and on the real PostgreSQL server
named by ``LEDGER_TEST_PG_URL`` (``scripts/test.sh`` starts one). Without that
variable the PostgreSQL cases are skipped, unless ``LEDGER_TEST_REQUIRE_PG`` is
set (as the test script and CI do), in which case they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger import Ledger
from ledger.store.engine import normalise_url

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"
PG_URL = os.environ.get("LEDGER_TEST_PG_URL")
T0 = datetime(2024, 8, 5, tzinfo=UTC)


def fixed_clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """Business time ``minutes`` after a fixed origin."""
    return T0 + timedelta(minutes=minutes)


def D(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    if not PG_URL:
        if os.environ.get("LEDGER_TEST_REQUIRE_PG"):
            pytest.fail("LEDGER_TEST_REQUIRE_PG is set but LEDGER_TEST_PG_URL is not")
        pytest.skip("no PostgreSQL server (set LEDGER_TEST_PG_URL; scripts/test.sh starts one)")
    return PG_URL


def fresh_pg_database(admin_url: str) -> Iterator[str]:
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> Iterator[str]:
    """A URL to an empty database, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from fresh_pg_database(request.getfixturevalue("pg_admin_url"))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def pg_url(pg_admin_url) -> Iterator[str]:
    yield from fresh_pg_database(pg_admin_url)


@pytest.fixture
def ledger(db_url) -> Iterator[Ledger]:
    """An initialised ledger (schema at head) on each backend, with a fixed clock."""
    with Ledger.open(db_url, clock=fixed_clock) as opened:
        opened.init()
        yield opened


@pytest.fixture
def sqlite_ledger(sqlite_url) -> Iterator[Ledger]:
    with Ledger.open(sqlite_url, clock=fixed_clock) as opened:
        opened.init()
        yield opened


@pytest.fixture(scope="session")
def crash_history(tmp_path_factory) -> Path:
    """The main job's crash history (``examples/make_crash_history.py``, deterministic), written once per session."""
    path = tmp_path_factory.mktemp("crash-history") / "crash.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_crash_history.py"), str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def crash_url(crash_history, tmp_path_factory) -> str:
    """A SQLite ledger holding the crash history, made once per session through the CLI, for the tests that only read
    it (a test that appends makes its own: ``crash_history`` into its own database)."""
    from tests.support.cli import ok

    url = f"sqlite:///{tmp_path_factory.mktemp('crash-ledger') / 'crash.db'}"
    ok(url, "init")
    ok(url, "ingest", str(crash_history))
    return url
