"""Concurrent writers on one PostgreSQL database: throughput, commit latency, and a gap-free log.

For each N (default 1, 2, 4, 8): a fresh database, a seed (markets, rules,
one mark each), then N processes, each appending its own accounts' deposits
and trades in batches (one transaction per batch, ``Ledger.append_located``,
as an ingest does), all released at once. Reports total events/s, p50/p99
commit latency (one batch: waiting for the log's lock, folding, numbering,
hash-chaining, inserting, committing), and checks afterwards that the global
sequence is 1..n without a gap and every event is present exactly once.

    python -m bench.concurrency --pg postgresql://USER@HOST:PORT/postgres [--processes 1,2,4,8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from decimal import Decimal

import psycopg
from sqlalchemy.engine import make_url

from ledger import Ledger
from ledger.domain.codec import decode_object

AT = "2024-01-01T00:00:00Z"
MARKETS = {"BTC-PERP": ("0.001", "60000"), "ETH-PERP": ("0.01", "3000")}


def _seed() -> list[dict]:
    rates = {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}
    out: list[dict] = [{"type": "market_listed", "id": f"m-{m}", "at": AT, "market": m, "settle_asset": "USD",
                        "lot_size": lot} for m, (lot, _) in MARKETS.items()]
    out.append({"type": "rules_activated", "id": "r", "at": AT, "version": "partial-v1", "params": {
        "liquidation_fee_rate": "0.002", "target_buffer": "0.25", "markets": dict.fromkeys(MARKETS, rates)}})
    out += [{"type": "mark", "id": f"k-{m}", "at": AT, "market": m, "price": price} for m, (_, price) in MARKETS.items()]
    return out


def _batches(writer: int, batches: int, size: int) -> list[list[dict]]:
    """``writer``'s own accounts: a deposit each, then small fills on both sides (no account is ever distressed)."""
    accounts = [f"w{writer}-a{i:03d}" for i in range(size)]
    out = [[{"type": "deposit", "id": f"w{writer}-d-{a}", "at": AT, "account": a, "asset": "USD", "amount": "100000"}
            for a in accounts]]
    for b in range(1, batches):
        batch = []
        for i, account in enumerate(accounts):
            market = "BTC-PERP" if (b + i) % 2 else "ETH-PERP"
            lot, price = MARKETS[market]
            side = "buy" if (b // 2 + i) % 2 else "sell"
            batch.append({"type": "trade", "id": f"w{writer}-t{b}-{i}", "at": AT, "account": account, "market": market,
                          "side": side, "qty": str(Decimal(lot) * 3), "price": price, "fee": "0.01"})
        out.append(batch)
    return out


def _writer(url: str, writer: int, batches: int, size: int, start, results) -> None:
    work = [[(f"w{writer} b{n} #{i}", decode_object(r)) for i, r in enumerate(batch)] for n, batch in
            enumerate(_batches(writer, batches, size))]
    latencies = []
    with Ledger.open(url) as ledger:
        ledger.head_seq()  # connect before the start: the connection is not what is measured
        start.wait()
        for records in work:
            t = time.perf_counter()
            ledger.append_located(records)
            latencies.append(time.perf_counter() - t)
    results.put((writer, latencies, time.perf_counter()))


def _fresh_database(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def run(admin: str, processes: int, batches: int, size: int) -> dict:
    url = _fresh_database(admin, f"bench_concurrency_{processes}")
    with Ledger.open(url) as ledger:
        ledger.init()
        seed = _seed()
        ledger.append_located([(f"seed #{i}", decode_object(r)) for i, r in enumerate(seed)])
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=_writer, args=(url, w, batches, size, start, results)) for w in range(processes)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    found = [results.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    wall = max(end for _, _, end in found) - began
    latencies = sorted(x for _, lat, _ in found for x in lat)
    expected = len(seed) + processes * batches * size
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        count, low, high, distinct = conn.execute(
            "SELECT count(*), min(seq), max(seq), count(DISTINCT event_id) FROM events").fetchone()
    assert (count, low, high, distinct) == (expected, 1, expected, expected), (count, low, high, distinct, expected)
    appended = processes * batches * size
    return {"processes": processes, "events": appended, "wall_s": wall, "events_per_s": appended / wall,
            "p50_ms": 1e3 * statistics.median(latencies), "p99_ms": 1e3 * latencies[int(0.99 * (len(latencies) - 1))],
            "gap_free": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", required=True, help="an admin URL of the server (databases are created on it)")
    parser.add_argument("--processes", default="1,2,4,8")
    parser.add_argument("--batches", type=int, default=40, help="transactions per writer")
    parser.add_argument("--batch-size", type=int, default=50, help="events per transaction (= accounts per writer)")
    args = parser.parse_args()
    print(f"{'N':>3} {'events':>8} {'wall s':>8} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}  log")
    for n in (int(x) for x in args.processes.split(",")):
        r = run(args.pg, n, args.batches, args.batch_size)
        print(f"{n:>3} {r['events']:>8,} {r['wall_s']:>8.2f} {r['events_per_s']:>9,.0f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f}  gap-free 1..n, each event once")


if __name__ == "__main__":
    main()
