"""Writers taking turns on a large book: the append of a writer that finds the others' rows at the head.

A writer that finds other writers' rows at the head folds them onto its warm
state; its liquidation index is then carried over them (only the accounts they
moved are re-indexed) or, as before issue 14's second session, rebuilt at the
next mark of its batch: O(positions), under the log's lock. The benchmark
history (``bench.gen_history``, partial-v1 in force) is ingested once into
SQLite; then writers take turns on it, each transaction a deposit and a mark at
the current price:

- two ``Ledger`` writers in one process on the SQLite file, the second one's
  appends timed (its catch-up over the first's rows, the fold, the mark's
  candidates, the insert, the commit);
- with ``--pg``: the same book copied into a fresh PostgreSQL database, then N
  writer processes at once (``--processes``), each appending ``--rounds``
  transactions: commit latency (p50, p90) and throughput.

    python -m bench.catch_up [--events 100000] [--accounts 10000] [--rounds 12] [--pg ADMIN_URL --processes 1,2,4]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.run import copy_rows, stored_rows, write_history
from ledger import Ledger
from ledger.domain.codec import decode_object
from ledger.domain.timefmt import format_time


def _batch(who: str, n: int, at: str, price: str) -> list:
    """One transaction: a deposit into the writer's own account and a mark of BTC-PERP at ``price``."""
    return [(f"{who} {n}", decode_object(record)) for record in (
        {"type": "deposit", "id": f"cu-{who}-d{n}", "at": at, "account": f"cu-{who}", "asset": "USD", "amount": "10"},
        {"type": "mark", "id": f"cu-{who}-k{n}", "at": at, "market": "BTC-PERP", "price": price},
    )]


def in_one_process(url: str, rounds: int) -> None:
    with Ledger.open(url) as timed_writer, Ledger.open(url) as other:
        state = timed_writer.state()
        price, start = str(state.markets["BTC-PERP"].price), state.last_at
        assert start is not None
        timed_writer.append_located(_batch("timed", 0, format_time(start), price))  # warm: the index built at its mark
        seconds = []
        for n in range(1, rounds + 1):
            at = format_time(start + timedelta(seconds=n))
            other.append_located(_batch("other", n, at, price))
            began = time.perf_counter()
            timed_writer.append_located(_batch("timed", n, at, price))
            seconds.append(time.perf_counter() - began)
        entries = timed_writer._unit.warm.index.size() if timed_writer._unit.warm else 0
    print(f"SQLite, two writers in one process ({entries:,} trigger entries in the index): the append after the "
          f"other's, median {statistics.median(seconds) * 1000:.1f} ms (min {min(seconds) * 1000:.1f}, "
          f"max {max(seconds) * 1000:.1f}, {rounds} rounds)")


def _writer(url: str, who: str, rounds: int, at: str, price: str, results, barrier) -> None:
    with Ledger.open(url) as ledger:
        ledger.append_located(_batch(who, 0, at, price))  # warm
        barrier.wait()
        seconds = []
        for n in range(1, rounds + 1):
            began = time.perf_counter()
            ledger.append_located(_batch(who, n, at, price))
            seconds.append(time.perf_counter() - began)
    results.put(seconds)


def on_postgres(admin_url: str, book: str, processes: list[int], rounds: int) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS ledger_catch_up WITH (FORCE)")
        admin.execute("CREATE DATABASE ledger_catch_up")
    url = admin_url.rsplit("/", 1)[0] + "/ledger_catch_up"
    try:
        with Ledger.open(url) as ledger:
            ledger.init()
        copy_rows(url, "events", stored_rows(f"sqlite:///{book}"))  # the book's rows as stored, chain and all
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE events")
        with Ledger.open(url) as ledger:
            state = ledger.state()
        assert state.last_at is not None
        at, price = format_time(state.last_at), str(state.markets["BTC-PERP"].price)
        context = multiprocessing.get_context("spawn")
        for n in processes:
            results, barrier = context.Queue(), context.Barrier(n + 1)
            writers = [context.Process(target=_writer, args=(url, f"{n}w{i}", rounds, at, price, results, barrier))
                       for i in range(n)]
            for writer in writers:
                writer.start()
            barrier.wait()
            began = time.perf_counter()
            seconds = sorted(s for _ in writers for s in results.get())
            elapsed = time.perf_counter() - began
            for writer in writers:
                writer.join()
            print(f"PostgreSQL, {n} writer process(es): {n * rounds / elapsed:,.1f} transactions/s, commit p50 "
                  f"{statistics.median(seconds) * 1000:.0f} ms, p90 {seconds[int(0.9 * (len(seconds) - 1))] * 1000:.0f} ms")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS ledger_catch_up WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--pg", help="an admin URL of a PostgreSQL server (a database is created on it)")
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        history, book = Path(tmp) / "history.jsonl", Path(tmp) / "book.db"
        write_history(history, args.events, args.accounts)
        with Ledger.open(f"sqlite:///{book}") as ledger:
            ledger.init()
            ledger.ingest_file(history)
        print(f"{args.events:,} events, {args.accounts:,} accounts")
        if args.pg:
            on_postgres(args.pg, str(book), [int(n) for n in args.processes.split(",")], args.rounds)
        in_one_process(f"sqlite:///{book}", args.rounds)


if __name__ == "__main__":
    main()
