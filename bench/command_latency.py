"""What a person waits for at the prompt: a read command's time, inside its process and as a whole, against a base tree.

    python -m bench.command_latency --db URL --account NAME [--as-of TIME] [--runs 7] [--base-tree DIR]

Runs ``account NAME`` at the head, ``account NAME --as-of TIME`` and
``liquidations`` (``--format json``), each ``--runs`` times as a process of
its own, and prints the median of two figures per command:

- ``command``: the command alone, timed inside its process by ``bench.peak``
  (the ledger already imported: what ``bench.ten_million`` reports, and what
  issue 28's "``account`` at the head under 50 ms" is measured by);
- ``process``: the whole process, from its start to its exit (the
  interpreter's start-up and every import included).

It also prints the median time of importing the database's driver in a process that has imported the ledger
(psycopg for PostgreSQL, sqlite3 for SQLite): a ``command`` figure includes it, as the first connection loads it,
and no command can take less.

With ``--base-tree DIR`` (a checkout of other code), the same commands from that
tree, interleaved run by run with this one's (the machine's drift falls on both),
and their answers compared byte for byte.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import peak

ROOT = Path(__file__).resolve().parents[1]


def run_once(tree: Path, url: str, args: list[str], out: Path) -> tuple[float, float, bytes]:
    """(seconds inside the command, seconds of the whole process, what it printed) of ``ledger ARGS`` from ``tree``."""
    result = peak.run(out, ["--db", url, *args], tree=tree, stdout=None)
    return result["seconds"], result["process_seconds"], result["stdout"]


_DRIVER_IMPORT = """
import sys, time
import ledger.cli
started = time.perf_counter()
import {module}
print(time.perf_counter() - started)
"""


def driver_import_ms(url: str, runs: int) -> float:
    """The median time of importing the driver of ``url`` once the ledger is imported (the floor of any command)."""
    module = "sqlite3" if url.startswith("sqlite") else "psycopg"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = [float(subprocess.run([sys.executable, "-c", _DRIVER_IMPORT.format(module=module)], capture_output=True,
                                  text=True, env=env, cwd=ROOT, check=True).stdout) for _ in range(runs)]
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--as-of")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--base-tree", type=Path)
    args = parser.parse_args()
    commands = {"account at the head": ["account", args.account, "--format", "json"],
                "liquidations": ["liquidations", "--format", "json"]}
    if args.as_of:
        commands[f"account as of {args.as_of}"] = ["account", args.account, "--as-of", args.as_of, "--format", "json"]
    trees = {"this tree": ROOT, **({"base tree": args.base_tree.resolve()} if args.base_tree else {})}
    print(f"{'command':<44} {'tree':<10} {'command ms':>11} {'process ms':>11}  (median of {args.runs})")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peak.json"
        for label, command in commands.items():
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            answers: dict[str, bytes] = {}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    inside, whole, answer = run_once(tree, args.db, command, out)
                    times[name].append((inside, whole))
                    answers[name] = answer
            for name in trees:
                inside = statistics.median(t[0] for t in times[name]) * 1000
                whole = statistics.median(t[1] for t in times[name]) * 1000
                print(f"{label:<44} {name:<10} {inside:>11.1f} {whole:>11.1f}", flush=True)
            if len(answers) > 1 and len(set(answers.values())) != 1:
                raise SystemExit(f"{label}: the trees' answers differ")
    print(f"{'importing the driver, the ledger imported':<44} {'':<10} {driver_import_ms(args.db, args.runs):>11.1f}")


if __name__ == "__main__":
    main()
