"""``ledger ingest`` of several files: one process, each file its own transaction, stopped at the first refused.

A feed that delivers a day as a hundred files should not pay a process's
start-up and the state's load per file, nor leave a half-ingested list it
cannot tell apart: the files before a refused one stay stored and are named,
nothing of the refused one or of those after it is, and the same command run
again once the file is mended skips what is stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.app import unit_of_work
from ledger.app.ingest import business_span
from ledger.domain.timefmt import format_time
from ledger.errors import DatabaseUnavailable
from tests.conftest import ROOT
from tests.support.cli import ok, run


def _split(history: Path, into: Path, parts: int) -> list[Path]:
    """``history``'s lines in ``parts`` consecutive files."""
    lines = history.read_text().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    files = []
    for n in range(parts):
        part = into / f"part{n + 1}.jsonl"
        part.write_text("".join(lines[n * size:(n + 1) * size]))
        files.append(part)
    return files


def _head(url: str) -> int:
    with Ledger.open(url) as ledger:
        return ledger.head_seq()


def _alone(tmp_path: Path, *files: Path) -> str:
    """A ledger of its own holding ``files``, each ingested by a command of its own: what the files stored are."""
    url = f"sqlite:///{tmp_path / ('alone-' + '-'.join(file.stem for file in files) + '.db')}"
    ok(url, "init")
    for file in files:
        ok(url, "ingest", str(file))
    return url


def _holds_exactly(url: str, reference: str) -> bool:
    """The same head and the same balances as ``reference``."""
    return _head(url) == _head(reference) and ok(url, "balances", "--format", "json") == ok(
        reference, "balances", "--format", "json")


def _failing_at_the_second(monkeypatch, fail) -> None:
    """``Ledger.ingest_file`` as it is, but for its second call, which ``fail(phases)`` makes instead."""
    ingest_file, calls = Ledger.ingest_file, []

    def ingest(self, path, **kwargs):
        calls.append(path)
        return fail(kwargs["phases"]) if len(calls) == 2 else ingest_file(self, path, **kwargs)

    monkeypatch.setattr(Ledger, "ingest_file", ingest)


def test_several_files_store_what_the_whole_file_stores(db_url, crash_history, tmp_path):
    """The crash history in three files through one command: a line per file, and the same liquidations, balances
    and head as the history ingested as one file (the engine's decisions do not see where a file ended)."""
    whole = _alone(tmp_path, crash_history)
    ok(db_url, "init")
    parts = _split(crash_history, tmp_path, 3)
    out = ok(db_url, "ingest", *map(str, parts))
    assert [line.split(":")[0] for line in out.splitlines()] == [str(part) for part in parts]
    liquidations = json.loads(ok(db_url, "liquidations", "--format", "json"))
    assert liquidations and liquidations == json.loads(ok(whole, "liquidations", "--format", "json"))
    assert _holds_exactly(db_url, whole)


def test_the_state_is_loaded_once_for_all_the_files(sqlite_url, crash_history, tmp_path, monkeypatch):
    """One start-up: the state at the head is read from the store for the first file only; each later file starts
    from the engine session the one before left warm."""
    ok(sqlite_url, "init")
    loads = []
    state_at = unit_of_work.load.state_at
    monkeypatch.setattr(unit_of_work.load, "state_at", lambda *a, **k: loads.append(a) or state_at(*a, **k))
    ok(sqlite_url, "ingest", *map(str, _split(crash_history, tmp_path, 4)))
    assert len(loads) == 1


def test_a_refused_file_stops_the_command_and_the_files_before_it_stay_stored(db_url, crash_history, tmp_path):
    """The second of three files refused: exit 2, its line named; the first file stored, nothing of the second or
    third, which stderr's last line says (after the refusal, whose own "nothing was stored" is of that file). Run
    again once mended, the first is skipped as stored and the rest appended."""
    ok(db_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)
    good = second.read_text()
    lines = good.splitlines(keepends=True)
    second.write_text("".join(lines[:5]) + '{"type": "deposit", "id": "x"}\n' + "".join(lines[5:]))
    code, out, err = run(db_url, "ingest", str(first), str(second), str(third))
    assert code == 2
    assert out.splitlines()[0].startswith(f"{first}: ") and len(out.splitlines()) == 1
    assert f"error: {second}:6: missing field(s) for deposit" in err
    assert err.splitlines()[-1] == (
        f"ingest stopped at {second} (file 2 of 3): 1 file of 3 stored (each its own transaction, listed on standard "
        f"output); nothing of {second} is stored; nothing of the 1 file after it is stored")
    assert _holds_exactly(db_url, _alone(tmp_path, first))

    second.write_text(good)
    out = ok(db_url, "ingest", str(first), str(second), str(third))
    assert f"{first}: " in out and "0 appended" in out.splitlines()[0]
    assert _holds_exactly(db_url, _alone(tmp_path, crash_history))


def test_the_first_file_refused_stores_nothing_as_for_one_file(sqlite_url, crash_history, tmp_path):
    """The first of two files refused: the refusal alone, as for one file (nothing was stored), and an empty log."""
    ok(sqlite_url, "init")
    first, second = _split(crash_history, tmp_path, 2)
    first.write_text('{"type": "deposit", "id": "x"}\n' + first.read_text())
    code, out, err = run(sqlite_url, "ingest", str(first), str(second))
    assert code == 2 and out == ""
    assert err.splitlines() == [f"error: {first}:1: missing field(s) for deposit: at, account, asset, amount",
                                "nothing was stored"]
    assert _head(sqlite_url) == 0


def test_a_missing_file_anywhere_stores_nothing(db_url, crash_history, tmp_path):
    """Every file is checked before any is read: a missing one, even last, stores nothing, and each missing is named."""
    ok(db_url, "init")
    first, second = _split(crash_history, tmp_path, 2)
    code, _, err = run(db_url, "ingest", str(first), str(tmp_path / "nope1.jsonl"), str(second),
                       str(tmp_path / "nope2.jsonl"))
    assert code == 2
    assert f"{tmp_path / 'nope1.jsonl'}: no such file" in err and f"{tmp_path / 'nope2.jsonl'}: no such file" in err
    assert "nothing was stored" in err and _head(db_url) == 0


def test_an_unreadable_file_anywhere_stores_nothing(sqlite_url, crash_history, tmp_path, monkeypatch):
    """A file this process may not read, even last, stores nothing and is named (the check asks the system, as a user
    without the permission would be answered; as root every file is readable, so the answer is given here)."""
    ok(sqlite_url, "init")
    first, second = _split(crash_history, tmp_path, 2)
    readable = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: str(path) != str(second) and readable(path, mode, **kw))
    code, _, err = run(sqlite_url, "ingest", str(first), str(second))
    assert code == 2 and f"'{second}' is not readable" in err
    assert _head(sqlite_url) == 0


def test_files_out_of_business_time_order_store_nothing(db_url, crash_history, tmp_path):
    """Files given out of order (as a shell glob sorts part10 before part2) are refused before any is read: stored in
    that order, the later file would be refused for ever once the one after it in time is stored."""
    ok(db_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)
    code, out, err = run(db_url, "ingest", str(first), str(third), str(second))
    assert code == 2 and out == ""
    second_starts = json.loads(second.read_text().splitlines()[0])["at"]
    third_ends = json.loads(third.read_text().splitlines()[-1])["at"]
    assert f"error: {second}: starts at {second_starts}, before {third} ends ({third_ends})" in err
    assert _head(db_url) == 0
    ok(db_url, "ingest", str(first), str(second), str(third))  # in order, they go in
    assert _holds_exactly(db_url, _alone(tmp_path, crash_history))


def test_standard_input_is_read_once_at_most(sqlite_url, crash_history):
    """``-`` named twice is a usage error (exit 2) and nothing is stored."""
    ok(sqlite_url, "init")
    code, _, err = run(sqlite_url, "ingest", "-", str(crash_history), "-")
    assert code == 2 and "standard input (-) can be read only once" in err
    assert _head(sqlite_url) == 0


def test_an_interrupt_says_which_files_are_stored(sqlite_url, crash_history, tmp_path, monkeypatch):
    """Interrupted in the second of three files, before its commit: exit 130, and stderr says the first is stored and
    nothing of the second or third (not the single-file word that nothing was changed)."""
    ok(sqlite_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)

    def interrupted(phases):
        raise KeyboardInterrupt

    _failing_at_the_second(monkeypatch, interrupted)
    code, out, err = run(sqlite_url, "ingest", str(first), str(second), str(third))
    assert code == 130 and len(out.splitlines()) == 1
    assert err.strip() == (f"ingest interrupted at {second} (file 2 of 3): 1 file of 3 stored (each its own "
                           f"transaction, listed on standard output); nothing of {second} is stored; nothing of the 1 "
                           "file after it is stored")
    monkeypatch.undo()
    assert _holds_exactly(sqlite_url, _alone(tmp_path, first))


@pytest.mark.parametrize("files", [1, 3])
def test_an_interrupt_after_a_commit_says_that_file_is_stored(sqlite_url, crash_history, tmp_path, monkeypatch, files):
    """Interrupted while the snapshots of a file's committed append are written (the last step of an ingest), the
    file is stored and stderr says so, for a lone file too (where "nothing was changed" would be untrue)."""
    ok(sqlite_url, "init")
    parts = _split(crash_history, tmp_path, files)
    cache, calls = unit_of_work.AppendUnit._cache, []

    def interrupted_in_the_last(self, *args):
        calls.append(args)
        if len(calls) == files:
            raise KeyboardInterrupt
        return cache(self, *args)

    monkeypatch.setattr(unit_of_work.AppendUnit, "_cache", interrupted_in_the_last)
    code, _, err = run(sqlite_url, "ingest", *map(str, parts))
    last = parts[-1]
    assert code == 130
    assert err.strip() == (f"ingest interrupted at {last} (file {files} of {files}): {files} file"
                           f"{'s' if files > 1 else ''} of {files} stored (each its own transaction, listed on standard "
                           f"output); {last} is stored (committed before the interrupt)")
    monkeypatch.undo()
    assert _holds_exactly(sqlite_url, _alone(tmp_path, crash_history))


def test_a_database_error_says_which_files_are_stored_last(sqlite_url, crash_history, tmp_path, monkeypatch):
    """The database lost in the second of three files, before its commit: exit 3, the error as for one file, then, last,
    which files are stored."""
    ok(sqlite_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)

    def lost(phases):
        raise DatabaseUnavailable("server closed the connection unexpectedly")

    _failing_at_the_second(monkeypatch, lost)
    code, _, err = run(sqlite_url, "ingest", str(first), str(second), str(third))
    assert code == 3
    assert err.splitlines()[0].startswith("error: could not open the database sqlite:///")
    assert err.splitlines()[-1].endswith(f"1 file of 3 stored (each its own transaction, listed on standard output); "
                                         f"nothing of {second} is stored; nothing of the 1 file after it is stored")


def test_a_failure_while_committing_says_it_is_not_known(sqlite_url, crash_history, tmp_path, monkeypatch):
    """Lost after the second file's commit began and before it was told done: whether it is stored is not known, and
    stderr says so, and that ingesting it again skips what is stored."""
    ok(sqlite_url, "init")
    first, second = _split(crash_history, tmp_path, 2)

    def lost_while_committing(phases):
        phases("commit", 0)
        raise DatabaseUnavailable("server closed the connection unexpectedly")

    _failing_at_the_second(monkeypatch, lost_while_committing)
    code, _, err = run(sqlite_url, "ingest", str(first), str(second))
    assert code == 3
    assert err.splitlines()[-1] == (
        f"ingest stopped at {second} (file 2 of 2): 1 file of 2 stored (each its own transaction, listed on standard "
        f"output); whether {second} is stored is not known (the failure came while it was committing; ingest it "
        "again: what is stored is skipped)")


def test_a_closed_standard_output_stops_the_command_and_says_why(sqlite_url, crash_history, tmp_path):
    """``ledger ingest a b c | head -0``: the reader gone, the first file's line cannot be written once it is stored.
    The command stops there, as a pipeline's writer does, and says so on stderr (click alone would end it silently):
    the broken pipe, then which files are stored. Exit 1, the contract's "the command found a problem"."""
    ok(sqlite_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "ledger", "--db", sqlite_url, "ingest", str(first), str(second),
                               str(third)], stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    err = done.stderr.splitlines()
    assert err[-2].startswith("error: standard output was closed (a broken pipe)")
    assert err[-1] == (f"ingest stopped at {first} (file 1 of 3): 1 file of 3 stored (each its own transaction, listed on "
                       f"standard output); {first} is stored (committed before the failure); nothing of the 2 files "
                       "after it is stored")
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert _holds_exactly(sqlite_url, _alone(tmp_path, first))


def test_a_file_named_twice_is_a_usage_error(sqlite_url, crash_history, tmp_path):
    """The same file twice (by any path to it) is refused before anything is read: exit 2, nothing stored."""
    ok(sqlite_url, "init")
    first, second = _split(crash_history, tmp_path, 2)
    code, _, err = run(sqlite_url, "ingest", str(first), "-", str(second), str(tmp_path / ".." / tmp_path.name / first.name))
    assert code == 2 and f"{tmp_path / '..' / tmp_path.name / first.name} is {first} again: give each file once" in err
    assert _head(sqlite_url) == 0


def test_the_order_check_reads_only_plain_files(crash_history, tmp_path):
    """The business-time check reads a plain file's two ends, and never a pipe (a pipe's lines, once read, are gone,
    and opening one waits for its writer): given a pipe, it answers at once that it cannot tell."""
    fifo = tmp_path / "feed.jsonl"
    os.mkfifo(fifo)
    answers = []
    looking = threading.Thread(target=lambda: answers.append(business_span(fifo)), daemon=True)
    looking.start()
    looking.join(timeout=10)
    assert answers == [None]
    lines = crash_history.read_text().splitlines()
    assert [format_time(at) for at in business_span(crash_history)] == [json.loads(lines[0])["at"],
                                                                       json.loads(lines[-1])["at"]]
