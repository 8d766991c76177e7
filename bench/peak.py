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
import sys
import time
from pathlib import Path


def high_water_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def main() -> None:
    out, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: python -m bench.peak OUT.json -- LEDGER ARGS"
    from ledger.cli import main as ledger_main

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
