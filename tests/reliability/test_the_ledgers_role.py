"""#27 point 11: the daily commands run as the role the docs prescribe, and that role cannot rewrite the log.

The role docs/reliability.md prescribed (SELECT, INSERT on ``events`` and
``seals``; SELECT, INSERT, DELETE on ``snapshots``) could not run ``ingest``,
``balances`` or ``verify`` (exit 4: no SELECT on ``alembic_version``), and
once that was granted it never wrote a snapshot (no USAGE on the snapshots'
id sequence): every append replayed the whole log, and only a WARNING said
so. The privileges now come from one place (``ledger.store.grants``, applied
by ``ledger grant ROLE`` as the schema's owner); here a new role gets exactly
those and runs every daily command, keyed and not, while the database refuses
it every rewrite.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError

from ledger.store import grants
from ledger.store.engine import normalise_url
from tests.conftest import ROOT, fresh_pg_database
from tests.support.cli import ok, run

SAMPLE = ROOT / "examples" / "sample-history.jsonl"


def _sql(url: str, *statements: str) -> list:
    """Run ``statements`` at ``url`` in one transaction; the rows of the last one (if any)."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                result = conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def role(pg_admin_url) -> Iterator[str]:
    """A new ordinary login role (cluster-wide, so named afresh), dropped after the test's databases are."""
    name = f"ledger_app_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(pg_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def owned(role, pg_admin_url) -> Iterator[tuple[str, str]]:
    """(owner's URL, the role's URL) of a new database the owner initialised and granted ``role`` its privileges in."""
    for url in fresh_pg_database(pg_admin_url):
        ok(url, "init")
        out = ok(url, "grant", role)
        assert f"{role} holds exactly the privileges the daily commands need" in out
        yield url, make_url(url).set(username=role).render_as_string(hide_password=False)


def _deposits(path: Path, first: int, count: int, account: str = "carol") -> Path:
    """``count`` deposits, one second apart, after the sample history's day began."""
    path.write_text("".join(json.dumps({
        "type": "deposit", "id": f"dep-{first + n}", "at": f"2024-08-05T{1 + (first + n) // 3600:02d}:"
        f"{(first + n) // 60 % 60:02d}:{(first + n) % 60:02d}Z", "account": account, "asset": "USD", "amount": "1"})
        + "\n" for n in range(count)))
    return path


def test_the_grants_are_one_table_that_never_lets_the_role_rewrite_the_log(monkeypatch):
    """Every table is readable, only ``WRITES`` adds, no append-only table ever gets UPDATE, DELETE or TRUNCATE (a
    change that tried is refused by the code itself), and docs/storage.md shows the table as the code grants it."""
    granted = grants.table_privileges()
    assert granted["alembic_version"] == ("SELECT",) and granted["events"] == ("SELECT", "INSERT")
    assert granted["snapshots"] == ("SELECT", "INSERT", "DELETE") and grants.sequences() == ["snapshots_id_seq"]
    assert all(set(granted[t]).isdisjoint(grants.FORBIDDEN) for t in grants.APPEND_ONLY if t in granted)
    monkeypatch.setitem(grants.WRITES, "events", ("INSERT", "UPDATE"))
    with pytest.raises(AssertionError, match="would rewrite an append-only table"):
        grants.table_privileges()
    monkeypatch.undo()
    documented = dict(re.findall(r"^\| `(\w+)` \| ([A-Z, ]+) \|", (ROOT / "docs" / "storage.md").read_text(), re.M))
    assert documented == {name: ", ".join(p) for name, p in granted.items()} | {"snapshots_id_seq": "USAGE"}


def test_every_table_and_sequence_the_migrations_build_is_granted(pg_url):
    """What ``grant`` covers is what the migrations built: no table, no sequence left out (a new table in
    ``schema.py`` is covered the moment it exists), none named that is not there."""
    ok(pg_url, "init")
    tables = {r[0] for r in _sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    sequences = {r[0] for r in _sql(pg_url, "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")}
    assert tables == set(grants.table_privileges()) and sequences == set(grants.sequences())


def test_the_daily_commands_run_as_exactly_the_granted_role(owned, tmp_path):
    """As the role: ``init`` has nothing to do, ``ingest`` stores and writes the snapshot it made due (a row in
    ``snapshots``, its digest bound in the log), and balances, account, liquidations, verify, audit and history
    answer, each with exit 0."""
    owner, daily = owned
    assert "at head" in ok(daily, "init")
    ok(daily, "ingest", str(SAMPLE))
    ok(daily, "ingest", str(_deposits(tmp_path / "more.jsonl", 0, 1_000)))
    written = _sql(owner, "SELECT count(*) FROM snapshots WHERE scope = 'ledger'")[0][0]
    bound = _sql(owner, "SELECT count(*) FROM events WHERE snapshot_digest IS NOT NULL")[0][0]
    assert written >= 1 and bound >= 1, "the whole-ledger snapshot the ingest made due was written by the role"
    assert _sql(owner, "SELECT count(*) FROM snapshots WHERE scope = 'account:carol'")[0][0] >= 1
    assert json.loads(ok(daily, "balances", "--format", "json"))["accounts"]["carol"]
    assert json.loads(ok(daily, "account", "carol", "--format", "json"))
    assert json.loads(ok(daily, "liquidations", "--format", "json")), "the sample history liquidates"
    assert ok(daily, "verify").startswith("ok: 1051 events")
    ok(daily, "audit")
    assert "dep-999" in ok(daily, "history", "carol", "--format", "csv")


def test_keyed_appends_seal_and_rotate_as_the_granted_role(owned, tmp_path):
    """With a key, as the role: ``seal`` vouches for the history, a keyed ingest seals its rows, ``rotate-key`` hands
    over to a new key, and the new key's appends and reads work: every seal and the rotation written by the role."""
    owner, daily = owned
    ok(daily, "ingest", str(SAMPLE))
    key, new_key = tmp_path / "ledger.key", tmp_path / "next.key"
    ok(daily, "keygen", str(key))
    ok(daily, "--key", str(key), "seal")
    ok(daily, "--key", str(key), "ingest", str(_deposits(tmp_path / "a.jsonl", 0, 20)))
    assert _sql(owner, "SELECT count(*) FROM seals")[0][0] == 2
    ok(daily, "keygen", str(new_key))
    ok(daily, "--key", str(key), "rotate-key", str(new_key))
    ok(daily, "--key", str(new_key), "ingest", str(_deposits(tmp_path / "b.jsonl", 20, 1_000)))
    assert _sql(owner, "SELECT count(*) FROM seals")[0][0] == 3
    assert _sql(owner, "SELECT count(*) FROM key_rotations")[0][0] == 1
    assert _sql(owner, "SELECT count(*) FROM snapshots WHERE scope = 'ledger' AND seal IS NOT NULL")[0][0] >= 1
    assert json.loads(ok(daily, "--key", str(new_key), "balances", "--format", "json"))["accounts"]["carol"]
    ok(daily, "--key", str(new_key), "verify")
    ok(daily, "--key", str(new_key), "audit")


def test_the_role_cannot_rewrite_the_log_the_database_refuses_before_any_trigger(owned):
    """UPDATE, DELETE and TRUNCATE of the log, its seals, key rotations and identity are refused to the role by the
    database's privileges ("permission denied", before the append-only triggers are even asked)."""
    owner, daily = owned
    ok(daily, "ingest", str(SAMPLE))
    columns = {"events": "seq", "seals": "seq_to", "key_rotations": "after_seq", "ledger_identity": "bound_from"}
    assert set(columns) == set(grants.APPEND_ONLY)
    for table, column in columns.items():
        for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}", f"TRUNCATE {table}"):
            with pytest.raises(ProgrammingError, match=f"permission denied for table {table}"):
                _sql(daily, statement)
    assert _sql(owner, "SELECT count(*) FROM events")[0][0] == 51


def test_a_role_without_the_grants_is_told_what_is_missing_not_an_internal_error(role, pg_url):
    """A role that lacks a privilege gets exit 3 naming the table the database refused it, and where the fix is
    (``ledger grant``); it used to be exit 4, an internal error with a crash log."""
    ok(pg_url, "init")
    daily = make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    code, _, err = run(daily, "balances")
    assert code == 3, err
    assert "permission denied for table alembic_version" in err and "ledger grant ROLE" in err


def test_grant_refuses_an_unlimited_role_and_names_what_a_public_grant_adds(owned, role, pg_admin_url):
    """``grant`` refuses (exit 2, nothing changed) a superuser or the tables' owner, which no grant limits, and a role
    that can still do more than it grants (here UPDATE on the log through PUBLIC) fails with exit 1, naming it."""
    owner, _ = owned
    admin = make_url(pg_admin_url).username
    code, _, err = run(owner, "grant", admin)
    assert code == 2 and "is a superuser: no grant limits it" in err and "Nothing was changed" in err
    _sql(owner, "GRANT UPDATE ON events TO PUBLIC")
    code, _, err = run(owner, "grant", role)
    assert code == 1 and "UPDATE on events" in err
    _sql(owner, "REVOKE UPDATE ON events FROM PUBLIC")
    assert run(owner, "grant", "no_such_role")[0] == 2


def test_grant_prints_its_statements_and_refuses_a_database_without_roles(sqlite_url):
    """``grant ROLE --sql`` prints what it would run (for psql) and runs nothing; on SQLite there are no roles: exit 2."""
    role = "ledger_app"
    printed = ok(sqlite_url, "grant", role, "--sql").splitlines()
    assert printed == grants.statements(role) and f'GRANT SELECT, INSERT ON TABLE events TO "{role}";' in printed
    ok(sqlite_url, "init")
    code, _, err = run(sqlite_url, "grant", role)
    assert code == 2 and "has no roles" in err
