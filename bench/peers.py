"""Issue 28, section 3: ``ledger ingest`` and ``ledger audit`` against their peers and baselines, in one run.

    python -m bench.peers HISTORY.jsonl [--pg URL] [--base-tree DIR] [--parts N] [--skip-ceiling]

Every figure beside its baseline measured in the same run (absolute rates swing
on shared machines):

- ``ledger ingest`` as a user runs it (a fresh process, ``bench.peak``) on a
  fresh SQLite file, beside the same lines ingested by an application written
  with the ``eventsourcing`` library (``bench.eventsourcing_ingest``: one
  save per 1,000 lines), also in a fresh process; the same on PostgreSQL
  with ``--pg`` (a server URL whose user may create databases);
- ``--base-tree DIR``: the same commands run from another checkout of the
  ledger (``git worktree add DIR REV``), for "today's" figures;
- the ingest's ceiling: its required parts timed alone on the same lines
  (strict decoding of the lines; the write path's fold, now
  ``domain.fast_apply``; the storage-layer append, on SQLite and with ``--pg``
  on PostgreSQL), the rate a command doing only those would reach on each, and
  ``ledger ingest``'s share of it;
- ``ledger audit`` in one pass (``--parts 1``) and in ``--parts N`` parts, on
  the SQLite database the ingest wrote, and the base tree's audit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import peak

ROOT = Path(__file__).resolve().parents[1]


def _fresh_sqlite(tree: Path, path: Path) -> str:
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree)
    return url


def _fresh_pg(admin_url: str, name: str, tree: Path | None) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    if tree is not None:
        subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree)
    return url


def _eventsourcing(history: Path, url: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.eventsourcing_ingest", str(history), url], check=True,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    return json.loads(done.stdout)


def line(figure: str, ours: float, baseline: float, unit: str, note: str = "") -> None:
    print(f"{figure:<62} {ours:>12,.1f} {baseline:>12,.1f} {unit:<9} {ours / baseline:>7.2f}x  {note}", flush=True)


def ingest_figures(history: Path, events: int, tmp: Path, pg: str | None, base: Path | None) -> tuple[str, dict]:
    """The ingest beside its peer (and the base tree's); the SQLite URL the new code wrote (for the audit), and the
    ingest's rate per backend (for its share of the ceiling)."""
    backends = [("SQLite", None)] + ([("PostgreSQL", pg)] if pg else [])
    ours_url, rates = "", {}
    for backend, admin in backends:
        es_url = _fresh_pg(admin, "peers_es", None) if admin else f"sqlite:///{tmp / 'es.db'}"
        (tmp / "es.db").unlink(missing_ok=True)
        theirs = _eventsourcing(history, es_url)["seconds"]
        runs = {}
        for label, tree in [("now", ROOT)] + ([("base", base)] if base else []):
            url = _fresh_pg(admin, f"peers_{label}", tree) if admin else _fresh_sqlite(tree, tmp / f"{label}.db")
            runs[label] = peak.run(tmp / "peak.json", ["--db", url, "ingest", str(history)], tree=tree)
            if label == "now" and not admin:
                ours_url = url
        line(f"{backend}: `ledger ingest` vs eventsourcing app", events / runs["now"]["seconds"], events / theirs,
             "events/s", "target >= 1.5x")
        if "base" in runs:
            line(f"{backend}: `ledger ingest` now vs base tree", events / runs["now"]["seconds"],
                 events / runs["base"]["seconds"], "events/s")
            line(f"{backend}: base tree's `ledger ingest` vs eventsourcing app", events / runs["base"]["seconds"],
                 events / theirs, "events/s")
        print(f"    peak RSS now {runs['now']['peak_kib'] / 1024:,.0f} MiB", flush=True)
        rates[backend] = events / runs["now"]["seconds"]
    return ours_url, rates


def ceiling_figures(history: Path, events: int, tmp: Path, pg: str | None, rates: dict) -> None:
    """The ingest's required parts, each alone on the same lines, the ceiling they make on each backend (the
    storage-layer append on SQLite, and on PostgreSQL with ``pg``), and the ingest's share of it (target 60%)."""
    from bench.run import store_append
    from ledger.domain.codec import decode_line
    from ledger.domain.fast_apply import apply_fast
    from ledger.domain.state import LedgerState
    from ledger.domain.timefmt import format_time

    lines = history.read_bytes().splitlines()
    start = time.perf_counter()
    decoded = [decode_line(text) for text in lines]
    decode = time.perf_counter() - start
    state = LedgerState()
    start = time.perf_counter()
    for seq, event in enumerate(decoded, 1):
        apply_fast(state, event, seq)
    fold = time.perf_counter() - start
    recorded_at = format_time(datetime(2026, 1, 1, tzinfo=UTC))
    appends = {"SQLite": store_append(_fresh_sqlite(ROOT, tmp / "append.db"), decoded, recorded_at)}
    if pg:
        appends["PostgreSQL"] = store_append(_fresh_pg(pg, "peers_append", ROOT), decoded, recorded_at)
    for part, seconds in [("strict decoding of the lines", decode), ("the write path's fold (fast apply)", fold)] + [
            (f"the storage-layer append ({backend})", seconds) for backend, seconds in appends.items()]:
        print(f"    part: {part:<48} {events / seconds:>12,.1f} events/s", flush=True)
    for backend, append in appends.items():
        ceiling = events / (decode + fold + append)
        share = f"; `ledger ingest` at {rates[backend] / ceiling:.1%} of it (target 60%)" if backend in rates else ""
        print(f"    ingest ceiling ({backend}): {ceiling:,.1f} events/s{share}", flush=True)


def audit_figures(url: str, events: int, tmp: Path, parts: int, base: Path | None) -> None:
    one = peak.run(tmp / "peak.json", ["--db", url, "audit", "--parts", "1"], tree=ROOT)
    split = peak.run(tmp / "peak.json", ["--db", url, "audit", "--parts", str(parts)], tree=ROOT)
    line(f"`ledger audit --parts {parts}` vs one pass", events / split["seconds"], events / one["seconds"], "events/s")
    if base is not None:
        old = peak.run(tmp / "peak.json", ["--db", url, "audit"], tree=base)
        line(f"`ledger audit --parts {parts}` vs base tree's audit", events / split["seconds"], events / old["seconds"],
             "events/s", "target >= 2x")
        line("`ledger audit --parts 1` vs base tree's audit", events / one["seconds"], events / old["seconds"], "events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("--pg", help="a PostgreSQL server URL whose user may create databases")
    parser.add_argument("--base-tree", type=Path, help="another checkout of the ledger, for today's figures")
    parser.add_argument("--parts", type=int, default=2)
    parser.add_argument("--skip-ceiling", action="store_true")
    args = parser.parse_args()
    history = args.history.resolve()
    with history.open("rb") as handle:
        events = sum(1 for text in handle if text.strip())
    print(f"{'figure':<62} {'ours':>12} {'baseline':>12} {'unit':<9} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        url, rates = ingest_figures(history, events, tmp, args.pg, args.base_tree)
        if not args.skip_ceiling:
            ceiling_figures(history, events, tmp, args.pg, rates)
        audit_figures(url, events, tmp, args.parts, args.base_tree)


if __name__ == "__main__":
    main()
