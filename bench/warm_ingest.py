"""A history ingested in batches by one process that stays up, its engine session warm from batch to batch.

    python -m bench.warm_ingest HISTORY.jsonl URL [--batch 100000] [--json OUT.json]

Each batch is one ``Ledger.ingest_file`` (one transaction, every line or
nothing, as ``ledger ingest`` runs it) on the one ledger this process keeps
open: a writer that stays up (a feed's job kept running, or a program using
the ledger as a library). The append leaves its engine session at the head
(``app.unit_of_work.AppendUnit``), so every batch after the first starts from
it: no state read from its snapshot, no liquidation index rebuilt. What is
left is what the batch's events cost: beside ``bench.ten_million``'s batches
(a fresh ``ledger ingest`` process each, which pays both at every batch), it
splits a batch's cost into its start-up (the ledger opened, the state at the
head loaded, the index rebuilt at its first mark: the interpreter's own
start is in neither figure) and its events. The database must be
initialised (``ledger init``). Writes each batch's seconds (timed around
``ingest_file`` alone), the lines, and the process's peak resident memory as
JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.peak import high_water_kib
from ledger import gc_policy
from ledger.app.ledger import Ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("history", type=Path)
    parser.add_argument("url")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    gc_policy.collect_older_generations_rarely()  # as every ``ledger`` command's process
    batches: list[float] = []
    lines_in = 0
    with tempfile.TemporaryDirectory() as directory, Ledger.open(args.url) as ledger, args.history.open("rb") as lines:
        chunk = Path(directory) / "batch.jsonl"
        while part := [line for _, line in zip(range(args.batch), lines, strict=False)]:
            chunk.write_bytes(b"".join(part))
            start = time.perf_counter()
            result = ledger.ingest_file(chunk)
            batches.append(time.perf_counter() - start)
            assert result.lines == len(part), "every line of the batch was read"
            lines_in += len(part)
            if len(batches) in (1, 2) or len(batches) % 10 == 0:
                print(f"    batch {len(batches):>3}: {len(part):,} lines in {batches[-1]:.2f} s "
                      f"({lines_in:,} in all; peak {high_water_kib() / 1024:,.0f} MiB)", flush=True)
    figures = {"batches_s": batches, "lines": lines_in, "peak_kib": high_water_kib()}
    if args.json:
        args.json.write_text(json.dumps(figures))
    print(json.dumps({key: value for key, value in figures.items() if key != "batches_s"}
                     | {"seconds": sum(batches)}), flush=True)


if __name__ == "__main__":
    main()
