"""The privileges of the role the ledger runs as on PostgreSQL: decided here, once, for the schema as it is.

The schema's owner creates and migrates it (``ledger init``); the daily
commands (ingest, balances, account, verify, audit, history, liquidations,
seal, ...) should run as a role that reads and appends and can do nothing
else. The triggers already refuse UPDATE, DELETE and TRUNCATE on the log, but
a table's owner or a superuser can drop a trigger; a role without those
privileges cannot even ask. What that role needs was written in the docs by
hand and was wrong (no SELECT on ``alembic_version``: every command failed;
no USAGE on the snapshots' id sequence: no snapshot was ever written, so
every append replayed the whole log). Now it is made here from the schema
itself: ``ledger grant ROLE`` applies it and checks what the role can still
do, ``ledger grant ROLE --sql`` prints it for psql, docs/storage.md shows it,
and ``tests/reliability/test_the_ledgers_role.py`` runs the daily commands as
exactly that role.

Every table of the schema (``schema.metadata``, which the drift test holds
equal to the migrations) and Alembic's ``alembic_version`` is readable; only
the tables named in ``WRITES`` are written, and only as named there. A table
a later migration adds is covered by adding it to ``schema.py`` (as every
migration must): read-only unless it gets a line in ``WRITES``. Sequences
follow the tables the role inserts into.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, text

from ledger.errors import RoleUnusable
from ledger.store.schema import metadata
from ledger.store.sql import SqlEventStore

__all__ = ["WRITES", "APPEND_ONLY", "FORBIDDEN", "table_privileges", "sequences", "statements", "quoted", "apply", "excess"]

WRITES: Mapping[str, tuple[str, ...]] = {
    "events": ("INSERT",),  # appends (COPY on PostgreSQL needs INSERT only)
    "seals": ("INSERT",),  # a keyed append's seal, `ledger seal`
    "key_rotations": ("INSERT",),  # `ledger rotate-key`: a record both keys sign
    "snapshots": ("INSERT", "DELETE"),  # a cache: written after appends, thinned as new ones come
}
"""What the daily commands write, beyond reading every table: the one place to change when a command writes more."""

APPEND_ONLY = ("events", "seals", "key_rotations", "ledger_identity")
"""Tables the ledger's role must never be able to rewrite: holding ``FORBIDDEN`` on one is refused here, by code."""

FORBIDDEN = ("UPDATE", "DELETE", "TRUNCATE")

_ALEMBIC = "alembic_version"
"""Alembic's own table: every command reads the schema's revision from it (exit 2 when it is not this code's)."""

_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")


def table_privileges() -> dict[str, tuple[str, ...]]:
    """Every table the daily commands touch, and what the role may do there: SELECT, and what ``WRITES`` adds."""
    tables = sorted([_ALEMBIC, *metadata.tables])
    unknown = set(WRITES) - set(tables)
    assert not unknown, f"WRITES names tables the schema does not have: {sorted(unknown)}"
    granted = {table: ("SELECT", *WRITES.get(table, ())) for table in tables}
    rewrites = {(table, p) for table in APPEND_ONLY if table in granted for p in granted[table] if p in FORBIDDEN}
    assert not rewrites, f"the ledger's role would rewrite an append-only table: {sorted(rewrites)}"
    return granted


def sequences() -> list[str]:
    """The sequences behind the tables the role inserts into (PostgreSQL names a serial column's ``TABLE_COLUMN_seq``):
    an insert draws its id from one, which needs USAGE."""
    found = []
    for name, privileges in WRITES.items():
        column = metadata.tables[name].autoincrement_column
        if "INSERT" in privileges and column is not None:
            found.append(f"{name}_{column.name}_seq")
    return sorted(found)


def quoted(role: str) -> str:
    """``role`` as a PostgreSQL identifier, exactly as spelled (quoted: never folded to lower case, never SQL)."""
    return '"' + role.replace('"', '""') + '"'


def statements(role: str) -> list[str]:
    """The SQL that leaves ``role`` with exactly these privileges on the ledger's tables and sequences (anything granted
    to it directly before is revoked first); the schema's owner runs it, after ``ledger init``."""
    who = quoted(role)
    lines = []
    for table, privileges in table_privileges().items():
        lines += [f"REVOKE ALL ON TABLE {table} FROM {who};", f"GRANT {', '.join(privileges)} ON TABLE {table} TO {who};"]
    for sequence in sequences():
        lines += [f"REVOKE ALL ON SEQUENCE {sequence} FROM {who};", f"GRANT USAGE ON SEQUENCE {sequence} TO {who};"]
    return lines


def apply(store: object, role: str) -> list[str]:
    """Run ``statements(role)`` on the store's database in one transaction, as the schema's owner; then what the role
    can still do beyond them (``excess``): nothing, when it holds exactly the ledger's privileges."""
    engine = store.engine if isinstance(store, SqlEventStore) else None
    if engine is None or engine.dialect.name != "postgresql":
        kind = "an in-memory ledger" if engine is None else engine.dialect.name
        raise RoleUnusable(f"{kind} has no roles: the ledger's privileges there are the database file's permissions "
                           "(the triggers still refuse UPDATE and DELETE on the log)")
    with engine.begin() as conn:
        _refuse_an_unlimited_role(conn, role)
        for statement in statements(role):
            conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        return excess(conn, role)


def _refuse_an_unlimited_role(conn: Connection, role: str) -> None:
    """``RoleUnusable``, before anything is granted or revoked, for a role no grant can limit (or that is not there)."""
    found = conn.execute(text(
        "SELECT rolsuper, pg_has_role(rolname, (SELECT tableowner FROM pg_tables WHERE tablename = 'events' "
        "AND schemaname = current_schema()), 'MEMBER') FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
    if found is None:
        raise RoleUnusable(f"no role {role!r} in this database server: create it first (CREATE ROLE {quoted(role)} "
                           "LOGIN ...), then grant")
    if found[0] or found[1]:
        what = "is a superuser" if found[0] else "owns the ledger's tables, or is a member of their owner's role"
        raise RoleUnusable(f"{role!r} {what}: no grant limits it (it can drop the triggers that keep the log "
                           "append-only); the daily commands run as an ordinary role of their own. Nothing was changed")


def excess(conn: Connection, role: str) -> list[str]:
    """Every privilege PostgreSQL says ``role`` holds on the ledger's tables and sequences beyond ``table_privileges``
    and USAGE, one line each (a grant to PUBLIC or to a role it belongs to; a superuser or an owner holds them all)."""
    checks: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
        ("has_table_privilege", table, allowed, _TABLE_PRIVILEGES) for table, allowed in table_privileges().items()]
    checks += [("has_sequence_privilege", sequence, ("USAGE",), _SEQUENCE_PRIVILEGES) for sequence in sequences()]
    return [f"{privilege} on {name}" for function, name, allowed, kinds in checks for privilege in kinds
            if privilege not in allowed and conn.execute(text(f"SELECT {function}(:role, :name, :privilege)"),
                                                         {"role": role, "name": name, "privilege": privilege}).scalar()]
