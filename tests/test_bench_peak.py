"""The benchmarks' one way of timing a command as a user runs it (``bench.peak.run``): real figures, what the command
printed, and a failure that ends the benchmark instead of a stale figure."""

from __future__ import annotations

import json

import pytest

from bench import peak


def test_a_command_is_timed_in_its_own_process_with_what_it_printed(sqlite_url, tmp_path):
    """``init`` then ``balances --format json`` on an empty ledger: a status of 0, the command's seconds within the
    whole process's, a peak at least the baseline, and the JSON it printed (captured, or written to a file)."""
    out = tmp_path / "peak.json"
    peak.run(out, ["--db", sqlite_url, "init"])
    captured = peak.run(out, ["--db", sqlite_url, "balances", "--format", "json"], stdout=None)
    assert captured["status"] == 0
    assert 0 < captured["seconds"] < captured["process_seconds"]
    assert captured["peak_kib"] >= captured["baseline_kib"] > 0
    answer = tmp_path / "answer.json"
    written = peak.run(out, ["--db", sqlite_url, "balances", "--format", "json"], stdout=answer)
    assert json.loads(captured["stdout"]) == json.loads(answer.read_text())
    assert written["stdout"] is None


def test_a_failing_command_ends_the_benchmark_and_never_returns_the_last_figures(sqlite_url, tmp_path):
    """A command that fails raises with its stderr, the database URL not shown (a server's may hold a password); a
    process that dies before writing its figures (here: a tree it cannot import from) raises too, instead of the
    figures the command before left in the file being taken for its own."""
    out = tmp_path / "peak.json"
    peak.run(out, ["--db", sqlite_url, "init"])
    with pytest.raises(SystemExit) as failed:
        peak.run(out, ["--db", "postgresql://user:secret@127.0.0.1:1/none", "balances"])
    message = str(failed.value)
    assert "secret" not in message and "ledger --db URL balances" in message
    peak.run(out, ["--db", sqlite_url, "init"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="No module named"):
        peak.run(out, ["--db", sqlite_url, "init"], tree=tmp_path / "empty")
    assert not out.exists()
