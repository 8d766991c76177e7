"""Issue 28, section 3: ``ledger ingest`` and ``ledger audit`` against their peers and baselines, in one run.

    python -m bench.peers HISTORY.jsonl [--pg URL] [--base-tree DIR] [--parts N] [--skip-ceiling] [--repeat N]

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
  ``ledger ingest``'s share of it; then admission and deciding (the index's
  upkeep and the engine's decisions), timed as the ingest runs them, and the
  floor all five parts make; then the two steps besides them an ingest cannot
  leave out either (the lookup of stored ids, the snapshots due at its end),
  and the floor all seven make; each floor also as a multiple of the
  eventsourcing application's rate;
- ``ledger audit`` in one pass (``--parts 1``) and in ``--parts N`` parts, on
  the SQLite database the ingest wrote, and the base tree's audit.

``--repeat N``: N rounds, each running every ingest and then timing every
part, and each figure the median of its N values: a share of a ceiling
then compares medians over the same stretches of the machine's time.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench import peak
from ledger import gc_policy

if TYPE_CHECKING:
    from ledger.domain.events import Event
    from ledger.domain.state import LedgerState

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


class Rounds:
    """Every figure of the ingest and its parts, one value per round. Measured a round at a time (the peer, now, the
    base tree on each backend, then the parts), so that each figure's median comes from the same stretches of a
    shared machine as the others': one run swings by 10%, and a share of a ceiling compares two measurements."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.ours_url = ""
        self.peak_kib: dict[str, int] = {}

    def add(self, figure: str, seconds: float) -> None:
        self.seconds.setdefault(figure, []).append(seconds)

    def median(self, figure: str) -> float:
        return statistics.median(self.seconds[figure])


def ingest_round(history: Path, tmp: Path, pg: str | None, base: Path | None, rounds: Rounds) -> None:
    """One run of the peer, of ``ledger ingest`` now and of the base tree's, on each backend (a fresh database each)."""
    for backend, admin in [("SQLite", None)] + ([("PostgreSQL", pg)] if pg else []):
        es_url = _fresh_pg(admin, "peers_es", None) if admin else f"sqlite:///{tmp / 'es.db'}"
        (tmp / "es.db").unlink(missing_ok=True)
        rounds.add(f"{backend} theirs", _eventsourcing(history, es_url)["seconds"])
        for label, tree in [("now", ROOT)] + ([("base", base)] if base else []):
            url = _fresh_pg(admin, f"peers_{label}", tree) if admin else _fresh_sqlite(tree, tmp / f"{label}.db")
            run = peak.run(tmp / "peak.json", ["--db", url, "ingest", str(history)], tree=tree)
            rounds.add(f"{backend} {label}", run["seconds"])
            if label == "now":
                rounds.peak_kib[backend] = max(run["peak_kib"], rounds.peak_kib.get(backend, 0))
                if not admin:
                    rounds.ours_url = url


def ingest_figures(events: int, rounds: Rounds) -> dict[str, float]:
    """The ingest beside its peer (and the base tree's), medians of the rounds; the ingest's rate per backend."""
    rates = {}
    for backend in ("SQLite", "PostgreSQL"):
        if f"{backend} now" not in rounds.seconds:
            continue
        runs = {label: rounds.seconds[f"{backend} {label}"] for label in ("theirs", "now", "base")
                if f"{backend} {label}" in rounds.seconds}
        if len(runs["now"]) > 1:
            print(f"    {backend} runs (s): " + "; ".join(
                f"{label} {', '.join(f'{x:.2f}' for x in seconds)}" for label, seconds in runs.items()), flush=True)
        now, theirs = rounds.median(f"{backend} now"), rounds.median(f"{backend} theirs")
        line(f"{backend}: `ledger ingest` vs eventsourcing app", events / now, events / theirs, "events/s",
             "target >= 1.5x")
        if "base" in runs:
            old = rounds.median(f"{backend} base")
            line(f"{backend}: `ledger ingest` now vs base tree", events / now, events / old, "events/s")
            line(f"{backend}: base tree's `ledger ingest` vs eventsourcing app", events / old, events / theirs,
                 "events/s")
        print(f"    peak RSS now {rounds.peak_kib[backend] / 1024:,.0f} MiB (the highest of the rounds)", flush=True)
        rates[backend] = events / now
    return rates


def parts_round(lines: list[bytes], tmp: Path, pg: str | None, rounds: Rounds) -> None:
    """The ingest's parts, each timed once on the same lines (see ``ceiling_figures``)."""
    from bench.run import store_append
    from ledger.domain.fast_apply import apply_fast
    from ledger.domain.fast_lines import decode_line_fast as decode_line  # what the ingest decodes with
    from ledger.domain.state import LedgerState
    from ledger.domain.timefmt import format_time

    start = time.perf_counter()
    decoded = [decode_line(text) for text in lines]
    rounds.add("decode", time.perf_counter() - start)
    state = LedgerState()
    start = time.perf_counter()
    for seq, event in enumerate(decoded, 1):
        apply_fast(state, event, seq)
    rounds.add("fold", time.perf_counter() - start)
    admission, deciding = _admission_and_deciding(decoded)
    rounds.add("admission", admission)
    rounds.add("deciding", deciding)
    recorded_at = format_time(datetime(2026, 1, 1, tzinfo=UTC))
    for backend, url in [("SQLite", _fresh_sqlite(ROOT, tmp / "append.db"))] + (
            [("PostgreSQL", _fresh_pg(pg, "peers_append", ROOT))] if pg else []):
        rounds.add(f"append {backend}", store_append(url, decoded, recorded_at))
        lookup, snapshots = _lookup_and_snapshots(url, decoded, state)
        rounds.add(f"lookup {backend}", lookup)
        rounds.add(f"snapshots {backend}", snapshots)


def _lookup_and_snapshots(url: str, decoded: list[Event], state: LedgerState) -> tuple[float, float]:
    """Seconds of the two steps an ingest takes besides the five parts and cannot leave out, on the database the
    storage-layer append just filled with the lines' events, as the ingest takes them:

    - the lookup of each chunk's ids among those stored (a resent line is skipped, a reused id refused), before the
      chunk is decided. A fresh line's id is not stored: here ids no row has, against a table holding every line;
    - the snapshots the ingest's end makes due (``state``: the lines folded): the whole ledger's, written, its digest
      taken and saved (none below max(1,000, accounts + markets) events, as in an ingest), and each account's whose
      stream passed a multiple of ``ACCOUNT_SNAPSHOT_EVERY`` events.

    The lookup is timed inside its transaction, as the ingest's lookups run inside its own: the transaction's start
    and commit are the ingest's rest. The benchmark mix makes no engine events, so the lines' events are all an
    ingest of them would store.
    """
    from ledger.app.ingest import CHUNK
    from ledger.app.ledger import Ledger
    from ledger.domain.events import ACCOUNT_STREAM_PREFIX
    from ledger.replay.account import ACCOUNT_SNAPSHOT_EVERY, write_account_snapshots
    from ledger.replay.load import due_snapshot, save_snapshot

    absent = [f"{event.id}~absent" for event in decoded]
    with Ledger.open(url) as ledger:
        head_seq, head_hash = ledger.store.head()
        assert head_seq == state.seq == len(decoded), "the append's database holds exactly the lines folded"
        # from an empty log, an account's stream passed a multiple of the spacing once it holds that many events
        crossed = {stream: version for stream, version in ledger.store.stream_versions(ACCOUNT_STREAM_PREFIX).items()
                   if version >= ACCOUNT_SNAPSHOT_EVERY}
        with ledger.store.writer() as writer:
            start = time.perf_counter()
            for i in range(0, len(absent), CHUNK):
                assert not writer.existing(absent[i:i + CHUNK]), "ids no row has"
            lookup = time.perf_counter() - start
        start = time.perf_counter()
        due = due_snapshot(state, 0)
        if due is not None:
            save_snapshot(ledger.store, due, head_hash)
        write_account_snapshots(ledger.store, state, head_hash, crossed)
        return lookup, time.perf_counter() - start


def ceiling_figures(events: int, rounds: Rounds, rates: dict[str, float]) -> None:
    """The ingest's required parts, each alone on the same lines, the ceiling they make on each backend (the
    storage-layer append on SQLite, and on PostgreSQL if it was timed), and the ingest's share of it (target 60%).

    Then the two parts an ingest does besides those three and cannot leave out, timed on the same lines as it runs
    them (each event admitted, folded, then decided; only the part named is timed): admission (the checks an
    append makes, ``engine.admission.admit``) and deciding (the liquidation index kept true and the engine's
    decisions at marks, ``EngineSession``); and the floor all five make. Then the two steps besides those an
    ingest cannot leave out (``_lookup_and_snapshots``: the lookup of stored ids, the snapshots due at its end) and
    the floor all seven make: what is left between it and the ingest is the rest (reading and chunking the file,
    the transaction's own start and commit). Each floor is also given as a multiple of the eventsourcing
    application's rate (its median), which the ingest's target is (1.5x). Medians of the rounds. A floor adds
    parts timed one after another, as the ingest runs them: an ingest that overlapped them (the database working
    in its own process while the next chunk is decided) could pass it."""
    decode, fold, admission, deciding = (rounds.median(part) for part in ("decode", "fold", "admission", "deciding"))
    backends = [backend for backend in ("SQLite", "PostgreSQL") if f"append {backend}" in rounds.seconds]
    appends = {backend: rounds.median(f"append {backend}") for backend in backends}
    for part, seconds in [("strict decoding of the lines", decode), ("the write path's fold (fast apply)", fold)] + [
            (f"the storage-layer append ({backend})", seconds) for backend, seconds in appends.items()] + [
            ("besides them: admission (the append's checks)", admission),
            ("besides them: deciding (the index's upkeep, the engine)", deciding)] + [
            (f"and the lookup of stored ids ({backend})", rounds.median(f"lookup {backend}")) for backend in backends] + [
            (f"and the snapshots due ({backend})", rounds.median(f"snapshots {backend}")) for backend in backends]:
        print(f"    part: {part:<56} {events / seconds:>12,.1f} events/s", flush=True)
    for backend, append in appends.items():
        theirs = rounds.median(f"{backend} theirs") if f"{backend} theirs" in rounds.seconds else None
        required = rounds.median(f"lookup {backend}") + rounds.median(f"snapshots {backend}")
        for label, seconds in [(f"ingest ceiling ({backend})", decode + fold + append),
                               (f"with admission and deciding ({backend})", decode + fold + append + admission + deciding),
                               (f"and the lookup and snapshots ({backend})",
                                decode + fold + append + admission + deciding + required)]:
            share = f"; `ledger ingest` at {rates[backend] * seconds / events:.1%} of it" if backend in rates else ""
            target = " (target 60%)" if share and label.startswith("ingest ceiling") else ""
            peer = f"; {theirs / seconds:.2f}x the eventsourcing app" if theirs else ""
            print(f"    {label}: {events / seconds:,.1f} events/s{share}{target}{peer}", flush=True)


def _admission_and_deciding(decoded: list) -> tuple[float, float]:
    """Seconds spent admitting and deciding ``decoded``, as an append runs them (a fresh ledger, the default
    limits), each timed alone around its own calls (``bench.engine_parts``: deciding is the index's upkeep and the
    engine's step after it)."""
    from bench.engine_parts import engine_steps

    spent = engine_steps(decoded)
    return spent["admission"], spent["index upkeep"] + spent["deciding"]


def audit_figures(url: str, events: int, tmp: Path, parts: int, base: Path | None) -> None:
    one = peak.run(tmp / "peak.json", ["--db", url, "audit", "--parts", "1"], tree=ROOT)
    split = peak.run(tmp / "peak.json", ["--db", url, "audit", "--parts", str(parts)], tree=ROOT)
    line(f"`ledger audit --parts {parts}` vs one pass", events / split["seconds"], events / one["seconds"], "events/s")
    if base is not None:
        old = peak.run(tmp / "peak.json", ["--db", url, "audit"], tree=base)
        line(f"`ledger audit --parts {parts}` vs base tree's audit", events / split["seconds"], events / old["seconds"],
             "events/s", "target >= 2x")
        line("`ledger audit --parts 1` vs base tree's audit", events / one["seconds"], events / old["seconds"], "events/s")


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least one round")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("--pg", help="a PostgreSQL server URL whose user may create databases")
    parser.add_argument("--base-tree", type=Path, help="another checkout of the ledger, for today's figures")
    parser.add_argument("--parts", type=int, default=2)
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--repeat", type=_at_least_one, default=1,
                        help="N rounds (each ingest, then each part), keeping each figure's median")
    args = parser.parse_args()
    history = args.history.resolve()
    with history.open("rb") as handle:
        events = sum(1 for text in handle if text.strip())
    print(f"{'figure':<62} {'ours':>12} {'baseline':>12} {'unit':<9} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        lines = history.read_bytes().splitlines()
        # the parts run in this process: under the collector's schedule `ledger ingest` runs under (before the
        # eighth part they ran under the interpreter's, 2-3% slower)
        gc_policy.collect_older_generations_rarely()
        rounds = Rounds()
        for _ in range(args.repeat):
            ingest_round(history, tmp, args.pg, args.base_tree, rounds)
            if not args.skip_ceiling:
                parts_round(lines, tmp, args.pg, rounds)
        rates = ingest_figures(events, rounds)
        if not args.skip_ceiling:
            ceiling_figures(events, rounds, rates)
        audit_figures(rounds.ours_url, events, tmp, args.parts, args.base_tree)


if __name__ == "__main__":
    main()
