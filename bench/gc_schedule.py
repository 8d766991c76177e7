"""The collector's schedule (``ledger.gc_policy``) against CPython's default, command by command, in one run.

    python -m bench.gc_schedule --ledger BIG.db --batch NEXT.jsonl [--small SMALL.db] [--history H.jsonl]
                                [--repeat 2]

Each command runs as a user runs it, in a fresh process, alternately under
CPython's default schedule (700, 10, 10: the ledger's own left out) and the
ledger's, ``--repeat`` times each; the table gives the best time of each and
its peak memory. Commands that write run on a fresh copy of their database.

- ``--ledger``: a ledger with many accounts (e.g. 1,000,000 events of 100,000
  accounts); ``--batch``: the lines that follow its history, ingested into a
  copy of it (a feed's next batch: the state loaded from the snapshot, the
  index rebuilt, the batch folded); ``balances --as-of`` half way;
- ``--small`` (optional): a ledger with fewer accounts, audited in one pass;
- ``--history`` (optional): a history ingested into an empty ledger.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(schedule: str, out: str, argv: list[str]) -> None:
    """One command in this (fresh) process, under ``schedule``; its seconds and peak memory to ``out``."""
    from bench.peak import high_water_kib
    from ledger import gc_policy

    if schedule == "default":
        gc_policy.collect_older_generations_rarely = lambda: None  # type: ignore[assignment]  # CPython's own schedule
    from ledger.cli import main as ledger_main

    start = time.perf_counter()
    try:
        ledger_main(argv)
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    Path(out).write_text(json.dumps({"seconds": time.perf_counter() - start, "status": status,
                                     "peak_mib": high_water_kib() / 1024}))


def _run(schedule: str, argv: list[str], tmp: Path) -> dict:
    out = tmp / "out.json"
    subprocess.run([sys.executable, "-m", "bench.gc_schedule", "--child", schedule, str(out), "--", *argv],
                   check=True, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())
    assert result["status"] in (0, 1), f"{argv}: exit {result['status']}"  # audit exits 1 on a finding
    return result


def _half_way(db: Path) -> str:
    from ledger import Ledger

    with Ledger.open(f"sqlite:///{db}", create=False) as ledger:
        half = ledger.head_seq() // 2
        [row] = ledger.store.read(after_seq=half - 1, upto_seq=half)
    return row.at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ledger", type=Path)
    parser.add_argument("--batch", type=Path)
    parser.add_argument("--small", type=Path)
    parser.add_argument("--history", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("SCHEDULE", "OUT"), help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        child(*args.child, rest[1:] if rest[:1] == ["--"] else rest)
        return
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        work = tmp / "work.db"

        def fresh(source: Path | None) -> str:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)
            if source is not None:
                shutil.copyfile(source, work)
            return f"sqlite:///{work}"

        commands = []
        if args.ledger and args.batch:
            half = _half_way(args.ledger)
            commands.append((f"ingest {args.batch.name} into {args.ledger.name}",
                             lambda: ["--db", fresh(args.ledger), "ingest", str(args.batch)]))
            commands.append((f"balances --as-of half way, {args.ledger.name}",
                             lambda: ["--db", f"sqlite:///{args.ledger}", "balances", "--as-of", half,
                                      "--format", "json"]))
        if args.small:
            commands.append((f"audit --parts 1, {args.small.name}",
                             lambda: ["--db", f"sqlite:///{args.small}", "audit", "--parts", "1"]))
        if args.history:
            def into_empty() -> list[str]:
                url = fresh(None)
                subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True,
                               stdout=subprocess.DEVNULL)
                return ["--db", url, "ingest", str(args.history)]
            commands.append((f"ingest {args.history.name} into an empty ledger", into_empty))
        print(f"{'command':58} {'CPython default':>22} {'ledger schedule':>22} {'ratio':>6}")
        for label, argv in commands:
            best: dict[str, dict] = {}
            for _ in range(args.repeat):
                for schedule in ("default", "ledger"):
                    result = _run(schedule, argv(), tmp)
                    if schedule not in best or result["seconds"] < best[schedule]["seconds"]:
                        best[schedule] = result
            d, g = best["default"], best["ledger"]
            print(f"{label:58} {d['seconds']:8.2f} s {d['peak_mib']:7.0f} MiB {g['seconds']:8.2f} s "
                  f"{g['peak_mib']:7.0f} MiB {d['seconds'] / g['seconds']:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
