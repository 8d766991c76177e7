"""``export``: the log and the replayed state as files for analysts.

Writes ``events`` (one row per stored event: envelope columns, the payload as
canonical JSON, and the common business fields flattened), ``balances`` (the
reconcile statement's shape ``account,asset,balance``: cross cash,
``NAME@MARKET`` isolated margins, ``system:NAME``) and ``positions`` (one
column per field), from a replay at the head (or as of a time), as Parquet or
CSV. In CSV figures are decimal strings, exact (``--safe-csv``: names a
spreadsheet would run as formulas written as text, ``domain.csvcells``). In Parquet they are
decimal128(38, 18) and times timestamp[us, UTC]: every bounded input fits
exactly; a derived figure that would not (more than 18 places) is refused
naming it, never rounded (a liquidation price, a rounded root anyway, is
rounded to 18 places toward the side that liquidates earlier).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from pathlib import Path

from ledger.domain.csvcells import write_csv
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import parse_time
from ledger.errors import InvalidEvent
from ledger.reports import balances as reports
from ledger.store import LogReader

__all__ = ["EVENT_COLUMNS", "BALANCE_COLUMNS", "POSITION_COLUMNS", "EXPORT_UNFLATTENED", "export"]

FLAT_FIELDS = ["account", "market", "asset", "side", "amount", "qty", "price", "fee", "penalty", "rule_version", "trigger",
               "rate", "mode"]
EXPORT_UNFLATTENED = {
    "market_listed": ("settle_asset", "lot_size"),
    "rules_activated": ("version", "params"),
    "liquidation": ("reason", "equity_before", "maintenance_before", "target_before", "equity_after", "maintenance_after",
                    "target_after", "required_qty"),
    "bankruptcy": ("deficit", "fund_before", "insurance_covered", "socialized_loss", "adl_covered"),
    "loss_allocation_activated": ("version", "params"),
    "auto_deleverage": ("policy", "params", "bankruptcy", "mark", "residual", "closed", "fills", "unfilled", "socialized"),
}
"""Fields of each event type that are not a column of their own (they are in ``payload``, as every field is). A field
of a new type is a column (``FLAT_FIELDS``) or named here (``tests/test_event_types.py`` holds every field to one)."""
EVENT_COLUMNS = ["seq", "event_id", "type", "stream", "stream_version", "schema_version", "at", "recorded_at",
                 *FLAT_FIELDS, "payload", "hash"]
BALANCE_COLUMNS = reports.STATEMENT_COLUMNS
"""``balances``: the reconcile statement's shape, so an export reconciles back as it is."""
POSITION_COLUMNS = reports.POSITION_COLUMNS
_BATCH = 50_000


def _event_rows(store: LogReader, upto_seq: int, progress: Callable[[int], None] | None) -> Iterator[dict[str, object]]:
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


def _csv_writer(safe: bool) -> Callable[[Path, list[str], Iterable[Mapping[str, object]]], int]:
    """A CSV file writer: exact, or with cells a spreadsheet would run as formulas written as text (``safe``)."""
    def write(path: Path, columns: list[str], rows: Iterable[Mapping[str, object]]) -> int:
        with path.open("w", newline="", encoding="utf-8") as handle:
            return write_csv(handle, columns, rows, safe=safe)
    return write


_INTEGERS = {"seq", "stream_version", "schema_version"}
_TIMES = {"at", "recorded_at"}
_DECIMALS = {"amount", "qty", "price", "fee", "penalty", "rate", "balance", "size", "entry_price", "mark_price",
             "unrealized_pnl", "realized_pnl", "funding_paid", "isolated_margin", "isolated_equity", "liquidation_price"}
_SCALE = Decimal("1e-18")
PARQUET_DECIMAL = (38, 18)
"""Figures go to Parquet as decimal128(38, 18): every bounded input fits exactly (at most 18 places, below 10^18)."""


def _exact(value: object, column: str, row: Mapping[str, object]) -> Decimal | None:
    """A figure for decimal128(38, 18): exact, or refused naming it (a liquidation price, a rounded root anyway, is
    rounded to 18 places toward the side that liquidates earlier)."""
    if value is None or value == "":
        return None
    figure = Decimal(str(value))
    if column == "liquidation_price":
        rounding = ROUND_CEILING if Decimal(str(row.get("size") or 0)) > 0 else ROUND_FLOOR
        return figure.quantize(_SCALE, rounding)
    fitted = figure.quantize(_SCALE, context=Context(prec=60))
    if fitted != figure or len(fitted.as_tuple().digits) > PARQUET_DECIMAL[0]:
        where = ", ".join(f"{k} {row[k]}" for k in ("seq", "account", "asset", "market") if row.get(k) is not None)
        raise InvalidEvent(f"{column} {value} ({where}) does not fit decimal128(38, 18) exactly: export it as CSV",
                           where="export")
    return fitted


def _typed(row: Mapping[str, object]) -> dict[str, object]:
    typed = dict(row)
    for column, value in row.items():
        if column in _TIMES and isinstance(value, str):
            typed[column] = parse_time(value)
        elif column in _DECIMALS:
            typed[column] = _exact(value, column, row)
    return typed


def _write_parquet(path: Path, columns: list[str], rows: Iterable[Mapping[str, object]]) -> int:
    """Integers as int64, times as timestamp[us, UTC], figures as decimal128(38, 18), the rest as strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def kind(column: str) -> pa.DataType:
        if column in _INTEGERS:
            return pa.int64()
        if column in _TIMES:
            return pa.timestamp("us", tz="UTC")
        if column in _DECIMALS:
            return pa.decimal128(*PARQUET_DECIMAL)
        return pa.string()

    schema = pa.schema([(c, kind(c)) for c in columns])
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, object]] = []
        for row in rows:
            batch.append(_typed(row))
            if len(batch) >= _BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def export(store: LogReader, state: LedgerState, out: Path, fmt: str,
           progress: Callable[[int], None] | None = None, *, safe_csv: bool = False) -> dict[str, int]:
    """Write ``events.FMT`` (up to the state's point), ``balances.FMT`` and ``positions.FMT`` into ``out``; row counts.
    ``safe_csv``: CSV cells a spreadsheet would run as formulas written as text (``domain.csvcells``).

    All or nothing: each file is written under a temporary name and the three are renamed into place only once all
    are written; an interruption or a refusal removes what was written, and an earlier export there stays as it was.
    """
    out.mkdir(parents=True, exist_ok=True)
    write = _write_parquet if fmt == "parquet" else _csv_writer(safe_csv)
    partial = {name: out / f".{name}.{fmt}.partial" for name in ("events", "balances", "positions")}
    try:
        counts = {"events": write(partial["events"], EVENT_COLUMNS, _event_rows(store, state.seq, progress))}
        report = reports.balances(state)
        counts["balances"] = write(partial["balances"], BALANCE_COLUMNS, iter(reports.statement_rows(report)))
        counts["positions"] = write(partial["positions"], POSITION_COLUMNS, iter(reports.position_rows(report)))
    except BaseException:  # Ctrl-C included: nothing half-written is left behind
        for path in partial.values():
            path.unlink(missing_ok=True)
        raise
    for name, path in partial.items():
        path.replace(out / f"{name}.{fmt}")
    return counts
