"""Rule sweep benchmark: the differential sweep against today's full re-run of the same candidates, in one session.

    python -m bench.sweep --events 1000000 --accounts 10000 [--thin 0.03] [--workers 2] [--full 2]
                          [--grid fees|wide|rates] [--db URL] [--base-tree DIR]

Writes the benchmark history (``bench.gen_history``, partial-v1 in force; ``--thin`` of the accounts open with
3,000 USD instead of 1,000,000, so that stricter candidates liquidate them), ingests it into a SQLite file, and
times, each in a process of its own (its peak memory is its own):

- ``full``: the first ``--full`` candidates on the full re-run (every event re-run in each candidate's world, one
  candidate per worker task: what a sweep cost before), on ``--workers`` local processes;
- ``differential``: every candidate (``--grid fees``: 16, fee rate × target buffer, the rates in force;
  ``--grid wide``: 64 of them; ``--grid rates``: 16, BTC-PERP's maintenance rate × target buffer) on the
  differential worlds, serially and on ``--workers`` local processes.

- ``base``, with ``--base-tree DIR`` (a checkout of the code the issue measured, before the differential worlds:
  588e394): the same first ``--full`` candidates on that tree's full re-run, through its own ``sweep`` (the
  issue's "today's full re-run", in the same run).

Each prints its seconds and CPU-seconds per candidate (wall time × workers / candidates), and checks that the
rows of the candidates both ran are the same. A worker's memory is measured as one worker (a process of its
own, ``VmHWM``): the history taken, then its share of the candidates: as a worker did before (the shipped
rows decoded into Python objects, one candidate on the full re-run), and as it does now (the history file
memory-mapped as an Arrow table, its share of the grid in one pass on the differential worlds); beside its peak,
its own memory at the end (``RssAnon``: the peak counts the mapped file's pages it touched, which the workers
share through the page cache). The differential
run also reports how many accounts each candidate's world moved differently from what happened (the share that differs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gen_history import generate
from bench.peak import high_water_kib, status_kib

GRIDS = {
    "fees": {"grid": {"liquidation_fee_rate": ["0.001", "0.002", "0.005", "0.01"],
                      "target_buffer": ["0.1", "0.25", "0.5", "1"]}},
    "wide": {"grid": {"liquidation_fee_rate": ["0.0005", "0.001", "0.0015", "0.002", "0.003", "0.005", "0.0075", "0.01"],
                      "target_buffer": ["0.05", "0.1", "0.25", "0.4", "0.5", "0.75", "1", "1.5"]}},
    "rates": {"grid": {"markets.BTC-PERP.maintenance_margin_rate": ["0.005", "0.1", "0.3", "0.5"],
                       "markets.BTC-PERP.initial_margin_rate": ["0.6"],
                       "target_buffer": ["0.1", "0.25", "0.5", "1"]}},
}


def _candidates(url: str, grid: str):
    from ledger import Ledger
    from ledger.compliance.sweep import base_params, candidates_of

    with Ledger.open(url, create=False) as ledger:
        return candidates_of(["partial-v1"], GRIDS[grid], base_params(ledger.store))


def worker(mode: str, batch_file: str, url: str, grid: str, count: int) -> dict[str, object]:
    """What one sweep worker does, in this (fresh) process: take the history (as a local worker now does, the
    file memory-mapped; before, the shipped bytes decoded), then run its share of the candidates (``count``: the
    first ones), on the full re-run or the differential worlds; its time and memory."""
    from ledger.compliance import sweep as sweeping

    candidates = _candidates(url, grid)[:count]
    label = f"worker-{mode}"
    started = time.perf_counter()
    rows: Any
    if mode == "before":  # the worker before: every row a Python object, one candidate per pass on the full re-run
        from ledger.store.rows import RowsReader

        rows, mode = RowsReader(list(sweeping._rows(Path(batch_file).read_bytes()).read())), "full"
        rows.actual = {}
    else:
        rows = sweeping._mapped_rows(batch_file)
    passes = sweeping._passes(candidates, 1, mode == "differential")
    for part in passes:
        sweeping.evaluate(rows, part, None, None, mode == "differential")
    seconds = time.perf_counter() - started
    return {"mode": label, "candidates": len(candidates), "seconds": round(seconds, 1),
            "peak_mib": round(high_water_kib() / 1024, 1), "anon_mib": round(status_kib("RssAnon") / 1024, 1)}


def child(mode: str, url: str, grid: str, workers: int, count: int | None) -> dict[str, object]:
    """One measurement, in this (fresh) process."""
    from ledger import Ledger
    from ledger.compliance.sweep import sweep
    from ledger.compliance.whatif import compare

    candidates = _candidates(url, grid)[:count]
    with Ledger.open(url, create=False) as ledger:
        store = ledger.reader()
        started = time.perf_counter()
        if mode == "diverged":  # the differential worlds themselves, to count what each moved differently
            result = compare(store, [(c.version, c.params) for c in candidates])
            seconds = time.perf_counter() - started
            accounts = len(result.actual_state.accounts)
            diverged = [len(w.differential_world.diverged) for w in result.worlds if w.differential_world]
            return {"mode": mode, "seconds": round(seconds, 1), "accounts": accounts, "diverged": diverged,
                    "peak_mib": round(high_water_kib() / 1024, 1)}
        rows = sweep(store, candidates, workers=workers, differential=(mode == "differential"))
        seconds = time.perf_counter() - started
    return {"mode": mode, "workers": workers, "candidates": len(candidates), "seconds": round(seconds, 1),
            "cpu_s_per_candidate": round(seconds * workers / len(candidates), 2),
            "peak_mib": round(high_water_kib() / 1024, 1), "rows": rows}


_BASE = """
import json, sys, time
from ledger import Ledger
from ledger.compliance.sweep import base_params, candidates_of, sweep
url, grid, workers, count = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with Ledger.open(url, create=False) as ledger:
    candidates = candidates_of(["partial-v1"], grid, base_params(ledger.store))[:count]
    started = time.perf_counter()
    rows = sweep(ledger.store, candidates, workers=workers)
    seconds = time.perf_counter() - started
print(json.dumps({"mode": "base tree", "workers": workers, "candidates": len(candidates), "seconds": round(seconds, 1),
                  "cpu_s_per_candidate": round(seconds * workers / len(candidates), 2), "peak_mib": 0, "rows": rows}))
"""
"""The base tree's full re-run, timed as ``child`` times ours (its ``sweep`` call alone), in that tree's code."""


def _run_base(tree: Path, url: str, grid: str, workers: int, count: int) -> dict:
    """The first ``count`` candidates on ``tree``'s full re-run (its own ``sweep``), in a process of its own."""
    out = subprocess.run([sys.executable, "-c", _BASE, url, json.dumps(GRIDS[grid]), str(workers), str(count)],
                         check=True, capture_output=True, text=True, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.sweep", "--child", *args], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--thin", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full", type=int, default=2, help="candidates timed on the full re-run")
    parser.add_argument("--grid", choices=sorted(GRIDS), default="fees")
    parser.add_argument("--db", help="an ingested ledger to use instead of writing one")
    parser.add_argument("--base-tree", type=Path, help="a checkout of the code before the differential worlds")
    parser.add_argument("--child", nargs=5, metavar=("MODE", "URL", "GRID", "WORKERS", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from ledger import gc_policy

        gc_policy.collect_older_generations_rarely()  # as the CLI's process does (``ledger sweep``)
        mode, url, grid, workers, count = args.child
        if mode.startswith("worker-"):
            batch_file, url = url.split("|", 1)
            print(json.dumps(worker(mode.removeprefix("worker-"), batch_file, url, grid, int(count))))
        else:
            print(json.dumps(child(mode, url, grid, int(workers), int(count) or None)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db
        if url is None:
            from ledger import Ledger

            history = Path(tmp) / "h.jsonl"
            with history.open("w") as handle:
                for record in generate(args.events, accounts=args.accounts, seed=11, thin=args.thin):
                    handle.write(json.dumps(record) + "\n")
            url = f"sqlite:///{Path(tmp) / 'l.db'}"
            with Ledger.open(url) as ledger:
                ledger.init()
                ledger.ingest_file(history)
        w = str(args.workers)
        from ledger import Ledger
        from ledger.compliance.sweep import history_batch

        with Ledger.open(url, create=False) as ledger:
            batch_file = Path(tmp) / "batch.arrow"
            batch_file.write_bytes(history_batch(ledger.store))
        share = -(-len(_candidates(url, args.grid)) // args.workers)
        workers = [_run([f"worker-{mode}", f"{batch_file}|{url}", args.grid, "1", str(n)])
                   for mode, n in (("before", 1), ("differential", share))]
        full = _run(["full", url, args.grid, w, str(args.full)])
        base = _run_base(args.base_tree, url, args.grid, args.workers, args.full) if args.base_tree else None
        serial = _run(["differential", url, args.grid, "1", "0"])
        pooled = _run(["differential", url, args.grid, w, "0"])
        diverged = _run(["diverged", url, args.grid, "1", "0"])
    _report(args, full, base, serial, pooled, workers, diverged)


def _report(args: argparse.Namespace, full: dict, base: dict | None, serial: dict, pooled: dict, workers: list[dict],
            diverged: dict) -> None:
    """Each run's figures beside the full re-run's (and the base tree's, if run), and whether their rows agree."""
    shared = full["rows"] == [r for r in serial["rows"] if r["candidate"] <= args.full]
    history = (f"the ledger at {args.db}" if args.db else
               f"{args.events:,} events, {args.accounts:,} accounts, thin {args.thin}")
    print(f"{serial['candidates']} candidates ({args.grid}), {history}; rows of the {args.full} run both ways: "
          f"{'same' if shared else 'DIFFER'}; "
          f"pooled rows {'same' if pooled['rows'] == serial['rows'] else 'DIFFER'}"
          + (f"; base tree's rows {'same' if base['rows'] == full['rows'] else 'DIFFER'}" if base else ""))
    for run in (full, serial, pooled):
        ratio = full["cpu_s_per_candidate"] / run["cpu_s_per_candidate"]
        against = f", {base['cpu_s_per_candidate'] / run['cpu_s_per_candidate']:5.1f}x the base tree's" if base else ""
        print(f"  {run['mode']:>12} x{run['workers']}: {run['candidates']:3} candidates {run['seconds']:8.1f} s, "
              f"{run['cpu_s_per_candidate']:7.2f} CPU-s/candidate ({ratio:5.1f}x{against}), peak {run['peak_mib']:7.1f} MiB")
    if base:
        print(f"  base tree's full re-run x{base['workers']}: {base['candidates']:3} candidates {base['seconds']:8.1f} s, "
              f"{base['cpu_s_per_candidate']:7.2f} CPU-s/candidate")
    for run in workers:
        print(f"  one {run['mode']} worker, {run['candidates']} candidate(s): {run['seconds']:8.1f} s, "
              f"peak {run['peak_mib']:7.1f} MiB (mapped file pages included), its own at the end "
              f"{run['anon_mib']:7.1f} MiB (RssAnon)")
    accounts = diverged["accounts"]
    shares = [f"{100 * d / accounts:.2f}%" for d in diverged["diverged"]]
    print(f"  accounts moved differently per candidate (of {accounts:,}): {', '.join(shares)}")


if __name__ == "__main__":
    main()
