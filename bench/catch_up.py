"""Two writers taking turns on a large book: the append of the writer that finds the other's rows at the head.

A writer that finds other writers' rows at the head folds them onto its warm
state; its liquidation index is then carried over them (only the accounts they
moved are re-indexed) or, as before issue 14's second session, rebuilt at the
next mark of its batch, which is O(positions) and runs under the log's lock.
This times that append: the benchmark history (``bench.gen_history``,
partial-v1 in force) is ingested once, then two ``Ledger`` writers on the same
SQLite file take turns, each appending a deposit and a mark at the current
price; the second writer's appends are timed (its catch-up over the first's
two rows, the fold, the mark's candidates, the insert, the commit).

    python -m bench.catch_up [--events 100000] [--accounts 10000] [--rounds 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.run import write_history
from ledger import Ledger
from ledger.domain.codec import decode_object
from ledger.domain.timefmt import format_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        history, url = Path(tmp) / "history.jsonl", f"sqlite:///{tmp}/book.db"
        write_history(history, args.events, args.accounts)
        with Ledger.open(url) as ledger:
            ledger.init()
            ledger.ingest_file(history)
        with Ledger.open(url) as timed_writer, Ledger.open(url) as other:
            state = timed_writer.state()
            price, start = str(state.markets["BTC-PERP"].price), state.last_at
            assert start is not None

            def batch(n: int, who: str) -> list:
                at = format_time(start + timedelta(seconds=n))
                return [(f"{who} {n}", decode_object(record)) for record in (
                    {"type": "deposit", "id": f"cu-{who}-d{n}", "at": at, "account": f"cu-{who}", "asset": "USD",
                     "amount": "10"},
                    {"type": "mark", "id": f"cu-{who}-k{n}", "at": at, "market": "BTC-PERP", "price": price},
                )]

            timed_writer.append_located(batch(0, "timed"))  # warm: the state loaded, the index built at its mark
            seconds = []
            for n in range(1, args.rounds + 1):
                other.append_located(batch(n, "other"))
                began = time.perf_counter()
                timed_writer.append_located(batch(n, "timed"))
                seconds.append(time.perf_counter() - began)
            entries = timed_writer._warm[3].size() if timed_writer._warm else 0
    print(f"{args.events:,} events, {args.accounts:,} accounts, {entries:,} trigger entries in the index")
    print(f"append after the other writer's: median {statistics.median(seconds) * 1000:.1f} ms "
          f"(min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f}, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
