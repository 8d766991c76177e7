"""A log held as rows in memory: the ``LogReader`` a sweep's worker replays, with no database behind it.

A sweep ships the stored rows to its workers once (an Arrow table) and each
worker answers every candidate's what-if from them. What the worker reads
must answer as the stores do, so this is a declared ``LogReader`` and runs
through the store contract suite's read cases beside the three backends.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence

from ledger.store.hashchain import GENESIS
from ledger.store.records import StoredEvent

__all__ = ["RowsReader", "cut"]


def cut(rows: Iterable[StoredEvent], upto_at: str | None, known_at: str | None,
        types: Sequence[str] | None) -> Iterator[StoredEvent]:
    """``rows`` cut as ``LogReader.read`` cuts them: by business time, recorded time and type."""
    for row in rows:
        if upto_at is not None and row.at > upto_at:
            continue
        if (known_at is None or row.recorded_at <= known_at) and (types is None or row.type in types):
            yield row


class RowsReader:
    """Rows ``1..n`` of a log, in order and without a gap (row ``i`` holds seq ``i + 1``)."""

    def __init__(self, rows: Sequence[StoredEvent]) -> None:
        assert all(row.seq == n for n, row in enumerate(rows, 1)), "the rows of a log from its first event, no gap"
        self.rows = list(rows)
        self._by_id = {row.event_id: row for row in self.rows}

    @classmethod
    def sharing(cls, rows: list[StoredEvent], by_id: dict[str, StoredEvent]) -> RowsReader:
        """A reader over a log kept elsewhere (the in-memory store's): its list and index are read as they grow."""
        reader = cls.__new__(cls)
        reader.rows, reader._by_id = rows, by_id
        return reader

    def head(self) -> tuple[int, str]:
        return (self.rows[-1].seq, self.rows[-1].hash) if self.rows else (0, GENESIS)

    def read(
        self, *, after_seq: int = 0, upto_seq: int | None = None, upto_at: str | None = None,
        known_at: str | None = None, types: Sequence[str] | None = None, batch_size: int = 5000,
    ) -> Iterator[StoredEvent]:
        return cut(self.rows[after_seq:upto_seq], upto_at, known_at, types)

    def read_batches(
        self, *, after_seq: int = 0, upto_seq: int | None = None, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str, int, str]]]:
        chosen = self.rows[after_seq:upto_seq]
        for first in range(0, len(chosen), batch_size):
            yield [(r.seq, r.type, r.schema_version, r.payload) for r in chosen[first:first + batch_size]]

    def identities(self, seqs: Iterable[int]) -> dict[int, tuple[str, str]]:
        rows = self.rows
        return {seq: (rows[seq - 1].event_id, rows[seq - 1].at) for seq in set(seqs) if 0 < seq <= len(rows)}

    def last_seq_at_or_before(self, at: str) -> int:
        """Business time never decreases along the log: a binary search, as on the stores."""
        return bisect.bisect_right(self.rows, at, key=lambda row: row.at)

    def row_at(self, seq: int) -> StoredEvent | None:
        return self.rows[seq - 1] if 0 < seq <= len(self.rows) else None

    def get(self, event_id: str) -> StoredEvent | None:
        return self._by_id.get(event_id)
