"""Run one ``ledger`` command as a user does, and print its peak memory.

    python -m bench.peak OUT.json -- --db sqlite:///x.db audit

Runs the CLI's own entry point in this process, then writes to OUT.json the
seconds the command took, its exit status, and two peak resident set sizes
(``VmHWM`` from /proc/self/status, in KiB): before the command (the
interpreter with the ledger imported: the baseline) and after it (the whole
process). ``ru_maxrss`` is not used: after an exec it carries the parent's
peak, and the benchmark's parent holds the whole history in memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def high_water_kib() -> int:
    """This process's peak resident memory (``VmHWM``), mapped file pages it touched included."""
    return status_kib("VmHWM")


def status_kib(field: str) -> int:
    """One memory figure of this process from /proc/self/status, in KiB: ``VmHWM`` (the peak resident set),
    ``RssAnon`` (resident memory of its own now, without the file pages it maps)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def run(out: Path, args: Sequence[str], *, tree: Path = ROOT, stdout: Path | None = Path(os.devnull)) -> dict[str, Any]:
    """``ledger ARGS`` as a user runs it, in a process of its own (this module), from the checkout ``tree``.

    Its figures: ``seconds`` (the command inside its process), ``process_seconds`` (the whole process, start-up and
    imports included, as a user waits for it), ``status``, ``peak_kib`` and ``baseline_kib``; what it printed goes to
    the file ``stdout`` (by default nowhere), or with ``stdout=None`` into ``stdout`` as bytes. A command that fails
    (its status, or a process that never wrote its figures: killed, or unable to import) ends the benchmark with its
    stderr: a benchmark of a failing command measures nothing.
    """
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out.unlink(missing_ok=True)  # a process that dies before writing must not leave the last command's figures
    with open(stdout, "wb") if stdout is not None else open(os.devnull, "wb") as sink:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench.peak", str(out), "--", *args], env=env, cwd=tree,
                              stdout=sink if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                              check=False)
        process = time.perf_counter() - started
    if done.returncode != 0 or not out.exists():
        command = " ".join("URL" if "://" in arg else arg for arg in args)  # a server URL may hold a password
        raise SystemExit(f"ledger {command} from {tree} exited {done.returncode}:\n"
                         f"{done.stderr[-2000:].decode(errors='replace')}")
    return {**json.loads(out.read_text()), "process_seconds": process, "stdout": done.stdout}


def _import_the_commands_module(argv: Sequence[str]) -> None:
    """Import the module of the command ``argv`` names before the clock starts: ``seconds`` stays the command's own
    work, as when every command's module was imported with the ledger (before ``ledger.cli.on_demand``), so figures
    from trees on either side of that change compare. The whole process (``process_seconds``) counts it either way.
    Not undone: what the facade now imports in the method a command calls (the audit's parts, the what-if, the
    sweep) loads inside the clock, about 10 ms, small beside those commands' seconds. The command is the first word
    of ``argv`` that names one (a benchmark's arguments give no option a command's name as its value)."""
    import importlib

    from ledger import cli

    modules = {name: module for module, names in getattr(cli, "COMMAND_MODULES", {}).items() for name in names}
    command = next((arg for arg in argv if arg in modules), None)  # the first word that names a command
    if command is not None:
        importlib.import_module(modules[command])


def main() -> None:
    out, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: python -m bench.peak OUT.json -- LEDGER ARGS"
    from ledger.cli import main as ledger_main

    _import_the_commands_module(argv)
    before = high_water_kib()
    start = time.perf_counter()
    try:
        ledger_main(argv)
        status = 0
    except SystemExit as exc:  # click ends every command with one
        status = exc.code if isinstance(exc.code, int) else 1
    elapsed = time.perf_counter() - start
    Path(out).write_text(json.dumps({"seconds": elapsed, "status": status, "peak_kib": high_water_kib(),
                                     "baseline_kib": before}))
    sys.exit(status)


if __name__ == "__main__":
    main()
