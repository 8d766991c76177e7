"""``export``: the log and the replayed state as files for analysts.

Writes ``events`` (one row per stored event: envelope columns, the payload as
canonical JSON, and the common business fields flattened), ``balances`` (the
reconcile statement's shape ``account,asset,balance``: cross cash,
``NAME@MARKET`` isolated margins, ``system:NAME``) and ``positions`` (one
column per field), from a replay at the head, as Parquet or CSV. Figures stay decimal strings: exact, and cast by the analyst
to whatever type their tool prefers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ledger.domain.state import LedgerState
from ledger.reports import balances as reports
from ledger.store import EventStore

__all__ = ["EVENT_COLUMNS", "BALANCE_COLUMNS", "POSITION_COLUMNS", "export"]

FLAT_FIELDS = ["account", "market", "asset", "side", "amount", "qty", "price", "fee", "penalty", "rule_version", "trigger",
               "rate", "mode"]
EVENT_COLUMNS = ["seq", "event_id", "type", "stream", "stream_version", "schema_version", "at", "recorded_at",
                 *FLAT_FIELDS, "payload", "hash"]
BALANCE_COLUMNS = reports.STATEMENT_COLUMNS
"""``balances``: the reconcile statement's shape, so an export reconciles back as it is."""
POSITION_COLUMNS = reports.POSITION_COLUMNS
_BATCH = 50_000


def _event_rows(store: EventStore, upto_seq: int, progress: Callable[[int], None] | None) -> Iterator[dict[str, object]]:
    for row in store.read(upto_seq=upto_seq):
        body = json.loads(row.payload)
        out: dict[str, object] = {
            "seq": row.seq, "event_id": row.event_id, "type": row.type, "stream": row.stream,
            "stream_version": row.stream_version, "schema_version": row.schema_version, "at": row.at,
            "recorded_at": row.recorded_at, "payload": row.payload, "hash": row.hash,
        }
        for name in FLAT_FIELDS:
            value = body.get(name)
            out[name] = value if isinstance(value, str) else None
        if progress:
            progress(1)
        yield out


def _write_csv(path: Path, columns: list[str], rows: Iterable[dict[str, object]]) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _write_parquet(path: Path, columns: list[str], rows: Iterable[dict[str, object]]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    integer = {"seq", "stream_version", "schema_version"}
    schema = pa.schema([(c, pa.int64() if c in integer else pa.string()) for c in columns])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, object]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def export(store: EventStore, state: LedgerState, out: Path, fmt: str,
           progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write ``events.FMT`` (up to the state's point), ``balances.FMT`` and ``positions.FMT`` into ``out``; row counts."""
    out.mkdir(parents=True, exist_ok=True)
    write = _write_parquet if fmt == "parquet" else _write_csv
    counts = {"events": write(out / f"events.{fmt}", EVENT_COLUMNS, _event_rows(store, state.seq, progress))}
    report = reports.balances(state)
    counts["balances"] = write(out / f"balances.{fmt}", BALANCE_COLUMNS, iter(reports.statement_rows(report)))
    counts["positions"] = write(out / f"positions.{fmt}", POSITION_COLUMNS, iter(reports.position_rows(report)))
    return counts
