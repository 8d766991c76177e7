"""Resource limits: big files stream with bounded memory; Ctrl-C harms nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from bench.gen_history import generate
from ledger import Ledger
from ledger.store.sql import SQLITE_WRITER_CACHE_KIB
from tests.conftest import ROOT


def write_history(path: Path, n: int) -> Path:
    with path.open("w") as handle:
        for record in generate(n, accounts=20, seed=3):
            handle.write(json.dumps(record) + "\n")
    return path


PEAK_SCRIPT = """
import resource, sys
from ledger import Ledger
from ledger.store.sql import SQLITE_WRITER_CACHE_KIB
with Ledger.open(sys.argv[1]) as ledger:
    ledger.init()
    ledger.ingest_file(sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_kb(tmp_path: Path, n: int) -> int:
    history = write_history(tmp_path / f"h{n}.jsonl", n)
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, f"sqlite:///{tmp_path / f'm{n}.db'}", str(history)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    return int(done.stdout.strip())


@pytest.mark.parametrize(("small", "large"), [pytest.param(5_000, 50_000), pytest.param(20_000, 1_000_000, marks=pytest.mark.slow)])
def test_ingesting_a_ten_times_larger_file_needs_no_more_memory(tmp_path, small, large):
    """Beyond 20 MiB of slack, only the writer's SQLite page cache may fill up: a fixed cap, whatever the file's size."""
    small_peak, large_peak = peak_kb(tmp_path, small), peak_kb(tmp_path, large)
    bound = 20 * 1024 + SQLITE_WRITER_CACHE_KIB
    assert large_peak - small_peak < bound, f"peak RSS grew from {small_peak} KB to {large_peak} KB"


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Said(threading.Thread):
    """What a child writes to stderr, read as it comes (its progress bars, redrawn in place on a terminal)."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.stream, self.chunks, self.ended = stream, [], False
        self.changed = threading.Condition()
        self.start()

    def run(self) -> None:
        while chunk := os.read(self.stream.fileno(), 1 << 16):
            with self.changed:
                self.chunks.append(chunk)
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return ANSI.sub("", b"".join(self.chunks).decode(errors="replace"))

    def shows(self, pattern: str, limit: float = 300) -> bool:
        """Whether the child's output comes to match ``pattern`` before it ends (``limit``: seconds, against a hang)."""
        with self.changed:
            return self.changed.wait_for(lambda: self.ended or bool(re.search(pattern, self.text())), limit) \
                and bool(re.search(pattern, self.text()))


def descendants(pid: int) -> set[int]:
    """The processes ``pid`` started, and theirs (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a process still alive (a zombie is not: it runs nothing, its parent has not reaped it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def interrupt(url: str, *command: str, inside: str) -> tuple[str, float, dict[int, str]]:
    """Run ``ledger --db URL COMMAND`` as at a terminal (its own process group, which the key reaches whole;
    ``FORCE_COLOR``: rich draws its progress), wait for the
    child's own sign that it is inside the work meant to be interrupted (``inside``, a pattern its progress comes to
    show), then press Ctrl-C. Returns its stderr, the seconds it took to exit after the key, and the processes it had
    started by then (with their command lines). No wall-clock window: a busy machine only makes the wait longer."""
    # as a terminal's Ctrl-C finds the command: a test run started in the background (``cmd &``) ignores SIGINT, and
    # a child inherits an ignored signal (a handler is reset to the default at exec), so it would never see the key
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "ledger", "--db", url, *command], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "200"}, process_group=0,
        )
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    said = _Said(child.stderr)
    try:
        assert said.shows(inside), f"{command[0]} ended (or hung) before showing {inside!r}: {said.text()[-2000:]}"
        started = {pid: _command(pid) for pid in descendants(child.pid)}
        pressed = time.monotonic()
        os.killpg(child.pid, signal.SIGINT)  # the key reaches every process of the command, as at a terminal
        child.wait(timeout=60)
        took = time.monotonic() - pressed
    finally:
        child.kill()
        child.wait()
    said.join(timeout=10)
    assert child.returncode == 130, said.text()[-2000:]
    return said.text(), took, started


INTERRUPTED_LINES = 30_000
"""Lines of the history the Ctrl-C tests interrupt: many chunks of work after the sign they wait for. (They used to
take 150,000 and 120,000, for a Ctrl-C pressed 2.5 s in to find the command still at work on a busy machine.)"""


@pytest.fixture(scope="module")
def long_history(tmp_path_factory) -> Path:
    """A history file for the Ctrl-C tests, written once for the module."""
    return write_history(tmp_path_factory.mktemp("long") / "long.jsonl", INTERRUPTED_LINES)


@pytest.fixture(scope="module")
def long_ledger(long_history, tmp_path_factory) -> str:
    """A SQLite ledger holding ``long_history``, made once for the module (its tests leave it as it was)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('long-ledger') / 'r.db'}"
    with Ledger.open(url) as ledger:
        ledger.init()
        ledger.ingest_file(long_history)
    return url


def test_ctrl_c_during_an_ingest_stores_nothing(long_history, tmp_path):
    """Ctrl-C during an ingest (once a chunk is stored, uncommitted) exits 130 and stores nothing; the log still
    verifies and takes the next ingest."""
    url = f"sqlite:///{tmp_path / 'i.db'}"
    history = long_history
    with Ledger.open(url) as ledger:
        ledger.init()
    said, _, _ = interrupt(url, "ingest", str(history), inside=r"storing[^\n\r]*\s[1-9][\d,]*/[\d,]+ lines")
    assert "interrupted" in said
    with Ledger.open(url) as ledger:
        assert ledger.head_seq() == 0
        assert ledger.verify().ok
        ledger.ingest_file(write_history(tmp_path / "small.jsonl", 100))
        assert ledger.head_seq() == 100


def test_ctrl_c_during_a_long_replay_harms_nothing(long_ledger):
    """An audit (a full replay) interrupted once its replay is under way: exit 130, the log as it was."""
    url = long_ledger
    with Ledger.open(url) as ledger:
        head = ledger.store.head()
    said, _, _ = interrupt(url, "audit", inside=r"auditing[^\n\r]*\s[1-9]\d*%")
    assert "interrupted" in said
    with Ledger.open(url) as ledger:
        assert ledger.store.head() == head and ledger.verify().ok


def test_ctrl_c_stops_a_sweep_within_a_second_and_leaves_no_worker_behind(crash_url, tmp_path):
    """#26 point 4: Ctrl-C while a sweep's process pool works exits 130 within a second, and every worker process is
    gone (the pool used to wait for every candidate already queued, and its workers printed tracebacks)."""
    url = crash_url  # only read
    grid = tmp_path / "grid.json"
    steps = [f"0.{n:03d}" for n in range(1, 21)]
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": steps, "target_buffer": steps}}))
    said, took, started = interrupt(url, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--workers", "2",
                                    inside=r"\s[1-9]\d*/400 candidates")
    assert "interrupted" in said and "Traceback" not in said, said[-2000:]
    assert took < 1.0, f"the sweep took {took:.2f} s to stop after Ctrl-C"
    workers = [pid for pid, command in started.items() if "spawn_main" in command]
    assert len(workers) == 2, started
    assert not [pid for pid in workers if running(pid)], "a worker outlived the sweep"
    for _ in range(50):  # the pool's resource tracker ends once it sees its parent gone
        if not any(running(pid) for pid in started):
            break
        time.sleep(0.1)
    assert not [started[pid] for pid in started if running(pid)], "a process of the sweep outlived it"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_replay_reports_progress_for_every_event_it_folds(sqlite_ledger, tmp_path):
    """A replay reports progress for every event it folds: the counts it reports sum to the events in the log."""
    sqlite_ledger.ingest_file(write_history(tmp_path / "h.jsonl", 500))
    seen = []
    sqlite_ledger.state(progress=seen.append)
    assert sum(seen) == 500


DEPOSIT = b'{"type": "deposit", "id": "d-0", "at": "2024-08-05T00:00:00Z", "account": "a", "asset": "USD", "amount": "1"}\n'

LINE_PEAK_SCRIPT = """
import resource, sys
from ledger import InvalidBatch, Ledger
with Ledger.open(sys.argv[1]) as ledger:
    ledger.init()
    try:
        ledger.ingest_file(sys.argv[2])
    except InvalidBatch as exc:
        print(exc.errors[0])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_line_past_the_limit_is_refused_without_being_held_in_memory(tmp_path):
    """#27 point 14: the 64 KiB line limit was checked after the whole line was in memory (one newline-free gzip line
    of 1 MiB compressed reached 2.2 GB). Now the line is read past in pieces: refused naming its line, and the peak
    grows by far less than the line (200 MB of it here) over an ingest of one short line."""
    import gzip

    huge = tmp_path / "huge.jsonl.gz"
    with gzip.open(huge, "wb", compresslevel=1) as handle:
        handle.write(DEPOSIT)
        for _ in range(200):
            handle.write(b" " * (1 << 20))
        handle.write(b"\n")
    small = tmp_path / "small.jsonl.gz"
    with gzip.open(small, "wb") as handle:
        handle.write(DEPOSIT)

    def run_one(path: Path, name: str) -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", LINE_PEAK_SCRIPT, f"sqlite:///{tmp_path / name}", str(path)],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        *said, peak = done.stdout.strip().splitlines()
        return "\n".join(said), int(peak)

    said, peak = run_one(huge, "huge.db")
    _, baseline = run_one(small, "small.db")
    assert f"{huge}:2: line is longer than 65536 bytes" in said, said
    assert peak - baseline < 50 * 1024, f"peak RSS {peak} KB against {baseline} KB: the line was held in memory"
