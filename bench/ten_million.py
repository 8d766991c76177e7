"""Issue 28, section 4: a large history end to end, each command as a user runs it.

    python bench/gen_history.py 10000000 H.jsonl --accounts 100000 --switch-at 0.5
    python -m bench.ten_million H.jsonl --db sqlite:///PATH.db [--batch 100000] [--audit-parts 2]
                                [--skip-ingest | --one-process | --one-command]
                                [--steps replay,account,balances,liquidations,audit,whatif,sweep]

The history is ingested in batches of ``--batch`` lines, one ``ledger ingest``
each (a fresh process, as a feed's job runs it: each loads the state at the
head from its snapshot; ``--one-process``: every batch in one process that
stays up instead, ``bench.warm_ingest``, whose engine session stays warm from
batch to batch, each batch timed; ``--one-command``: the batches written as
files and ingested by one ``ledger ingest F1 F2 ...``, as a user gives a
command the files of a day, the whole command timed), then: the full replay
from the first event (no
snapshot trusted), ``account`` at the head and as of a past time,
``balances --as-of``, ``liquidations``, ``audit``, one ``whatif`` (partial-v1
with a fee of 0.5% and a target buffer of 0.5 from the first event) and a
16-candidate ``sweep`` (fee × target buffer, ``bench.sweep``'s ``fees`` grid)
on 2 local workers (``--steps``: which of them; the replay runs whatever
they are, as it names the account and the past time the others ask). Every
command is timed inside its process (``bench.peak``: the command alone, not
the interpreter's start-up) with its peak resident memory (the sweep's: its
parent process's, not its workers'). Run it on a 1M history of the same mix
(``--accounts 10000``) for the linearity ratios. Prints one line per figure
and writes them all as JSON (``--json``).
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

from bench.gen_history import MARKETS, RATES
from bench.peak import run as peak_run
from bench.sweep import GRIDS

ROOT = Path(__file__).resolve().parents[1]
FIGURES: list[dict] = []


def peak(out: Path, *args: str, stdout: Path | None = None) -> dict:
    """``ledger ARGS`` timed in a process of its own (``bench.peak.run``); its output into ``stdout`` if given."""
    return peak_run(out, args, stdout=stdout or Path(os.devnull))


def record(figure: str, seconds: float, events: int | None, peak_kib: int, **extra: object) -> None:
    rate = f"{events / seconds:>12,.0f} events/s" if events else " " * 21
    print(f"{figure:<44} {seconds:>10.3f} s {rate} {peak_kib / 1024:>8,.0f} MiB", flush=True)
    FIGURES.append({"figure": figure, "seconds": seconds, "events": events, "peak_mib": peak_kib / 1024, **extra})


def _init(url: str) -> None:
    """``ledger init``: the schema the ingest needs."""
    subprocess.run([sys.executable, "-m", "ledger", "--db", url, "init"], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)


def ingest_in_batches(history: Path, url: str, batch: int, tmp: Path) -> int:
    """The history ingested ``batch`` lines at a time, one ``ledger ingest`` each; the events ingested."""
    _init(url)
    chunk, total, batches, worst_peak = tmp / "batch.jsonl", 0, [], 0
    with history.open("rb") as lines:
        while True:
            part = [line for _, line in zip(range(batch), lines, strict=False)]
            if not part:
                break
            chunk.write_bytes(b"".join(part))
            run = peak(tmp / "peak.json", "--db", url, "ingest", str(chunk))
            batches.append(run["seconds"])
            worst_peak = max(worst_peak, run["peak_kib"])
            total += len(part)
            if len(batches) in (1, 2) or len(batches) % 10 == 0:
                print(f"    batch {len(batches):>3}: {len(part):,} lines in {run['seconds']:.2f} s "
                      f"({total:,} in all; peak {run['peak_kib'] / 1024:,.0f} MiB)", flush=True)
    record(f"ingest, {len(batches)} batches of {batch:,} lines", sum(batches), total, worst_peak,
           first_batch_s=batches[0], last_batch_s=batches[-1], batches_s=batches)
    return total


def ingest_in_one_process(history: Path, url: str, batch: int, tmp: Path) -> int:
    """The history ingested ``batch`` lines at a time by one process that stays up (``bench.warm_ingest``: its
    engine session warm from batch to batch); the events ingested."""
    _init(url)
    out = tmp / "warm.json"
    subprocess.run([sys.executable, "-m", "bench.warm_ingest", str(history), url, "--batch", str(batch),
                    "--json", str(out)], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    figures = json.loads(out.read_text())
    batches = figures["batches_s"]
    record(f"ingest, {len(batches)} batches of {batch:,} lines, one process", sum(batches), figures["lines"],
           figures["peak_kib"], first_batch_s=batches[0], last_batch_s=batches[-1], batches_s=batches)
    return int(figures["lines"])


def ingest_in_one_command(history: Path, url: str, batch: int, tmp: Path) -> int:
    """The history written as files of ``batch`` lines, all ingested by one ``ledger ingest F1 F2 ...`` (one
    process, each file its own transaction, the engine state carried warm from file to file); the events ingested.
    Timed as the other ingests (``bench.peak``: the command inside its process). The files take as much room as the
    history, in the temporary directory (``TMPDIR``), until the command ends."""
    _init(url)
    files: list[Path] = []
    total = 0
    with history.open("rb") as lines:
        while part := [line for _, line in zip(range(batch), lines, strict=False)]:
            files.append(tmp / f"batch{len(files):05d}.jsonl")
            files[-1].write_bytes(b"".join(part))
            total += len(part)
    answer = tmp / "ingest.txt"
    run = peak(tmp / "peak.json", "--db", url, "ingest", *map(str, files), stdout=answer)
    stored = answer.read_text().splitlines()
    assert len(stored) == len(files) and all(" appended, 0 already stored" in line for line in stored), stored[-1:]
    for file in files:
        file.unlink()
    record(f"ingest, {len(files)} files of {batch:,} lines, one command", run["seconds"], total, run["peak_kib"])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("--db", required=True)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--audit-parts", type=int, default=2)
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--skip-ingest", action="store_true", help="the database already holds the history")
    how.add_argument("--one-process", action="store_true",
                     help="ingest every batch in one process that stays up (bench.warm_ingest), not one each")
    how.add_argument("--one-command", action="store_true",
                     help="write the batches as files and ingest them all with one `ledger ingest F1 F2 ...`")
    parser.add_argument("--steps", default=",".join(STEPS), help="which commands after the ingest (comma-separated)")
    parser.add_argument("--json", type=Path, default=Path("out/ten_million.json"))
    args = parser.parse_args()
    steps = set(args.steps.split(","))
    if steps - set(STEPS):
        parser.error(f"--steps: unknown {sorted(steps - set(STEPS))}; known: {','.join(STEPS)}")
    url = args.db
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        out = tmp / "peak.json"
        if args.skip_ingest:
            with args.history.open("rb") as handle:
                events = sum(1 for _ in handle)
        else:
            ingest = (ingest_in_one_process if args.one_process else
                      ingest_in_one_command if args.one_command else ingest_in_batches)
            events = ingest(args.history.resolve(), url, args.batch, tmp)
        replay = subprocess.run(
            [sys.executable, "-c", _REPLAY, url], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
        folded = json.loads(replay.stdout)
        if "replay" in steps:
            record("full replay from the first event (fast path)", folded["seconds"], events, folded["peak_kib"])
        account, past = folded["account"], folded["past"]
        if "account" in steps:
            for label, extra in [("account at the head", []), (f"account as of {past}", ["--as-of", past])]:
                run = peak(out, "--db", url, "account", account, "--format", "json", *extra)
                record(label, run["seconds"], None, run["peak_kib"])
        if "balances" in steps:
            run = peak(out, "--db", url, "balances", "--as-of", past, "--format", "json")
            record(f"balances --as-of {past}", run["seconds"], None, run["peak_kib"])
        if "liquidations" in steps:
            run = peak(out, "--db", url, "liquidations", "--format", "json")
            record("liquidations", run["seconds"], None, run["peak_kib"])
        if "audit" in steps:
            start = time.perf_counter()
            run = peak(out, "--db", url, "audit", "--parts", str(args.audit_parts))
            record(f"audit --parts {args.audit_parts}", run["seconds"], events, run["peak_kib"],
                   wall_s=time.perf_counter() - start)
        compliance_runs(url, steps, events, tmp)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(FIGURES, indent=1))
    print(f"figures written to {args.json}")


STEPS = ("replay", "account", "balances", "liquidations", "audit", "whatif", "sweep")

WHATIF_PARAMS = {"liquidation_fee_rate": "0.005", "target_buffer": "0.5",
                 "markets": dict.fromkeys(MARKETS, RATES)}
"""The what-if's candidate: the history's markets and rates, a higher fee and buffer."""


def compliance_runs(url: str, steps: set[str], events: int, tmp: Path) -> None:
    """The what-if and the sweep, each a ``ledger`` process of its own, with its figures (how many liquidations
    each world made: the work is real, not an empty answer)."""
    out = tmp / "peak.json"
    if "whatif" in steps:
        params = tmp / "params.json"
        params.write_text(json.dumps(WHATIF_PARAMS))
        answer = tmp / "whatif.json"
        run = peak(out, "--db", url, "whatif", "--rules", "partial-v1", "--params", str(params), "--format", "json",
                   stdout=answer)
        figures = json.loads(answer.read_text())
        record("whatif (partial-v1, fee 0.5%, buffer 0.5)", run["seconds"], events, run["peak_kib"],
               liquidations={asset: metrics["liquidations"] for asset, metrics in figures["summary"].items()},
               accounts_differing=len(figures["accounts"]))
    if "sweep" in steps:
        grid = tmp / "grid.json"
        grid.write_text(json.dumps(GRIDS["fees"]))
        answer = tmp / "sweep.json"
        run = peak(out, "--db", url, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--workers", "2",
                   "--format", "json", stdout=answer)
        rows = json.loads(answer.read_text())
        record(f"sweep, {len(rows)} candidates, 2 workers (parent's peak)", run["seconds"], events, run["peak_kib"],
               liquidations=[row["liquidations"] for row in rows])


_REPLAY = """
import json, sys, time
from bench.peak import high_water_kib
from ledger import Ledger
from ledger.domain.timefmt import format_time
from ledger.replay import load
with Ledger.open(sys.argv[1], create=False) as ledger:
    store = ledger.reader()
    start = time.perf_counter()
    state = load.folded(store)
    seconds = time.perf_counter() - start
    busiest = max(state.accounts.values(), key=lambda a: len(a.positions)).name
    middle = next(iter(store.read(after_seq=state.seq // 2)))
    print(json.dumps({"seconds": seconds, "peak_kib": high_water_kib(), "account": busiest,
                      "past": middle.at}))
"""


if __name__ == "__main__":
    main()
