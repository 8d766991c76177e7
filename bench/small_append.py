"""One line appended to a large ledger, as a back office does it: a new ``ledger ingest`` process each time (#30).

For each backend and each size (the benchmark history of ``bench.gen_history``,
1,000 accounts) the history is ingested once, with a key or without, then
``ledger ingest ONE.jsonl`` (a deposit with a new id) runs ``--tries`` times as
its own process and the median wall time is taken. Beside each figure:

- the same append on the 1,000-event ledger of the same backend and key (the
  baseline #30 sets: at most twice it);
- the same append with no usable whole-ledger snapshot (the snapshots table
  emptied before each try): the full replay every unkeyed append paid before
  the log bound its snapshots.

    python -m bench.small_append [--events 1000,1000000] [--tries 5] [--pg ADMIN_URL]

PostgreSQL is measured when ``--pg`` names a server the benchmark may create
databases on (``scripts/bench.sh`` starts one). Figures print as they come.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.gen_history import generate
from ledger import Ledger

_ONE = {"type": "deposit", "account": "back-office", "asset": "USD", "amount": "1"}


def _build(url: str, events: int, key: Path | None, work: Path) -> None:
    history = work / f"history-{events}.jsonl"
    if not history.exists():
        with history.open("w") as handle:
            for record in generate(events, accounts=1000, seed=11):
                handle.write(json.dumps(record) + "\n")
    with Ledger.open(url, key=str(key) if key else None) as ledger:
        ledger.init()
        ledger.ingest_file(history)


def _append_once(url: str, key: Path | None, work: Path, n: int) -> float:
    line = work / "one.jsonl"
    stamp = "2026-01-01T00:00:00.000000Z"  # after every generated event, before today
    line.write_text(json.dumps({**_ONE, "id": f"bo-{n}-{time.monotonic_ns()}", "at": stamp}) + "\n")
    env = {**os.environ, "LEDGER_DB": url}
    env.pop("LEDGER_KEY", None)
    if key is not None:
        env["LEDGER_KEY"] = str(key)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ledger", "ingest", str(line)], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _forget_snapshots(url: str) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM snapshots"))
    engine.dispose()


def _median(url: str, key: Path | None, work: Path, tries: int, forget: bool) -> float:
    times = []
    for n in range(tries):
        if forget:
            _forget_snapshots(url)
        times.append(_append_once(url, key, work, n))
    return statistics.median(times)


def _urls(backend: str, admin: str | None, work: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{work / (name + '.db')}"
    assert admin is not None
    engine = create_engine(admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1000,1000000", help="comma-separated sizes; the first is the baseline")
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--pg", metavar="ADMIN_URL")
    args = parser.parse_args()
    sizes = [int(n) for n in args.events.split(",")]
    backends = ["sqlite", *(["postgresql"] if args.pg else [])]
    print(f"{'backend':<11} {'key':<4} {'events':>10} {'append (s)':>11} {'1k ledger':>10} {'ratio':>6} "
          f"{'no snapshot':>12}", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        key = work / "ledger.key"
        Ledger.generate_key(key)
        for backend in backends:
            for keyed in (False, True):
                base = None
                for events in sizes:
                    url = _urls(backend, args.pg, work, f"small_{backend[:2]}_{int(keyed)}_{events}")
                    _build(url, events, key if keyed else None, work)
                    bound = _median(url, key if keyed else None, work, args.tries, forget=False)
                    full = _median(url, key if keyed else None, work, max(1, args.tries // 2), forget=True)
                    base = bound if base is None else base
                    print(f"{backend:<11} {'yes' if keyed else 'no':<4} {events:>10,} {bound:>11.3f} {base:>10.3f} "
                          f"{bound / base:>6.2f} {full:>12.3f}", flush=True)


if __name__ == "__main__":
    main()
