"""PostgreSQL ingest stays linear in the file's length (reliability issue, point 13).

The attack: one large file into a fresh PostgreSQL database. Inside its single
transaction the events table grows from empty, so the planner (no statistics,
and the driver preparing repeated statements) kept choosing sequential scans
for the writer's keyed look-ups (duplicate ids, stream versions): every chunk
re-read the whole table, and 100,000 lines took 127 s. The writer now plans
its look-ups with sequential scans disabled for its transaction, so each goes
through the unique index, whatever the planner believes about the table.

The regular test counts work rather than time: the tuples read by sequential
scans of ``events`` during the ingest, from PostgreSQL's own statistics. The
slow variant times the two halves of a 200,000-line file, as the issue asks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.gen_history import generate
from ledger import Ledger
from ledger.store.engine import normalise_url

pytestmark = pytest.mark.postgres


def write_history(path: Path, n: int) -> Path:
    with path.open("w") as handle:
        for record in generate(n, accounts=500, seed=13):
            handle.write(json.dumps(record) + "\n")
    return path


def events_table_stats(url: str, inserted: int) -> dict[str, int]:
    """``pg_stat_user_tables`` for ``events`` once the ingest's backend has reported its ``inserted`` rows."""
    engine = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for _ in range(100):  # a backend reports its counters as it exits: wait for them (at most 10 s)
                row = conn.execute(text(
                    "SELECT seq_scan, seq_tup_read, idx_scan, n_tup_ins FROM pg_stat_user_tables WHERE relname = 'events'"
                )).mappings().one()
                if row["n_tup_ins"] >= inserted:
                    return dict(row)
                conn.execute(text("SELECT pg_stat_clear_snapshot()"))
                time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"PostgreSQL never reported the {inserted} inserted rows: {dict(row)}")


def test_a_large_ingest_reads_no_table_sequentially_on_postgres(pg_url, tmp_path):
    """Twelve chunks (past the driver's prepare threshold): the look-ups go through the indexes, none re-reads the table."""
    lines = 24_000
    history = write_history(tmp_path / "history.jsonl", lines)
    with Ledger.open(pg_url) as ledger:
        ledger.init()
        result = ledger.ingest_file(history)
    assert result.appended == lines
    stats = events_table_stats(pg_url, result.head_seq)
    # before the fix: ~500,000 tuples (every chunk scanned the table so far); an O(n) bound would still allow one scan
    assert stats["seq_tup_read"] < lines, stats
    assert stats["idx_scan"] > 0, stats


@pytest.mark.slow
def test_the_second_half_of_a_200k_line_file_ingests_as_fast_as_the_first_on_postgres(pg_url, tmp_path):
    """Per-line time of the second half within 1.5x of the first (before the fix: over 5x at 40,000 lines)."""
    history = write_history(tmp_path / "history.jsonl", 200_000)
    size, read, halfway = history.stat().st_size, [0], []
    with Ledger.open(pg_url) as ledger:
        ledger.init()
        start = time.perf_counter()

        def progress(n: int) -> None:
            read[0] += n
            if not halfway and read[0] >= size / 2:
                halfway.append(time.perf_counter())

        ledger.ingest_file(history, progress=progress)
        end = time.perf_counter()
    first, second = halfway[0] - start, end - halfway[0]
    assert second <= 1.5 * first, f"first half {first:.1f} s, second half {second:.1f} s"
