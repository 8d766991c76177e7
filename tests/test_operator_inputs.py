"""What operators type, answered as a person expects (#26 points 1 and 3, #27 points 15 and 16): never exit 4.

A missing folder for a new key, a plain date where a time is asked, two
points of the log at once, a grid nested a hundred thousand deep or with a
million candidates, an unreachable scheduler, an absurd tolerance: each gets
exit 2 with what to do, or is done and said aloud; counts read as English.
"""

from __future__ import annotations

import json
import stat

import pytest

from tests.conftest import ROOT
from tests.support.cli import ok, run

SAMPLE = ROOT / "examples" / "sample-history.jsonl"


@pytest.fixture
def sample(sqlite_url) -> str:
    ok(sqlite_url, "init")
    ok(sqlite_url, "ingest", str(SAMPLE))
    return sqlite_url


def test_keygen_makes_the_missing_folder_for_its_owner_only(sqlite_url, tmp_path):
    """`ledger keygen ~/.ledger/key` (the README's example) on a machine without ~/.ledger creates the folder, readable
    by its owner only; a folder that cannot be made is exit 2 naming it."""
    key = tmp_path / "home" / ".ledger" / "key"
    out = ok(sqlite_url, "keygen", str(key))
    assert "private key" in out and key.is_file()
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700 and stat.S_IMODE(key.stat().st_mode) == 0o600
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run(sqlite_url, "keygen", str(blocker / "sub" / "key"))
    assert code == 2 and f"cannot create the folder {blocker / 'sub'}" in err


def test_a_point_of_the_log_is_given_once_and_a_plain_date_is_said_aloud(sample):
    """`--as-of` with `--seq` is a usage error (exit 2); a plain date is read as midnight UTC and the command says so."""
    for command in (["balances"], ["account", "alice"]):
        code, _, err = run(sample, *command, "--as-of", "2024-08-05T00:01:00Z", "--seq", "3")
        assert code == 2 and "not both" in err, command
    code, _, err = run(sample, "balances", "--as-of", "2024-08-05")
    assert code == 0 and "note: --as-of 2024-08-05 read as 2024-08-05T00:00:00Z (midnight UTC)" in err


def test_counts_read_as_english(sqlite_url, tmp_path):
    """One line ingested is `1 line`, one seal `1 seal`, one event `1 event`."""
    key = tmp_path / "key"
    ok(sqlite_url, "keygen", str(key))
    ok(sqlite_url, "init")
    line = tmp_path / "one.jsonl"
    line.write_text(json.dumps({"type": "deposit", "id": "d-1", "at": "2024-08-05T00:00:00Z", "account": "alice",
                                "asset": "USD", "amount": "5"}) + "\n")
    out = ok(sqlite_url, "--key", str(key), "ingest", str(line))
    assert ": 1 line: 1 appended, 0 already stored, 0 engine events" in out
    assert ok(sqlite_url, "--key", str(key), "verify").startswith("ok: 1 event, 1 seal, chain head ")


def test_a_grid_nested_too_deeply_or_too_large_is_refused_naming_it(sample, tmp_path):
    """A grid nested 100,000 deep used to crash (RecursionError, exit 4); a grid of a million candidates took a
    gigabyte before anything ran. Both are refused (exit 2) naming the file; `--max-candidates` raises the bound."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run(sample, "sweep", "--rules", "partial-v1", "--grid", str(deep), "--workers", "1")
    assert code == 2 and str(deep) in err and "nested too deeply" in err
    big = tmp_path / "big.json"
    values = [str(n) for n in range(100)]
    big.write_text(json.dumps({"grid": {"liquidation_fee_rate": values, "target_buffer": values, "x": values}}))
    code, _, err = run(sample, "sweep", "--rules", "partial-v1", "--grid", str(big), "--workers", "1")
    assert code == 2 and "1,000,000 candidates, more than the 10,000" in err and "--max-candidates" in err
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001", "0.002", "0.003"]}}))
    code, _, err = run(sample, "sweep", "--rules", "partial-v1", "--grid", str(small), "--workers", "1",
                       "--max-candidates", "2")
    assert code == 2 and "3 candidates, more than the 2" in err
    assert ok(sample, "sweep", "--rules", "partial-v1", "--grid", str(small), "--workers", "1", "--max-candidates", "3")


def test_an_absurd_tolerance_and_an_unreachable_scheduler_are_refused(sample, tmp_path):
    """`--future-tolerance 10^14` overflowed the clock (exit 4): it is out of range (at most a year), exit 2. An
    unreachable `--scheduler` is refused after its timeout (exit 2, naming it and the timeout), not with exit 4."""
    code, _, err = run(sample, "--future-tolerance", str(10**14), "balances")
    assert code == 2 and "future-tolerance" in err
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001"]}}))
    code, _, err = run(sample, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "cannot reach the Dask scheduler tcp://127.0.0.1:9 within 10 s" in err, err


def test_balances_of_one_account_show_that_account_only(sample):
    """`balances --account alice` lists alice's rows, in the table and the CSV, without every system account; the
    JSON keeps the contract's shape (its `system` object)."""
    table = ok(sample, "balances", "--account", "alice")
    assert "alice" in table and "system" not in table and "insurance_fund" not in table
    rows = ok(sample, "balances", "--account", "alice", "--format", "csv").splitlines()
    assert rows[0] == "account,asset,balance" and rows[1:] and all(r.startswith("alice") for r in rows[1:])
    assert "system" in json.loads(ok(sample, "balances", "--account", "alice", "--format", "json"))


def test_a_params_file_out_of_range_is_refused_naming_the_file_the_version_and_the_key(sample, tmp_path):
    """A what-if's params file whose value is out of its version's range names the file, the version and the key."""
    params = tmp_path / "candidate.json"
    params.write_text(json.dumps({"liquidation_fee_rate": "5", "markets": {
        "BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
        "ETH-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"}}}))
    code, _, err = run(sample, "whatif", "--rules", "full-v1", "--params", str(params))
    assert code == 2 and f"{params}: full-v1 refuses these params: params.liquidation_fee_rate must be in" in err


def test_an_exhaustive_audit_says_so_and_counts_the_decisions_it_re_derived(sample):
    """`audit --exhaustive` says it was exhaustive and how many of the engine's decisions it re-derived (every
    liquidation and bankruptcy the log holds); the JSON carries both."""
    text = ok(sample, "audit", "--exhaustive")
    data = json.loads(ok(sample, "audit", "--exhaustive", "--format", "json"))
    engine = json.loads(ok(sample, "liquidations", "--format", "json")) + json.loads(
        ok(sample, "bankruptcies", "--format", "json"))
    assert data["exhaustive"] is True and data["decisions_checked"] == len(engine) > 0
    assert text.startswith("OK (exhaustive: every exposed account re-decided at every mark): ")
    assert f"({len(engine)} decisions of the engine re-derived in all)" in text
    assert json.loads(ok(sample, "audit", "--format", "json"))["exhaustive"] is False


def test_a_sweep_on_a_cluster_without_the_cluster_extra_says_how_to_install_it(sample, tmp_path, monkeypatch):
    """The Dask runtime is the optional `cluster` extra (#26 point 5): without it, `--scheduler` says how to install
    it (exit 2), and the local sweep still runs."""
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001"]}}))
    code, _, err = run(sample, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "pip install '.[cluster]'" in err
    assert ok(sample, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--workers", "1")


def test_an_interrupted_export_leaves_no_partial_file(sample, tmp_path, monkeypatch):
    """#26 point 4: an export interrupted halfway leaves no file behind (each is written under a temporary name, and
    the three renamed into place at the end); an earlier export in the folder stays as it was."""
    from ledger import Ledger
    from ledger.reports import export as export_module

    out = tmp_path / "x"
    ok(sample, "export", "--format", "csv", "--out", str(out))
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(earlier) == {"events.csv", "balances.csv", "positions.csv"}
    rows = export_module._event_rows

    def interrupted(*args, **kwargs):
        for n, row in enumerate(rows(*args, **kwargs)):
            if n == 10:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(export_module, "_event_rows", interrupted)
    with Ledger.open(sample) as ledger, pytest.raises(KeyboardInterrupt):
        ledger.export(out, "csv")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier, "no partial file, the earlier export intact"
    fresh = tmp_path / "fresh"
    with Ledger.open(sample) as ledger, pytest.raises(KeyboardInterrupt):
        ledger.export(fresh, "parquet")
    assert list(fresh.iterdir()) == []


def test_statements_as_spreadsheets_save_them_are_read_or_refused_saying_what_to_do(sample, tmp_path):
    """#26 point 3: a statement in Windows-1252, one separated by semicolons, an empty file and a Parquet file by
    mistake each get exit 2 naming the file (and line) and what to do, never exit 4; with --encoding or --delimiter
    the same statements reconcile; quoted numbers are read as numbers."""
    balances = [r.split(",") for r in ok(sample, "balances", "--format", "csv").splitlines()[1:]]
    alice = next(r for r in balances if r[0] == "alice")
    cp1252 = tmp_path / "cp1252.csv"
    cp1252.write_bytes(b"account,asset,balance\n" + f"{alice[0]},{alice[1]},\"{alice[2]}\"\n".encode()
                       + "caf\u00e9,USD,1\n".encode("cp1252"))
    code, _, err = run(sample, "reconcile", str(cp1252))
    assert code == 2 and f"{cp1252}:3: not valid utf-8 (byte 0xe9" in err and "--encoding cp1252" in err
    code, out, _ = run(sample, "reconcile", str(cp1252), "--encoding", "cp1252", "--format", "json")
    assert code == 1 and [(b["account"], b["kind"]) for b in json.loads(out)["breaks"] if b["account"] == "café"] == [
        ("café", "missing_in_ledger")], "read in its encoding: the name is right, and alice's quoted figure agrees"
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("account;asset;balance\n" + f"{alice[0]};{alice[1]};{alice[2]}\n")
    code, _, err = run(sample, "reconcile", str(semicolons))
    assert code == 2 and f"{semicolons}:1:" in err and "give --delimiter ';'" in err
    code, out, _ = run(sample, "reconcile", str(semicolons), "--delimiter", ";", "--format", "json")
    assert code == 1 and not [b for b in json.loads(out)["breaks"] if b["account"] == "alice"]
    empty, parquet = tmp_path / "empty.csv", tmp_path / "export"
    empty.write_text("")
    ok(sample, "export", "--format", "parquet", "--out", str(parquet))
    for path, says in ((empty, "empty file: a statement starts with its header"),
                       (parquet / "balances.parquet", "not a CSV statement: this is a Parquet file")):
        code, _, err = run(sample, "reconcile", str(path))
        assert code == 2 and str(path) in err and says in err, err
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", "ledger", "reconcile", "--help"], capture_output=True, text=True,
                           check=True).stdout
    assert "account,asset,balance" in shown and "account,market,size" in shown, "--help shows both shapes"


def test_old_line_endings_and_utf16_statements_are_refused_saying_what_to_do_or_read(sample, tmp_path):
    """A statement with old Mac line endings (CR only) is refused naming its line (exit 2, not 4); Excel's "Unicode
    Text" (UTF-16, tab-separated) is refused asking for --encoding utf-16, and read with it and --delimiter tab."""
    mac = tmp_path / "mac.csv"
    mac.write_bytes(b"account,asset,balance\ralice,USD,1\r")
    code, _, err = run(sample, "reconcile", str(mac))
    assert code == 2 and f"{mac}:1: not readable as CSV" in err
    unicode_text = tmp_path / "unicode.txt"
    unicode_text.write_bytes("account\tasset\tbalance\r\nnobody\tUSD\t1\r\n".encode("utf-16"))
    code, _, err = run(sample, "reconcile", str(unicode_text))
    assert code == 2 and "--encoding utf-16" in err
    code, out, err = run(sample, "reconcile", str(unicode_text), "--encoding", "utf-16", "--delimiter", "tab",
                         "--format", "json")
    assert code == 1 and [b["account"] for b in json.loads(out)["breaks"] if b["kind"] == "missing_in_ledger"] == [
        "nobody"], err
