"""The collector's schedule for a process that replays (``ledger.gc_policy``): set where a process starts.

The CLI's commands and the processes a local sweep and an audit in parts
start collect the older generations rarely, and the youngest after more
allocations than CPython's default; the web console, which stays up, keeps the interpreter's schedule;
merely importing the library changes nothing.
"""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys

import click
import pytest

from ledger import gc_policy
from ledger.cli.app import main
from ledger.compliance import audit_parts, sweep
from tests.support.cli import run

DEFAULT = (700, 10, 10)
LEDGERS = (gc_policy.YOUNGEST, gc_policy.OLDER_EVERY, gc_policy.OLDER_EVERY)

pytestmark = pytest.mark.skipif(not gc_policy.APPLIES, reason="the schedule is set only on CPython 3.11 to 3.13")


@pytest.fixture(autouse=True)
def default_schedule(monkeypatch):
    """Each test starts from CPython's schedule (as the interpreter started), and the suite's is put back after."""
    kept = gc.get_threshold()
    gc.set_threshold(*DEFAULT)
    yield
    gc.set_threshold(*kept)


def test_the_cli_collects_the_older_generations_rarely(sqlite_ledger, monkeypatch):
    """A command that replays and ends runs under the ledger's schedule: the older generations every
    ``OLDER_EVERY`` collections of the one younger, the youngest after ``YOUNGEST`` allocations."""
    from ledger.cli import ledger_commands

    during = []

    def open_ledger(ctx):
        during.append(gc.get_threshold())
        raise click.exceptions.Exit(0)  # the command's work stubbed: only when the schedule is set is held

    monkeypatch.setattr(ledger_commands, "open_ledger", open_ledger)
    with contextlib.suppress(SystemExit):
        main(["--db", sqlite_ledger.url, "balances"])
    assert during == [LEDGERS], "set before the command's own work"
    gc.set_threshold(*DEFAULT)
    with contextlib.suppress(SystemExit):
        main(["--version"])
    assert gc.get_threshold() == DEFAULT, "no command ran: nothing to replay"


def test_a_local_sweep_worker_and_an_audit_part_set_it_as_they_start(monkeypatch):
    """Both entry points of a process of their own set the schedule (their work stubbed: only the start is held)."""
    monkeypatch.setattr(sweep, "_mapped_rows", lambda path: None)
    monkeypatch.setattr(sweep, "_worker", {})
    monkeypatch.setattr(sweep.signal, "signal", lambda *args: None)
    sweep._load("history.arrow")
    assert gc.get_threshold() == LEDGERS
    gc.set_threshold(*DEFAULT)
    sent = []

    class Pipe:
        def send(self, item):
            sent.append(item)

        def close(self):
            pass

    audit_parts._run_part(Pipe(), None, "sqlite:////nonexistent/folder/ledger.db", 0, 1, True, False)
    assert gc.get_threshold() == LEDGERS
    assert "Error" in sent[0], "the part reports its error (the store cannot be opened), as before"


def test_the_web_console_keeps_the_interpreters_schedule(sqlite_ledger, monkeypatch):
    """``ledger serve`` stays up: cyclic garbage its requests leave must not wait for rare collections, so the
    server runs under the schedule the interpreter started with."""
    from ledger import web

    served, set_rarely = [], []
    monkeypatch.setattr(web, "serve", lambda *args, **kwargs: served.append(gc.get_threshold()))
    monkeypatch.setattr(gc_policy, "collect_older_generations_rarely", lambda: set_rarely.append(1))
    code, _, err = run(sqlite_ledger.url, "serve", "--port", "8765")
    assert code == 0, err
    assert served == [DEFAULT]
    assert set_rarely == [], "never set for a command that stays up (not set, then undone)"


def test_importing_the_library_leaves_the_schedule_alone():
    """A program that uses the ledger as a library keeps its own collector settings."""
    code = ("import gc; t = gc.get_threshold(); import ledger, ledger.app.ledger, ledger.compliance.sweep; "
            "assert gc.get_threshold() == t, gc.get_threshold()")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
