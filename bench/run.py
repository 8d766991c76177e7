"""Benchmarks: each figure beside a baseline measured in the same run.

Absolute times on shared machines are noise; the ratios are what we track
(targets in docs/performance.md). Not part of the test suite.

    .venv/bin/python -m bench.run                 # 1,000,000 events, SQLite and PostgreSQL
    .venv/bin/python -m bench.run --events 100000 --skip-positions
    LEDGER_BENCH_PG_URL=postgresql://user@host/db  # PostgreSQL figures (scripts/bench.sh starts a server)
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from attrs import define

from bench import peak
from bench.gen_history import generate
from ledger import Ledger
from ledger.domain.codec import decode_object
from ledger.domain.events import stream_of
from ledger.domain.timefmt import format_time
from ledger.replay import account as account_replay
from ledger.replay import load as replay
from ledger.reports import balances as reports
from ledger.store.sql import SQLITE_WRITER_CACHE_KIB

ROWS = ["seq", "event_id", "stream", "stream_version", "type", "schema_version", "at", "recorded_at", "payload", "hash"]
RESULTS: list[dict] = []
ROOT = Path(__file__).resolve().parents[1]
"""The project root: ``bench.peak`` runs from it in a child process."""


def report(name: str, ours: float, baseline: float | None, unit: str, target: str = "", better: str = "higher") -> None:
    ratio = (ours / baseline if better == "higher" else baseline / ours) if baseline else None
    RESULTS.append({"figure": name, "ours": ours, "baseline": baseline, "unit": unit, "ratio": ratio, "target": target})
    base = f"{baseline:>12,.1f}" if baseline is not None else " " * 12
    share = f"{ratio:6.1%}" if ratio is not None else "      "
    print(f"{name:<58} {ours:>12,.1f} {base} {unit:<10} {share}  {target}", flush=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def fastest(fn, *args, **kwargs):
    """``timed`` of the fastest of ``TRIES`` runs (the same call each time, nothing fresh between them)."""
    return min((timed(fn, *args, **kwargs) for _ in range(TRIES)), key=lambda run: run[0])


# -- append -------------------------------------------------------------------

def write_history(path: Path, n: int, accounts: int) -> None:
    with path.open("w") as handle:
        for record in generate(n, accounts=accounts, seed=11):
            handle.write(json.dumps(record) + "\n")


def stored_rows(url: str) -> list[tuple]:
    with Ledger.open(url) as ledger:
        return [tuple(getattr(r, c) for c in ROWS) for r in ledger.events()]


TRIES = 3
"""Each append figure is the best of this many runs: one unlucky flush to disk must not decide a ratio."""


def best_of(run, path: Path) -> float:
    """The fastest of ``TRIES`` runs of ``run(path)`` on a fresh SQLite file each time (removed after)."""
    times = []
    for _ in range(TRIES):
        times.append(run(path))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return min(times)


def sqlite_baseline(rows: list[tuple], path: Path, constraints: str | None = None) -> float:
    """Seconds for plain ``sqlite3`` ``executemany`` of the rows into a fresh table, committed.

    ``constraints`` None: the bare table (the target's baseline). Otherwise
    the table keyed on ``seq`` with these extra constraints, under the
    writer's page cache: what each of the log's indexes costs alone.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if constraints is None:
        conn.execute(f"CREATE TABLE bare ({', '.join(ROWS)})")
    else:
        conn.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
        conn.execute(f"CREATE TABLE bare (seq INTEGER PRIMARY KEY, {', '.join(ROWS[1:])}{constraints})")
    start = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(0, len(rows), 10_000):
        conn.executemany(f"INSERT INTO bare VALUES ({', '.join('?' * len(ROWS))})", rows[i:i + 10_000])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


INDEX_COSTS = {
    "primary key only": "",
    "primary key + unique event_id": ", UNIQUE (event_id)",
    "primary key + unique (stream, stream_version)": ", UNIQUE (stream, stream_version)",
}
"""The log's indexes one at a time (the real table has all three), for the SQLite floor's breakdown."""


def store_append(url: str, events: list, recorded_at: str) -> float:
    """The storage layer alone: encode, hash-chain and insert pre-validated events."""
    with Ledger.open(url) as ledger:
        ledger.init()
        start = time.perf_counter()
        with ledger.store.writer() as writer:
            for i in range(0, len(events), 10_000):
                writer.append_new(events[i:i + 10_000], recorded_at)
        return time.perf_counter() - start


def build_rows_only(url: str, events: list, recorded_at: str) -> float:
    """The storage layer's own work without a database: number, encode and hash-chain each row."""
    with Ledger.open(url) as ledger:
        ledger.init()
        with ledger.store.writer() as writer:
            streams = [stream_of(e) for e in events]
            for stream in set(streams):
                writer._versions[stream] = writer._versions_at_start[stream] = 0
            start = time.perf_counter()
            for _ in writer._rows(events, streams, recorded_at, []):
                pass
            return time.perf_counter() - start


def insert_prebuilt(url: str, rows: list[tuple]) -> float:
    """The same rows, already encoded and hashed, into the real events table (PK, unique indexes)."""
    with Ledger.open(url) as ledger:
        ledger.init()
        placeholders = ", ".join("?" * len(ROWS))
        start = time.perf_counter()
        with ledger.store.writer() as writer:  # the writer's own transaction and settings
            for i in range(0, len(rows), 10_000):
                writer.conn.exec_driver_sql(f"INSERT INTO events ({', '.join(ROWS)}) VALUES ({placeholders})", rows[i:i + 10_000])
        return time.perf_counter() - start


@define
class Appended:
    """What the append benchmarks leave for the later ones: the history, its database, and the append's own times."""

    url: str
    history: Path
    events: int
    sqlite_bare: float
    """seconds of the bare ``executemany``"""
    sqlite_store: float
    """seconds of the storage-layer append"""
    pg_bare: float | None = None
    """seconds of the bare ``COPY``"""
    pg_store: float | None = None


def bench_append(tmp: Path, n: int, accounts: int, pg_url: str | None) -> Appended:
    history = tmp / "history.jsonl"
    write_history(history, n, accounts)
    url = f"sqlite:///{tmp / 'full.db'}"
    with Ledger.open(url) as ledger:
        ledger.init()
        full, _ = timed(ledger.ingest_file, history)
    rows = stored_rows(url)
    events = [decode_object(dict(json.loads(r[8]), type=r[4], id=r[1], at=r[6]), allowed_types=frozenset({r[4]})) for r in rows]
    recorded_at = format_time(datetime(2026, 1, 1, tzinfo=UTC))
    base = best_of(lambda path: sqlite_baseline(rows, path), tmp / "bare.db")
    store = best_of(lambda path: store_append(f"sqlite:///{path}", events, recorded_at), tmp / "store.db")
    floor = best_of(lambda path: insert_prebuilt(f"sqlite:///{path}", rows), tmp / "floor.db")
    build = best_of(lambda path: build_rows_only(f"sqlite:///{path}", events, recorded_at), tmp / "build.db")
    report(f"SQLite append, storage layer ({len(rows):,} events)", len(rows) / store, len(rows) / base, "rows/s",
           ">= 50% of executemany")
    report("  floor: the same pre-built rows into the events table", len(rows) / floor, len(rows) / base, "rows/s",
           "the table's key and unique indexes only")
    report("  floor: building the rows alone (encode, hash; no database)", len(rows) / build, len(rows) / base, "rows/s",
           "the Python work per row only")
    for shape, constraints in INDEX_COSTS.items():
        alone = best_of(lambda path, constraints=constraints: sqlite_baseline(rows, path, constraints), tmp / "shape.db")
        report(f"  the same rows, table with {shape}", len(rows) / alone, len(rows) / base, "rows/s", "what each index costs")
    report("SQLite ingest, whole pipeline (decode, validate, fold, engine)", len(rows) / full, len(rows) / base, "rows/s")
    sqlite_cli = cli_ingest(tmp, f"sqlite:///{tmp / 'cli.db'}", history)
    report("SQLite `ledger ingest`, the whole command (a fresh database)", len(rows) / sqlite_cli["seconds"],
           len(rows) / base, "rows/s", ">= 25% of executemany")
    report_peak("`ledger ingest` on SQLite", sqlite_cli)
    appended = Appended(url, history, len(rows), base, store)
    if pg_url:
        appended.pg_store, appended.pg_bare = bench_append_pg(
            tmp, pg_url, rows, events, recorded_at, history, len(rows) / sqlite_cli["seconds"])
    return appended


def run_cli(tmp: Path, *args: str) -> dict:
    """``ledger ARGS`` as a user runs it, in a fresh process, and its peak memory (``bench.peak.run``).

    ``seconds`` is the whole process, start-up and imports included, as a
    user waits for it; ``bench.peak`` times only the command inside it.
    """
    result = peak.run(tmp / "peak.json", args)
    return {**result, "seconds": result["process_seconds"]}


def cli_ingest(tmp: Path, url: str, history: Path) -> dict:
    """``ledger --db URL init`` then ``ledger ingest FILE`` as a user runs them (the ingest alone is measured)."""
    subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True, capture_output=True)
    return run_cli(tmp, "--db", url, "ingest", str(history))


def report_peak(command: str, run: dict) -> None:
    report(f"  peak memory of {command} (RSS, whole process)", run["peak_kib"] / 1024, run["baseline_kib"] / 1024, "MB",
           "baseline: interpreter with the ledger imported", better="lower")


def copy_rows(url: str, table: str, rows: list[tuple]) -> float:
    """Seconds to ``COPY`` the rows into ``table`` and commit."""
    import psycopg

    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        with conn.cursor().copy(f"COPY {table} ({', '.join(ROWS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - start


_PG_COLUMNS = ("seq bigint", "event_id text", "stream text", "stream_version int", "type text", "schema_version int",
               "at text", "recorded_at text", "payload text", "hash text")


def create_pg_table(url: str, table: str, constraints: str | None) -> None:
    """A table for the rows: bare (``constraints`` None), or keyed on ``seq`` with these extra constraints."""
    import psycopg

    columns = list(_PG_COLUMNS)
    if constraints is not None:
        columns[0] += " PRIMARY KEY"
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE TABLE {table} ({', '.join(columns)}{constraints or ''})")
        conn.commit()


def bench_append_pg(tmp: Path, pg_url: str, rows: list[tuple], events: list, recorded_at: str, history: Path,
                    sqlite_cli_rate: float) -> tuple[float, float]:
    """The PostgreSQL figures; returns the seconds of the storage-layer append and of the bare ``COPY``."""
    import psycopg

    admin = psycopg.connect(pg_url, autocommit=True)
    url = pg_url.rsplit("/", 1)[0] + "/ledger_bench"
    runs = []
    try:
        for _ in range(TRIES):  # best of TRIES, each on a fresh database
            admin.execute("DROP DATABASE IF EXISTS ledger_bench WITH (FORCE)")
            admin.execute("CREATE DATABASE ledger_bench")
            store = store_append(url, events, recorded_at)
            with Ledger.open(url) as ledger:  # the floor: the same rows, pre-built, COPY'd into a fresh events table
                with ledger.store.engine.begin() as conn:
                    conn.exec_driver_sql("CREATE TABLE floor (LIKE events INCLUDING ALL)")
            floor = copy_rows(url, "floor", rows)
            create_pg_table(url, "bare", None)
            shapes = []
            for n, constraints in enumerate(INDEX_COSTS.values()):  # each of the log's indexes alone
                create_pg_table(url, f"shape{n}", constraints)
                shapes.append(copy_rows(url, f"shape{n}", rows))
            runs.append((store, floor, copy_rows(url, "bare", rows), *shapes))
        store, floor, base, *shapes = (min(r[i] for r in runs) for i in range(3 + len(INDEX_COSTS)))
        report(f"PostgreSQL append, storage layer ({len(rows):,} events)", len(rows) / store, len(rows) / base, "rows/s",
               ">= 50% of COPY")
        report("  floor: the same pre-built rows COPY'd into the events table", len(rows) / floor, len(rows) / base, "rows/s",
               "the table's key and unique indexes only")
        for shape, alone in zip(INDEX_COSTS, shapes, strict=True):
            report(f"  the same rows, table with {shape}", len(rows) / alone, len(rows) / base, "rows/s", "what each index costs")
        admin.execute("DROP DATABASE IF EXISTS ledger_bench WITH (FORCE)")
        admin.execute("CREATE DATABASE ledger_bench")
        pg_cli = cli_ingest(tmp, url, history)
        report("PostgreSQL `ledger ingest`, the whole command (a fresh database)", len(rows) / pg_cli["seconds"],
               len(rows) / base, "rows/s", ">= 25% of COPY")
        report("  the same, beside SQLite's whole command", len(rows) / pg_cli["seconds"], sqlite_cli_rate,
               "rows/s", ">= 50% of SQLite's (reliability issue)")
        report_peak("`ledger ingest` on PostgreSQL", pg_cli)
        return store, base
    finally:
        admin.execute("DROP DATABASE IF EXISTS ledger_bench WITH (FORCE)")
        admin.close()


# -- replay -------------------------------------------------------------------

def plain_loop(url: str, loads=json.loads) -> int:
    """Baseline: read the same rows, decode the JSON, add amounts into a dict of Decimals."""
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    count = 0
    for _kind, payload in conn.execute("SELECT type, payload FROM events ORDER BY seq"):
        body = loads(payload)
        amount = body.get("amount") or body.get("qty") or body.get("price")
        if amount is not None:
            totals[body.get("account") or body.get("market")] += Decimal(amount)
        count += 1
    conn.close()
    return count


def bench_audit(tmp: Path, url: str) -> None:
    """``ledger audit`` as a user runs it (exit 0: it passes) beside the plain loop (the issue's ≥ 12%)."""
    run = run_cli(tmp, "--db", url, "audit")
    assert run["status"] == 0, "the audit fails on the benchmark history"
    base, count = timed(plain_loop, url)
    report(f"`ledger audit`, the whole command ({count:,} events; passes)", count / run["seconds"], count / base,
           "events/s", ">= 12% of plain loop")
    report_peak("`ledger audit`", run)


WHATIF_PARAMS = {"liquidation_fee_rate": "0.005", "target_buffer": "0.5",
                 "markets": {market: {"maintenance_margin_rate": "0.0075", "initial_margin_rate": "0.015"}
                             for market in ("BTC-PERP", "ETH-PERP", "SOL-PERP")}}
"""partial-v1 with other params than the history's: every ingested event re-run under them."""


def bench_whatif(tmp: Path, url: str) -> None:
    """``ledger whatif`` as a user runs it (nothing written) beside the plain loop (the issue's ≥ 25%)."""
    params = tmp / "whatif-params.json"
    params.write_text(json.dumps(WHATIF_PARAMS))
    run = run_cli(tmp, "--db", url, "whatif", "--rules", "partial-v1", "--params", str(params), "--format", "json")
    base, count = timed(plain_loop, url)
    report(f"`ledger whatif`, partial-v1 with other params ({count:,} events)", count / run["seconds"], count / base,
           "events/s", ">= 25% of plain loop")
    report_peak("`ledger whatif`", run)


def bench_ceilings(appended: Appended) -> None:
    """Issue 14's floors: what ingest, audit and what-if would reach doing only their required parts.

    Each part is timed alone, with the ledger's own code, on the same
    history; a command's ceiling is the rate it would reach if it did these
    parts and nothing else (no validation, no liquidation index, no engine,
    no bookkeeping). Parts:

    - strict decoding: every check an ingested line must pass, so a bad line
      is refused naming it (the ingest's, and the audit's on stored rows);
    - the reference fold (``ledger.domain.fold.apply``): the frozen events,
      postings and states the engine decides on, and which the audit holds
      the replay fast path against;
    - the storage-layer append: rows numbered, encoded in the frozen byte
      format, hash-chained and inserted;
    - the chain's verification and the fast replay (the audit's other proofs).
    """
    from ledger.domain.fast_lines import decode_line_fast as decode_line  # what the ingest decodes with
    from ledger.domain.fold import apply
    from ledger.domain.state import LedgerState

    def reference_fold(events: list) -> None:
        state = LedgerState()
        for seq, event in enumerate(events, 1):
            apply(state, event, seq)

    def decode_all(lines: list[bytes]) -> list:
        return [decode_line(line) for line in lines]

    def decode_stored(rows: list, checked: bool) -> list:
        return [row.event(checked=checked) for row in rows]

    n = appended.events
    decode_lines, _ = fastest(decode_all, appended.history.read_bytes().splitlines())
    with Ledger.open(appended.url) as ledger:
        rows = list(ledger.store.read())
        verify, _ = fastest(ledger.store.verify)
        strict, _ = fastest(decode_stored, rows, True)
        trusted, events = fastest(decode_stored, rows, False)
        rows.clear()
        fold, _ = fastest(reference_fold, events)
        events.clear()
        fast, _ = fastest(replay.state_at, ledger.store, use_snapshots=False)
    plain, _ = fastest(plain_loop, appended.url)

    def ceiling(command: str, baseline: float, target: str, parts: dict[str, float]) -> None:
        report(f"Ceiling of {command}: its required parts alone", n / sum(parts.values()), n / baseline, "events/s", target)
        for part, seconds in parts.items():
            report(f"  part: {part}", n / seconds, n / baseline, "events/s")

    ingest_parts = {"strict decoding of the input lines": decode_lines, "the reference fold": fold}
    ceiling("`ledger ingest` (SQLite)", appended.sqlite_bare, "target 25% of executemany",
            {**ingest_parts, "the storage-layer append": appended.sqlite_store})
    if appended.pg_store is not None and appended.pg_bare is not None:
        ceiling("`ledger ingest` (PostgreSQL)", appended.pg_bare, "target 25% of COPY",
                {**ingest_parts, "the storage-layer append": appended.pg_store})
    ceiling("`ledger audit`", plain, "target 12% of plain loop",
            {"verifying the hash chain": verify, "strict decoding of the stored rows": strict,
             "the reference fold": fold, "the fast replay it is checked against": fast})
    ceiling("`ledger whatif`", plain, "target 25% of plain loop",
            {"decoding the stored rows": trusted, "the reference fold (the alternative world)": fold})


def bench_replay(url: str) -> None:
    import orjson

    from bench import replay_parts
    from bench import replay_references as references

    path = url.removeprefix("sqlite:///")
    with Ledger.open(url) as ledger:
        ours, state = fastest(replay.state_at, ledger.store, use_snapshots=False)
    base, count = fastest(plain_loop, url)
    report(f"Full replay into account state ({count:,} events)", count / ours, count / base, "events/s", ">= 70% of plain loop")
    fast_base, _ = fastest(plain_loop, url, orjson.loads)
    report("  the same, beside a plain loop decoding with orjson (as ours does)", count / ours, count / fast_base, "events/s")
    with Ledger.open(url) as ledger:
        reading, _ = timed(lambda: sum(len(rows) for rows in ledger.store.read_batches()))
    report("  of which: reading the rows (no decoding, no fold)", count / reading, count / base, "events/s")
    plainest, folded = fastest(references.plainest_fold, path)
    assert references.matches(folded, state), "the plainest fold does not reach the replay's figures"
    report("  reference: the plainest fold keeping the same state (flat dicts)", count / plainest, count / base,
           "events/s", "the replay's work, plainly")
    got = replay_parts.gather(path, state)
    parts = replay_parts.parts(path, got)
    del got
    report("Ceiling of the full replay: its required parts alone", count / sum(parts.values()), count / base, "events/s",
           "target 70% of plain loop")
    for part, seconds in parts.items():
        report(f"  part: {part}", count / seconds, count / base, "events/s")
    peak = subprocess.run([sys.executable, "-c", PEAK, url], capture_output=True, text=True, check=True).stdout.split()
    report("Peak memory of the full replay (RSS, whole process)", int(peak[0]) / 1024, int(peak[1]) / 1024, "MB",
           "baseline: interpreter with the ledger imported", better="lower")


PEAK = """
import sys
from ledger import Ledger
from ledger.replay import load as replay

def high_water_kb():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = high_water_kb()
with Ledger.open(sys.argv[1]) as ledger:
    replay.state_at(ledger.store, use_snapshots=False)
print(high_water_kb(), before)
"""


def bench_single_account(tmp: Path, accounts: int, lengths: list[int]) -> None:
    """Replaying to the head with a snapshot: the cost of the tail, not of the history."""
    for n in lengths:
        history = tmp / f"h{n}.jsonl"
        write_history(history, n, accounts)
        url = f"sqlite:///{tmp / f's{n}.db'}"
        with Ledger.open(url) as ledger:
            ledger.init()
            ledger.ingest_file(history)
            ledger.snapshot()
            tail = tmp / f"tail{n}.jsonl"
            tail.write_text("".join(json.dumps({"type": "deposit", "id": f"tail-{i}", "at": "2025-01-01T00:00:00Z",
                                                "account": "acct000001", "asset": "USD", "amount": "1"}) + "\n"
                                    for i in range(100)))
            every, account_replay.ACCOUNT_SNAPSHOT_EVERY = account_replay.ACCOUNT_SNAPSHOT_EVERY, 10**9
            try:  # exactly 100 events after the snapshots: no new snapshot in between
                ledger.ingest_file(tail)
            finally:
                account_replay.ACCOUNT_SNAPSHOT_EVERY = every
            elapsed, state = min((timed(ledger.state) for _ in range(3)), key=lambda r: r[0])
            full, _ = timed(replay.state_at, ledger.store, use_snapshots=False)
            one, alone = min((timed(ledger.account, "acct000001") for _ in range(3)), key=lambda r: r[0])
        assert state.accounts["acct000001"].cash["USD"] > 0
        assert reports.balances(alone, "acct000001")["accounts"] == reports.balances(state, "acct000001")["accounts"]
        report(f"One account at head, its snapshot + 100 events (history {n:,})", one * 1000, full * 1000, "ms",
               "flat as history grows; baseline: full replay", better="lower")
        report(f"  whole ledger at head, snapshot + 100 events (history {n:,})", elapsed * 1000, full * 1000, "ms",
               "follows the state's size", better="lower")


def run_all(args: argparse.Namespace, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        appended = bench_append(tmp, args.events, args.accounts, pg_url)
        url = appended.url
        bench_replay(url)
        bench_audit(tmp, url)
        bench_whatif(tmp, url)
        bench_ceilings(appended)
        bench_single_account(tmp, 1000, [10_000, 100_000, min(args.events, 1_000_000)])
        if not args.skip_eventsourcing:
            from bench.eventsourcing_compare import compare

            compare(tmp, url, report)
        if not args.skip_positions:
            from bench.marks import bench_marks

            bench_marks(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--skip-positions", action="store_true", help="skip the mark-index benchmark")
    parser.add_argument("--skip-eventsourcing", action="store_true")
    parser.add_argument("--json", type=Path, default=Path("out/bench.json"))
    parser.add_argument("--replay-only", metavar="URL",
                        help="only the full replay's figures, on this existing SQLite database (sqlite:///PATH) "
                             "holding a history of the benchmark's mix (bench.gen_history)")
    args = parser.parse_args()
    pg_url = os.environ.get("LEDGER_BENCH_PG_URL")
    print(f"{'figure':<58} {'ours':>12} {'baseline':>12} {'unit':<10} {'ratio':>6}  target")
    if args.replay_only:
        bench_replay(args.replay_only)
    else:
        run_all(args, pg_url)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(RESULTS, indent=1))
    print(f"\nresults written to {args.json}")


if __name__ == "__main__":
    main()
