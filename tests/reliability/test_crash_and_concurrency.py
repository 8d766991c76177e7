"""Crash safety and concurrency, with real processes, on SQLite and PostgreSQL.

Crash: a child appends batches and reports each append as it starts and when
it returned; after a random number of acknowledged batches it is killed with
SIGKILL once it says it is inside the next append (never after a wall-clock
guess, which a loaded machine turns into a kill before any write), many times. After every kill, each
reported batch is stored whole, no batch is stored in part, the chain
verifies, and the next append works. The default run kills ``KILLS`` times per
backend; ``-m slow`` runs the long variant.

Concurrency: processes append at once to a shared stream (with optimistic
concurrency and retries) and to their own streams; nothing is lost or
duplicated, sequence and stream versions have no gaps, and the only error ever
seen is the documented conflict.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from ledger import Ledger
from tests.conftest import ROOT
from tests.support.appender import BATCH_SIZE, batch

KILLS = 6
LONG_KILLS = 60


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.appender", *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def stored_batches(ledger: Ledger) -> Counter:
    return Counter(row.event_id.split("-")[0] for row in ledger.events())


def _until_inside_an_append(child: subprocess.Popen, acknowledged: int) -> list[str]:
    """The child's lines until ``acknowledged`` appends returned and it said it started the next one."""
    assert child.stdout is not None
    seen: list[str] = []
    committed = 0
    while True:
        line = child.stdout.readline()
        assert line, f"the child stopped before being killed: {child.communicate()[1]}"
        seen.append(line.strip())
        committed += line.startswith("committed")
        if committed >= acknowledged and line.startswith("appending"):
            return seen


def crash_many_times(url: str, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    with Ledger.open(url) as ledger:
        ledger.init()
    reported: set[str] = set()
    for _ in range(kills):
        with Ledger.open(url) as ledger:
            first = len(stored_batches(ledger))
        child = spawn("batches", url, str(first))
        seen = _until_inside_an_append(child, acknowledged=rng.randint(1, 3))
        time.sleep(rng.uniform(0, 0.02))  # somewhere inside that append, or just past its commit
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, err
        reported |= {f"b{line.split()[1]}" for line in seen + out.splitlines() if line.startswith("committed")}
        with Ledger.open(url) as ledger:
            counts = stored_batches(ledger)
            assert all(n == BATCH_SIZE for n in counts.values()), f"a batch was stored in part: {counts}"
            assert reported <= set(counts), f"acknowledged batches lost: {reported - set(counts)}"
            report = ledger.verify()
            assert report.ok, report.problem
            next_batch = len(counts)
            ledger.append(batch(next_batch))
            assert stored_batches(ledger)[f"b{next_batch}"] == BATCH_SIZE
    assert reported, "the child never got to commit: the test proved nothing"


def test_sigkill_during_appends_never_loses_or_splits_a_batch(db_url):
    """A writer killed by SIGKILL mid-append loses no acknowledged batch and stores none in part; the log verifies and goes on."""
    crash_many_times(db_url, KILLS, seed=1)


@pytest.mark.slow
def test_sigkill_long_variant(db_url):
    """Over 60 SIGKILLs no acknowledged batch is lost, none is stored in part, and the log verifies and takes more after each."""
    crash_many_times(db_url, LONG_KILLS, seed=2)


def test_concurrent_processes_lose_nothing_and_leave_no_gaps(db_url):
    """Processes appending at once lose or duplicate nothing and leave no gap in the sequence or in any stream's versions."""
    with Ledger.open(db_url) as ledger:
        ledger.init()
    rounds, names = 12, ["p0", "p1", "p2", "p3"]
    children = [spawn("contend", db_url, name, str(rounds)) for name in names]
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    conflicts = sum(json.loads(out.strip().splitlines()[-1])["conflicts"] for out, _ in outputs)
    with Ledger.open(db_url) as ledger:
        rows = list(ledger.events())
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        ids = [r.event_id for r in rows]
        assert len(ids) == len(set(ids)) == 2 * rounds * len(names)
        by_stream: dict[str, list[int]] = {}
        for row in rows:
            by_stream.setdefault(row.stream, []).append(row.stream_version)
        assert all(versions == list(range(1, len(versions) + 1)) for versions in by_stream.values())
        assert len(by_stream["account:shared"]) == rounds * len(names)
        assert ledger.verify().ok
    print(f"conflicts retried: {conflicts}")
