"""The collector's schedule for a process that replays (``ledger.gc_policy``): set where a process starts.

The CLI and the processes a local sweep and an audit in parts start collect
the older generations rarely; the youngest keeps CPython's threshold; merely
importing the library changes nothing.
"""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys

import pytest

from ledger import gc_policy
from ledger.cli.app import main
from ledger.compliance import audit_parts, sweep

DEFAULT = (700, 10, 10)


@pytest.fixture
def default_schedule():
    kept = gc.get_threshold()
    gc.set_threshold(*DEFAULT)
    yield
    gc.set_threshold(*kept)


def test_the_cli_collects_the_older_generations_rarely(default_schedule):
    """Every command runs under the ledger's schedule: the older generations every ``OLDER_EVERY`` collections of
    the one younger, the youngest threshold as CPython has it."""
    with contextlib.suppress(SystemExit):
        main(["--version"])
    assert gc.get_threshold() == (DEFAULT[0], gc_policy.OLDER_EVERY, gc_policy.OLDER_EVERY)


def test_a_local_sweep_worker_and_an_audit_part_set_it_as_they_start(default_schedule, monkeypatch):
    """Both entry points of a process of their own set the schedule (their work stubbed: only the start is held)."""
    monkeypatch.setattr(sweep, "_rows", lambda batch: None)
    monkeypatch.setattr(sweep.signal, "signal", lambda *args: None)
    sweep._load(b"")
    assert gc.get_threshold()[1:] == (gc_policy.OLDER_EVERY, gc_policy.OLDER_EVERY)
    gc.set_threshold(*DEFAULT)

    sent = []

    class Pipe:
        def send(self, item):
            sent.append(item)

        def close(self):
            pass

    audit_parts._run_part(Pipe(), None, "sqlite:////nonexistent/folder/ledger.db", 0, 1, True, False)
    assert gc.get_threshold()[1:] == (gc_policy.OLDER_EVERY, gc_policy.OLDER_EVERY)
    assert "Error" in sent[0], "the part reports its error (the store cannot be opened), as before"


def test_importing_the_library_leaves_the_schedule_alone():
    """A program that uses the ledger as a library keeps its own collector settings."""
    code = ("import gc; t = gc.get_threshold(); import ledger, ledger.app.ledger, ledger.compliance.sweep; "
            "assert gc.get_threshold() == t, gc.get_threshold()")
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True).returncode == 0
