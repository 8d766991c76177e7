"""What the long commands show while they work (on a terminal): every phase of an ingest with its own count and
time left, and a sweep's candidates done out of all (#26 point 4)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

from rich.console import Console

from bench.gen_history import generate
from ledger.cli.progress import PHASES, ingest_progress
from tests.conftest import ROOT
from tests.support.cli import ok

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def at_a_terminal(url: str, *args: str) -> str:
    """The command's stderr as a terminal would draw it (rich's bars redrawn in place), escape codes removed."""
    done = subprocess.run([sys.executable, "-m", "ledger", "--db", url, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "160"}, check=True, timeout=300)
    return ANSI.sub("", done.stderr)


def test_the_ingest_bars_estimate_each_phase_from_its_own_rate_never_from_the_reading():
    """The file read whole in 1 s while the engine and the store took 50 of its 100 lines in 5 s: reading says it is
    done, the engine and the store each say 5 s left (50 lines at 10 a second), not the 0 s that extrapolating
    from the reading would say, and the commit is waiting."""
    now = [0.0]
    terminal = Console(file=io.StringIO(), force_terminal=True, width=150, color_system=None)
    with ingest_progress("h.jsonl", 1000, console=terminal, get_time=lambda: now[0]) as bars:
        now[0] = 1
        bars("read", 1000)
        bars("lines", 50)
        bars("lines", 50)
        now[0] = 5
        bars("engine", 50)
        bars("store", 50)
        shown = Console(file=io.StringIO(), width=150, record=True, color_system=None)
        shown.print(bars.bar.get_renderable())
        text = shown.export_text()
    lines = {phase: next(line for line in text.splitlines() if line.startswith(label)) for phase, label in PHASES.items()}
    assert "100%" in lines["read"] and "left 0:00:00" in lines["read"]
    for phase in ("engine", "store"):
        assert "50/100 lines" in lines[phase] and "left 0:00:05" in lines[phase], lines[phase]
    assert "waiting" in lines["commit"]


def test_the_lines_still_to_come_are_estimated_from_the_lines_per_byte_read():
    """Halfway through a file, 2,000 lines decoded from its first 500 of 1,000 bytes: 4,000 lines are expected; an input
    of unknown size (standard input, gzip) gets no estimate until it is read to its end, then the exact count."""
    terminal = Console(file=io.StringIO(), force_terminal=True, width=150, color_system=None)
    with ingest_progress("h.jsonl", 1000, console=terminal) as sized, ingest_progress("-", None, console=terminal) as unsized:
        for bars in (sized, unsized):
            bars("read", 500)
            bars("lines", 2000)
        assert sized.expected_lines() == 4000 and unsized.expected_lines() is None
        unsized("commit", 0)
        assert unsized.expected_lines() == 2000


def test_an_ingest_at_a_terminal_shows_every_phase_to_its_end(sqlite_url, tmp_path):
    """``ledger ingest`` at a terminal draws a bar per phase (reading, engine, storing, commit), counting lines out of
    the file's, and ends with every line stored and the commit done."""
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(record) + "\n" for record in generate(5_000, accounts=20, seed=3)))
    ok(sqlite_url, "init")
    shown = at_a_terminal(sqlite_url, "ingest", str(history))
    for label in PHASES.values():
        assert label in shown, label
    assert re.search(r"storing\s[^\n\r]*5,000/5,000 lines", shown) and re.search(r"commit, snapshots[^\n\r]*done", shown)


def test_a_sweep_at_a_terminal_counts_its_candidates_out_of_all(sqlite_url, tmp_path):
    """``ledger sweep`` at a terminal shows its candidates done out of all (``4/4 candidates`` at the end), the total
    known from the first count on."""
    ok(sqlite_url, "init")
    ok(sqlite_url, "ingest", str(ROOT / "examples" / "sample-history.jsonl"))
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001", "0.01"], "target_buffer": ["0.1", "1"]}}))
    shown = at_a_terminal(sqlite_url, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--workers", "1")
    counts = re.findall(r"(\d+)/(\d+|\?) candidates", shown)
    assert ("4", "4") in counts, shown[-1000:]
    assert {total for done, total in counts if done != "0"} == {"4"}, "every count says out of how many"


def test_the_reading_is_told_in_sums_per_chunk_and_they_add_up_to_the_file(tmp_path):
    """Telling a progress display every line cost 6% of an ingest: ``chunks`` tells it the bytes read as each chunk is
    given (so bytes and lines told agree) and once at the end; the sums are the file's size, blank lines included."""
    from ledger.app import ingest

    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(record) + "\n" + ("\n" if i % 7 == 0 else "")
                               for i, record in enumerate(generate(1_050, accounts=20, seed=5))))
    told: list[int] = []
    given = [(len(chunk), sum(told)) for chunk in ingest.chunks(history, ingest.Reading(), told.append, size=200)]
    assert sum(told) == history.stat().st_size
    assert len(told) == len(given) == 6, (told, given)  # five full chunks, then the last with the rest of the file
    assert [n for n, _ in given] == [200] * 5 + [50]
    assert given[-1][1] == history.stat().st_size


def test_an_ingest_not_at_a_terminal_reports_to_no_bars(sqlite_url, tmp_path, monkeypatch):
    """Bars that are not drawn (output to a file or a pipe, as scripts run it) are not fed at all: the ingest's
    phases go nowhere, and the lines are still all stored."""
    from ledger.cli.progress import IngestBars

    fed: list[tuple[str, int]] = []
    monkeypatch.setattr(IngestBars, "__call__", lambda self, phase, count: fed.append((phase, count)))
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(record) + "\n" for record in generate(300, accounts=5, seed=3)))
    ok(sqlite_url, "init")
    assert "300 lines: 300 appended" in ok(sqlite_url, "ingest", str(history))
    assert fed == []
    terminal = Console(file=io.StringIO(), force_terminal=True)
    with ingest_progress("h.jsonl", 10, console=terminal) as drawn, \
            ingest_progress("h.jsonl", 10, console=Console(file=io.StringIO())) as hidden:
        assert drawn.drawn and not hidden.drawn
