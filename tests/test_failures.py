"""Issue 12, failures a script can tell apart: every failure has its exit status and one clear line, never a traceback.

0 success; 1 a check found a problem; 2 bad input or usage; 3 the database
could not be reached or opened (URL shown with the password masked); 4 an
unexpected internal error (a short message and the path of a full log).
Run as a subprocess where the exit status itself is the point.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.app.ledger import Ledger
from tests.conftest import ROOT
from tests.support.cli import run

LINE = {"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "alice", "asset": "USD", "amount": "100"}


def ledger_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ledger", *args], check=False, cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=120)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://clerk:s3cret@127.0.0.1:1/ledger", "postgresql://clerk:***@127.0.0.1:1/ledger"),
    ("postgresql://clerk:s3cret@no-such-host.invalid/ledger", "postgresql://clerk:***@no-such-host.invalid/ledger"),
    ("sqlite:////no/such/folder/ledger.db", "sqlite:////no/such/folder/ledger.db"),
    ("nonsense://what", "nonsense://what"),
])
def test_an_unreachable_database_is_exit_3_in_one_line_with_the_password_masked(url, shown):
    """A database that cannot be reached or opened is exit 3 with a one-line error, its URL shown with the password masked."""
    done = ledger_cli("--db", url, "verify")
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: could not") and shown in done.stderr
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_read_only_commands_refuse_a_sqlite_file_that_does_not_exist_and_create_nothing(tmp_path):
    """Read-only commands refuse a SQLite file that does not exist with exit 3 and create nothing; only ``init`` creates it."""
    path = tmp_path / "typo.db"
    for command in (["balances"], ["history", "alice"], ["audit"], ["verify"], ["reconcile", "x.csv"]):
        done = ledger_cli("--db", f"sqlite:///{path}", *command)
        assert done.returncode == 3 and "only `ledger init` creates one" in done.stderr, (command, done.stderr)
    assert not path.exists()
    assert ledger_cli("--db", f"sqlite:///{path}", "init").returncode == 0 and path.exists()


def test_an_unexpected_error_is_exit_4_with_a_short_message_and_the_path_of_a_full_log(tmp_path, monkeypatch):
    """An unexpected internal error exits with status 4 (its log written under this test's own directory)."""
    import tempfile

    from ledger.cli import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0

    def broken(self, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(Ledger, "balances", broken)
    with pytest.raises(SystemExit) as exited:
        main(["--db", url, "balances"])
    assert exited.value.code == 4


def test_the_crash_log_holds_the_traceback(tmp_path, capsys, monkeypatch):
    """An internal error prints one short line naming the error and a log file (in the temporary directory: here the
    test's own, so that runs leave no logs behind); the traceback is in that file, not on screen."""
    import tempfile

    from ledger.cli import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0
    monkeypatch.setattr(Ledger, "balances", lambda self, **kw: 1 / 0)
    with pytest.raises(SystemExit):
        main(["--db", url, "balances"])
    err = capsys.readouterr().err
    assert err.startswith("internal error (ZeroDivisionError: division by zero); the full report is in ")
    log = Path(err.strip().rsplit(" ", 1)[-1])
    assert log.parent == tmp_path
    assert "Traceback" in log.read_text() and "balances" in log.read_text() and "Traceback" not in err


def test_balances_for_an_unknown_account_is_exit_2_like_account(tmp_path):
    """``balances`` for an unknown account exits 2 as ``account`` does, saying the account has no events."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0
    for command in (["balances", "--account", "nobody"], ["account", "nobody"]):
        code, _, err = run(url, *command)
        assert code == 2 and "'nobody' has no events" in err and "nothing was stored" not in err


def test_a_reversed_window_and_a_known_at_before_the_first_event_are_usage_errors(tmp_path):
    """A window whose start is after its end, and a known-at time before the first event, are usage errors (exit 2)."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(LINE) + "\n")
    assert run(url, "init")[0] == 0 and run(url, "ingest", str(good))[0] == 0
    code, _, err = run(url, "history", "alice", "--from", "2024-08-06T00:00:00Z", "--to", "2024-08-05T00:00:00Z")
    assert code == 2 and "--from 2024-08-06T00:00:00+00:00 is after --to" in err
    code, _, err = run(url, "history", "alice", "--known-at", "2000-01-01T00:00:00Z")
    assert code == 2 and "the ledger knew nothing at 2000-01-01" in err and "nothing was stored" not in err


def test_ingest_reads_an_empty_file_a_bom_gzip_and_standard_input(tmp_path):
    """Ingest reads an empty file (storing nothing), a file with a UTF-8 BOM, a gzip file, and standard input."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    code, out, _ = run(url, "ingest", str(empty))
    assert code == 0 and "0 lines: nothing to store" in out
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(LINE).encode() + b"\n")
    code, out, _ = run(url, "ingest", str(bom))
    assert code == 0 and "1 line: 1 appended" in out
    packed = tmp_path / "more.jsonl.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write(json.dumps({**LINE, "id": "d-2"}) + "\n")
    code, out, _ = run(url, "ingest", str(packed))
    assert code == 0 and "1 appended" in out
    done = ledger_cli("--db", url, "ingest", "-", stdin=json.dumps({**LINE, "id": "d-3"}) + "\n")
    assert done.returncode == 0 and "standard input: 1 line: 1 appended" in done.stdout
    assert run(url, "verify")[1].startswith("ok: 3 events")


def test_many_bad_lines_show_the_first_20_and_the_true_total(tmp_path):
    """A file with many bad lines exits 2, reporting the first 20 by line and the true total of bad lines."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps({**LINE, "id": f"d-{n}", "amount": 5}) + "\n" for n in range(250)))
    code, _, err = run(url, "ingest", str(bad))
    assert code == 2
    assert err.count("JSON number 5 is not allowed") == 20 and f"{bad}:20:" in err and f"{bad}:21:" not in err
    assert "... and 230 more (250 in all)" in err


def test_version_and_the_exit_statuses_in_help():
    """``--version`` prints the version, and ``--help`` lists the exit statuses."""
    done = ledger_cli("--version")
    assert done.returncode == 0 and done.stdout.startswith("ledger, version ")
    helped = ledger_cli("--help").stdout
    assert "3 the database could not be reached or opened" in " ".join(helped.split())


# -- tables and output ------------------------------------------------------------------------------------------------

def test_a_piped_table_never_cuts_an_id_and_a_narrow_terminal_folds_it(crash_url):
    """A table piped out never shortens an id, and on a narrow terminal it folds ids within the width instead of cutting them."""
    url = crash_url
    piped = ledger_cli("--db", url, "liquidations").stdout
    ids = [r["id"] for r in json.loads(run(url, "liquidations", "--format", "json")[1])]
    assert all(i in piped for i in ids) and "…" not in piped
    as_a_terminal = ("from rich.console import Console; import ledger.cli.app as a; "
                     "a.Console = lambda **k: Console(**{**k, 'force_terminal': True, 'no_color': True, "
                     "'width': k.get('width', 120)}); import ledger.cli; ledger.cli.main()")
    narrow = subprocess.run([sys.executable, "-c", as_a_terminal, "--db", url, "liquidations"],
                            check=False, cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    visible = re.sub(r"\x1b\[[0-9;]*m", "", narrow)
    assert "k-btc-33" in visible.replace("│", "").replace(" ", "").replace("\n", "") or "k-bt" in visible
    assert "…" not in visible and max(len(line) for line in visible.splitlines()) <= 120


def test_liquidations_show_when_and_why_and_filter_by_time_and_account(crash_url):
    """``liquidations`` shows when and why each happened, and filters by account and by a window of time."""
    url = crash_url
    every = json.loads(run(url, "liquidations", "--format", "json")[1])
    code, out, _ = run(url, "liquidations", "--format", "csv", "--account", "trader-22",
                       "--from", "2024-08-05T00:15:00Z", "--to", "2024-08-05T00:20:00Z")
    assert code == 0
    header, *lines = out.strip().splitlines()
    assert header.startswith("id,at,account") and "reason" in header
    expected = [r for r in every if r["account"] == "trader-22" and "00:15:00" <= r["at"][11:19] <= "00:20:00"]
    assert len(lines) == len(expected) > 0 and all(",trader-22," in line for line in lines)


def test_history_takes_a_limit_or_a_tail(crash_url):
    """``history`` takes either a limit (the first rows) or a tail (the last rows), never both."""
    url = crash_url
    every = json.loads(run(url, "history", "trader-14", "--format", "json")[1])
    first = json.loads(run(url, "history", "trader-14", "--limit", "3", "--format", "json")[1])
    last = json.loads(run(url, "history", "trader-14", "--tail", "2", "--format", "json")[1])
    assert first == every[:3] and last == every[-2:]
    code, _, err = run(url, "history", "trader-14", "--limit", "3", "--tail", "2")
    assert code == 2 and "cannot be used together" in err


def test_time_options_take_offsets_dates_and_now_and_refuse_a_time_without_a_zone(tmp_path):
    """Time options take UTC or offset times, a bare date (its midnight) and ``now``, and refuse a time without a zone."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(LINE) + "\n")
    assert run(url, "init")[0] == 0 and run(url, "ingest", str(good))[0] == 0
    utc = json.loads(run(url, "balances", "--as-of", "2024-08-05T00:01:00Z", "--format", "json")[1])
    offset = json.loads(run(url, "balances", "--as-of", "2024-08-05T02:01:00+02:00", "--format", "json")[1])
    assert utc["accounts"] == offset["accounts"] and offset["as_of"].startswith("2024-08-05T00:01:00")
    date = json.loads(run(url, "balances", "--as-of", "2024-08-05", "--format", "json")[1])
    assert date["accounts"] == {} and date["as_of"].startswith("2024-08-05T00:00:00")
    assert json.loads(run(url, "balances", "--as-of", "now", "--format", "json")[1])["accounts"] == utc["accounts"]
    code, _, err = run(url, "balances", "--as-of", "2024-08-05T00:01:00")
    assert code == 2 and "has no offset: add Z" in err
