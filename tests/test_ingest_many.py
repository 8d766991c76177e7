"""``ledger ingest`` of several files: one process, each file its own transaction, stopped at the first refused.

A feed that delivers a day as a hundred files should not pay a process's
start-up and the state's load per file, nor leave a half-ingested list it
cannot tell apart: the files before a refused one stay stored and are named,
nothing of the refused one or of those after it is, and the same command run
again once the file is mended skips what is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

from ledger import Ledger
from ledger.app import unit_of_work
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


def test_several_files_store_what_the_whole_file_stores(db_url, crash_history, tmp_path):
    """The crash history in three files through one command: a line per file, and the same liquidations, balances
    and head as the history ingested as one file (the engine's decisions do not see where a file ended)."""
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    ok(whole, "init")
    ok(whole, "ingest", str(crash_history))
    ok(db_url, "init")
    parts = _split(crash_history, tmp_path, 3)
    out = ok(db_url, "ingest", *map(str, parts))
    assert [line.split(":")[0] for line in out.splitlines()] == [str(part) for part in parts]
    liquidations = json.loads(ok(db_url, "liquidations", "--format", "json"))
    assert liquidations and liquidations == json.loads(ok(whole, "liquidations", "--format", "json"))
    assert ok(db_url, "balances", "--format", "json") == ok(whole, "balances", "--format", "json")
    assert _head(db_url) == _head(whole)


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
    third; stderr says which. Run again once mended, the first is skipped as stored and the rest appended."""
    ok(db_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)
    good = second.read_text()
    lines = good.splitlines(keepends=True)
    second.write_text("".join(lines[:5]) + '{"type": "deposit", "id": "x"}\n' + "".join(lines[5:]))
    code, out, err = run(db_url, "ingest", str(first), str(second), str(third))
    assert code == 2
    assert out.splitlines()[0].startswith(f"{first}: ") and len(out.splitlines()) == 1
    assert f"ingest stopped at {second} (file 2 of 3): the 1 file before it is stored" in err
    assert "nothing of it or of the 1 file after it was stored" in err
    assert f"{second}:6: missing field(s) for deposit" in err
    alone = f"sqlite:///{tmp_path / 'first.db'}"
    ok(alone, "init")
    ok(alone, "ingest", str(first))
    assert _head(db_url) == _head(alone) and ok(db_url, "balances", "--format", "json") == ok(
        alone, "balances", "--format", "json")

    second.write_text(good)
    out = ok(db_url, "ingest", str(first), str(second), str(third))
    assert f"{first}: " in out and "0 appended" in out.splitlines()[0]
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    ok(whole, "init")
    ok(whole, "ingest", str(crash_history))
    assert ok(db_url, "balances", "--format", "json") == ok(whole, "balances", "--format", "json")


def test_a_missing_file_anywhere_stores_nothing(db_url, crash_history, tmp_path):
    """Every file is checked before any is read: a missing one, even last, stores nothing, and each missing is named."""
    ok(db_url, "init")
    first, second = _split(crash_history, tmp_path, 2)
    code, _, err = run(db_url, "ingest", str(first), str(tmp_path / "nope1.jsonl"), str(second),
                       str(tmp_path / "nope2.jsonl"))
    assert code == 2
    assert f"{tmp_path / 'nope1.jsonl'}: no such file" in err and f"{tmp_path / 'nope2.jsonl'}: no such file" in err
    assert "nothing was stored" in err and _head(db_url) == 0


def test_standard_input_is_read_once_at_most(sqlite_url, crash_history):
    """``-`` named twice is a usage error (exit 2) and nothing is stored."""
    ok(sqlite_url, "init")
    code, _, err = run(sqlite_url, "ingest", "-", str(crash_history), "-")
    assert code == 2 and "standard input (-) can be read only once" in err
    assert _head(sqlite_url) == 0


def test_an_interrupt_says_which_files_are_stored(sqlite_url, crash_history, tmp_path, monkeypatch):
    """Interrupted in the second of three files: exit 130, and stderr says the first is stored and nothing of the
    second or third (not the single-file word that nothing was changed); the log holds the first file alone."""
    ok(sqlite_url, "init")
    first, second, third = _split(crash_history, tmp_path, 3)
    ingest_file = Ledger.ingest_file
    calls = []

    def interrupted_at_the_second(self, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return ingest_file(self, path, **kwargs)

    monkeypatch.setattr(Ledger, "ingest_file", interrupted_at_the_second)
    code, out, err = run(sqlite_url, "ingest", str(first), str(second), str(third))
    assert code == 130 and len(out.splitlines()) == 1
    assert err.strip() == (f"ingest interrupted at {second} (file 2 of 3): the 1 file before it is stored (each its "
                           "own transaction, counted above); nothing of it or of the 1 file after it was stored")
    monkeypatch.undo()
    alone = f"sqlite:///{tmp_path / 'first.db'}"
    ok(alone, "init")
    ok(alone, "ingest", str(first))
    assert _head(sqlite_url) == _head(alone)
