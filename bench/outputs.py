"""Every command's output on one history, written to a folder: the evidence that a change kept behaviour.

A refactoring must leave the stored events and what every command prints
byte-identical. This runs the CLI in this process with the recording clock
pinned (freezegun), so even the chain hashes and ``recorded_at`` repeat, over a
history file: ``init``, ``ingest``, then each reading command in JSON (and CSV
where it has one), ``explain`` of every engine event, ``whatif`` and
``compare``, a small ``sweep``, ``audit``, ``verify``, ``export`` and
``reconcile`` of its own CSV, and a dump of the stored rows. Run it on the
tree before and after a change and ``diff -r`` the two folders:

    python -m bench.outputs out/history.jsonl /tmp/before      # on the old tree
    python -m bench.outputs out/history.jsonl /tmp/after       # on the new tree
    diff -r /tmp/before /tmp/after && echo identical

``--params DIR`` gives the what-if's params (``full-v1.json``, ``tiered-v1.json``,
``stepped-v1.json``); the examples' list BTC-PERP and ETH-PERP only, so a history
listing other markets (the benchmark mix lists SOL-PERP) needs its own, which a
version refuses to run without rates for every listed market.

``--accounts N`` limits ``history``/``account`` to the first N accounts with an
engine event (default 20) so that a benchmark history stays quick.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

from click.testing import CliRunner
from freezegun import freeze_time

from ledger.cli import cli

FROZEN = "2030-01-01T00:00:00Z"
PARAMS = Path(__file__).resolve().parent.parent / "examples" / "params"


def _run(runner: CliRunner, db: str, out: Path, name: str, *args: str, allowed: tuple[int, ...] = (0,)) -> str:
    result = runner.invoke(cli, ["--db", db, *args])
    failure = "" if result.exception is None or isinstance(result.exception, SystemExit) else f"{result.exception!r}\n"
    work = str(Path(db.removeprefix("sqlite:///")).parent)  # a fresh folder each run: named alike in both
    (out / f"{name}.out").write_text(f"exit {result.exit_code}\n{failure}{result.stdout}".replace(work, "WORK"))
    assert result.exit_code in allowed, f"{name}: exit {result.exit_code}: {result.stdout}{result.stderr}"
    return result.stdout


def collect(history: Path, out: Path, accounts: int = 20, params: Path = PARAMS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ledger-outputs-"))
    db = f"sqlite:///{work / 'ledger.db'}"
    runner = CliRunner()
    params_dir = params
    try:
        with freeze_time(FROZEN):
            _run(runner, db, out, "init", "init")
            _run(runner, db, out, "ingest", "ingest", str(history))
            _run(runner, db, out, "balances", "balances", "--format", "json")
            _run(runner, db, out, "balances-csv", "balances", "--format", "csv")
            _run(runner, db, out, "balances-table", "balances")
            _run(runner, db, out, "positions-csv", "balances", "--positions", "--format", "csv")
            liquidations = json.loads(_run(runner, db, out, "liquidations", "liquidations", "--format", "json"))
            bankruptcies = json.loads(_run(runner, db, out, "bankruptcies", "bankruptcies", "--format", "json"))
            _run(runner, db, out, "liquidations-csv", "liquidations", "--format", "csv")
            _run(runner, db, out, "liquidations-table", "liquidations")
            _run(runner, db, out, "bankruptcies-table", "bankruptcies")
            _run(runner, db, out, "rules", "rules", "list", "--format", "json")
            engine_ids = [r["id"] for r in liquidations] + [r["id"] for r in bankruptcies]
            for n, event_id in enumerate(engine_ids):
                _run(runner, db, out, f"explain-{n:05d}", "explain", event_id, "--format", "json")
                _run(runner, db, out, f"explain-{n:05d}-text", "explain", event_id)
            names = list(dict.fromkeys(r["account"] for r in liquidations + bankruptcies))[:accounts]
            for n, name in enumerate(names):
                _run(runner, db, out, f"history-{n:03d}", "history", name, "--format", "json")
                _run(runner, db, out, f"history-{n:03d}-table", "history", name)
                _run(runner, db, out, f"account-{n:03d}", "account", name, "--format", "json")
            candidates = [("full-v1", "full-v1.json"), ("tiered-v1", "tiered-v1.json"), ("stepped-v1", "stepped-v1.json")]
            for version, file in candidates:
                for fmt in ("json", "table"):
                    _run(runner, db, out, f"whatif-{version}-{fmt}", "whatif", "--rules", version, "--params",
                         str(params_dir / file), "--format", fmt)
            compare = [arg for version, file in candidates for arg in ("--rules", version, "--params", str(params_dir / file))]
            _run(runner, db, out, "compare", "whatif", *compare, "--format", "json")
            _run(runner, db, out, "compare-table", "whatif", *compare)
            grid = work / "grid.json"
            grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001", "0.004"]}}))
            for fmt in ("json", "table"):
                _run(runner, db, out, f"sweep-{fmt}", "sweep", "--rules", "full-v1", "--grid", str(grid), "--workers", "1",
                     "--format", fmt, allowed=(0, 2))
            _run(runner, db, out, "audit", "audit", "--format", "json")
            _run(runner, db, out, "audit-table", "audit")
            _run(runner, db, out, "verify", "verify")
            statement = work / "statement.csv"
            statement.write_text(_run(runner, db, out, "statement", "balances", "--format", "csv"))
            _run(runner, db, out, "reconcile", "reconcile", str(statement), "--format", "json", allowed=(0, 1))
            _run(runner, db, out, "export", "export", "--format", "csv", "--out", str(work / "export"))
            for path in sorted((work / "export").iterdir()):
                shutil.copy(path, out / f"export-{path.name}")
        with sqlite3.connect(work / "ledger.db") as connection, (out / "events.tsv").open("w") as rows:
            for row in connection.execute("SELECT * FROM events ORDER BY seq"):
                rows.write("\t".join(str(value) for value in row) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--params", type=Path, default=PARAMS, help="folder of full-v1.json, tiered-v1.json, stepped-v1.json")
    args = parser.parse_args()
    collect(args.history, args.out, args.accounts, args.params)


if __name__ == "__main__":
    main()
