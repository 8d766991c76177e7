"""A log held as an Arrow table: the ``LogReader`` a sweep's worker replays, at the size of the columns.

``rows.RowsReader`` keeps one ``StoredEvent`` per row: on the
1,000,000-event benchmark about 2 GB in every sweep worker, most of a
worker's memory. A sweep ships the rows as an Arrow table anyway
(``compliance.sweep.history_batch``); this reader keeps that table (a few
hundred bytes a row, in columns) and makes the rows as a replay reads them,
a batch at a time. It answers as the stores do: the store contract suite
runs its read cases on it beside the three backends and ``RowsReader``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ledger.store.hashchain import GENESIS
from ledger.store.records import StoredEvent
from ledger.store.rows import cut

__all__ = ["ArrowRows", "COLUMNS", "SCHEMA", "table_of", "record_batches"]

COLUMNS = ("seq", "event_id", "stream", "stream_version", "type", "schema_version", "at", "recorded_at", "payload",
           "hash")
"""A stored row's columns, in ``StoredEvent``'s order."""

_TYPES = {"seq": pa.int64(), "stream_version": pa.int64(), "schema_version": pa.int32()}
SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in COLUMNS])
_BATCH = 5000


def record_batches(rows: Iterable[StoredEvent], size: int = 50_000) -> Iterator[pa.RecordBatch]:
    """The rows as Arrow record batches of ``size`` rows (``SCHEMA``): a million rows never sit in Python lists."""
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    count = 0
    for row in rows:
        for name in COLUMNS:
            columns[name].append(getattr(row, name))
        count += 1
        if count == size:
            yield pa.record_batch([pa.array(columns[name], type=SCHEMA.field(name).type) for name in COLUMNS],
                                  schema=SCHEMA)
            columns, count = {name: [] for name in COLUMNS}, 0
    if count:
        yield pa.record_batch([pa.array(columns[name], type=SCHEMA.field(name).type) for name in COLUMNS], schema=SCHEMA)


def table_of(rows: Iterable[StoredEvent]) -> pa.Table:
    """The rows as one Arrow table (``COLUMNS``)."""
    return pa.Table.from_batches(list(record_batches(rows)), schema=SCHEMA)


class ArrowRows:
    """Rows ``1..n`` of a log in an Arrow table, in order and without a gap (row ``i`` holds seq ``i + 1``)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.select(list(COLUMNS))
        self.count: int = table.num_rows
        self._at = self.table.column("at")

    def _rows(self, start: int, stop: int) -> Iterator[StoredEvent]:
        """Rows ``start`` to ``stop`` (0-based, ``stop`` excluded), made a batch at a time."""
        for offset in range(start, stop, _BATCH):
            part = self.table.slice(offset, min(_BATCH, stop - offset))
            for fields in zip(*(part.column(name).to_pylist() for name in COLUMNS), strict=True):
                yield StoredEvent(*fields)

    def _stop(self, upto_seq: int | None) -> int:
        return self.count if upto_seq is None else max(0, min(upto_seq, self.count))

    def head(self) -> tuple[int, str]:
        last = self.row_at(self.count)
        return (last.seq, last.hash) if last is not None else (0, GENESIS)

    def read(
        self, *, after_seq: int = 0, upto_seq: int | None = None, upto_at: str | None = None,
        known_at: str | None = None, types: Sequence[str] | None = None, batch_size: int = 5000,
    ) -> Iterator[StoredEvent]:
        return cut(self._rows(max(0, after_seq), self._stop(upto_seq)), upto_at, known_at, types)

    def read_batches(
        self, *, after_seq: int = 0, upto_seq: int | None = None, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str, int, str]]]:
        stop = self._stop(upto_seq)
        for offset in range(max(0, after_seq), stop, batch_size):
            part = self.table.slice(offset, min(batch_size, stop - offset))
            yield list(zip(*(part.column(name).to_pylist() for name in ("seq", "type", "schema_version", "payload")),
                           strict=True))

    def identities(self, seqs: Iterable[int]) -> dict[int, tuple[str, str]]:
        ids, ats = self.table.column("event_id"), self._at
        return {seq: (ids[seq - 1].as_py(), ats[seq - 1].as_py()) for seq in set(seqs) if 0 < seq <= self.count}

    def last_seq_at_or_before(self, at: str) -> int:
        """Business time never decreases along the log: a binary search over the ``at`` column, as on the stores."""
        low, high = 0, self.count
        while low < high:
            middle = (low + high) // 2
            if self._at[middle].as_py() <= at:
                low = middle + 1
            else:
                high = middle
        return low

    def row_at(self, seq: int) -> StoredEvent | None:
        return next(self._rows(seq - 1, seq), None) if 0 < seq <= self.count else None

    def get(self, event_id: str) -> StoredEvent | None:
        """A scan of the id column (a replay never asks; a lookup by id is rare here)."""
        found = pc.index(self.table.column("event_id"), pa.scalar(event_id, pa.string())).as_py()
        return self.row_at(found + 1) if found >= 0 else None
