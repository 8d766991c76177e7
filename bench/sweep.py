"""Rule sweep benchmark: 16 candidates (fee rate × target buffer) over one history, serial against local workers.

Writes the benchmark history (``bench.gen_history``, partial-v1 in force),
ingests it into a SQLite file, then times ``ledger.compliance.sweep.sweep``
serially (``workers=1``) and with ``--workers`` local processes (the default
pool: the history read once, shipped once per worker as an Arrow table), and
checks both gave the same rows. Optionally on a Dask cluster too
(``--scheduler``). Prints the speed-up and the per-candidate time.

    python -m bench.sweep --events 100000 [--workers 2] [--scheduler tcp://HOST:8786]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.gen_history import generate
from ledger import Ledger
from ledger.compliance.sweep import base_params, candidates_of, sweep

GRID = {"grid": {"liquidation_fee_rate": ["0.001", "0.002", "0.005", "0.01"],
                 "target_buffer": ["0.1", "0.25", "0.5", "1"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", help="also run on this Dask scheduler")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "h.jsonl"
        with history.open("w") as handle:
            for record in generate(args.events, accounts=args.accounts, seed=11):
                handle.write(json.dumps(record) + "\n")
        url = f"sqlite:///{Path(tmp) / 'l.db'}"
        with Ledger.open(url) as ledger:
            ledger.init()
            ledger.ingest_file(history)
            candidates = candidates_of(["partial-v1"], GRID, base_params(ledger.store))
            timings = {}
            results = {}
            for label, kwargs in (("serial", {"workers": 1}), (f"{args.workers} local workers", {"workers": args.workers}),
                                  *([("dask", {"scheduler": args.scheduler})] if args.scheduler else [])):
                start = time.perf_counter()
                results[label] = sweep(ledger.store, candidates, **kwargs)
                timings[label] = time.perf_counter() - start
            head = ledger.head_seq()
    serial = timings["serial"]
    print(f"{len(candidates)} candidates over {head:,} events")
    for label, seconds in timings.items():
        same = "same rows" if results[label] == results["serial"] else "ROWS DIFFER"
        print(f"  {label:>18}: {seconds:8.1f} s  {seconds / len(candidates):6.2f} s/candidate  "
              f"speed-up {serial / seconds:4.2f}x  ({same})")


if __name__ == "__main__":
    main()
