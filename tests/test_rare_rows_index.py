"""The partial index of the rare rows: reads of rare kinds go through it, and find exactly what a scan finds.

``ledger liquidations``, ``bankruptcies``, the report and a sweep's base params
ask for a few rare kinds. Without the index each read the whole log; with it
they read the rare rows alone. SQLite uses a partial index only for a query
that repeats its predicate word for word, so these tests ask each database's
own planner.
"""

from __future__ import annotations

import importlib.util
import re

from sqlalchemy import text

from ledger.store.schema import COMMON_TYPES, RARE_ROWS
from ledger.store.sql import read_query
from tests.conftest import ROOT

HISTORY = ROOT / "examples" / "sample-history.jsonl"
"""The crash sample: deposits, trades and marks, with liquidations, bankruptcies, listings and an activation."""


def plan(engine, query) -> str:
    """What the database would do for ``query``, bound as the store binds it.

    PostgreSQL is asked with sequential scans priced out: on a table this
    small it would scan anyway, and the question is whether the index can
    answer at all (it cannot when the query does not imply its predicate).
    """
    with engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
        else:
            params = tuple(compiled.params[name] for name in compiled.positiontup)
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)
        return "\n".join(str(row[-1]) for row in rows)


def test_a_read_of_rare_kinds_goes_through_the_index(ledger):
    """A read of rare event kinds only goes through the partial index of rare rows; a read including a common kind does not."""
    ledger.ingest_file(HISTORY)
    engine = ledger.store.engine
    for kinds in (["liquidation"], ["liquidation", "bankruptcy"], ["rules_activated"]):
        assert "ix_events_rare" in plan(engine, read_query(types=kinds)), kinds
        assert "ix_events_rare" in plan(engine, read_query(types=kinds, upto_at="2099-01-01")), kinds
    for kinds in (["trade"], ["liquidation", "trade"], None):
        query = read_query(types=kinds)
        assert RARE_ROWS not in str(query) and "ix_events_rare" not in plan(engine, query), kinds


def test_the_index_finds_exactly_what_a_scan_finds(ledger):
    """A read by event kind finds exactly the rows a full scan finds, from the start or after any sequence number."""
    ledger.ingest_file(HISTORY)
    rows = list(ledger.store.read())
    kinds = sorted({r.type for r in rows})
    assert {"liquidation", "bankruptcy", "rules_activated", "market_listed"} <= set(kinds) and set(COMMON_TYPES) & set(kinds)
    for asked in [[k] for k in kinds] + [["liquidation", "bankruptcy"], ["market_listed", "rules_activated", "trade"]]:
        assert list(ledger.store.read(types=asked)) == [r for r in rows if r.type in asked], asked
    middle = rows[len(rows) // 2].seq
    assert list(ledger.store.read(types=["liquidation"], after_seq=middle)) == [
        r for r in rows if r.type == "liquidation" and r.seq > middle]


def test_the_predicate_the_reads_repeat_is_the_one_the_migration_built(ledger):
    """The rare-rows predicate the reads repeat is the one migration 0006 built the index with, on each database."""
    path = ROOT / "migrations" / "versions" / "0006_index_the_rare_rows.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration._RARE_ROWS == RARE_ROWS
    with ledger.store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            built = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_events_rare'")).scalar_one()
            assert "<>" in built and set(re.findall(r"'(\w+)'", built)) == set(COMMON_TYPES), built
        else:
            built = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'ix_events_rare'")).scalar_one()
            assert built.endswith("WHERE " + RARE_ROWS), built
