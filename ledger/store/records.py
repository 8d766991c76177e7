"""What the store hands out: stored rows and the outcome of verifying the chain.

Backend-independent, so the SQL store and the in-memory one return the same
values and share the one chain check.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from attrs import field, frozen

from ledger.domain.codec import decode_stored
from ledger.domain.events import Event
from ledger.store.hashchain import GENESIS, chain_hash

E = TypeVar("E", bound=Event)

__all__ = ["StoredEvent", "VerifyReport", "Row", "verify_rows"]

Row = tuple[int, str, str, int, str, int, str, str, str, str]
"""A stored row as a plain tuple, in ``StoredEvent``'s field order (what the writer builds and inserts)."""


@frozen
class StoredEvent:
    """One row of the log, as stored."""

    seq: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    schema_version: int
    at: str
    recorded_at: str
    payload: str
    hash: str

    def event(self, *, checked: bool = False) -> Event:
        """The event; ``checked`` re-validates the payload as at ingest (audit)."""
        return decode_stored(self.type, self.schema_version, self.event_id, self.at, self.payload, checked=checked)

    def event_as(self, kind: builtins.type[E]) -> E:
        """The event, which the caller knows (by the row's type) to be a ``kind``: asserted, not guessed."""
        event = self.event()
        assert isinstance(event, kind), f"event {self.event_id} is a {self.type}, not a {kind.TYPE}"
        return event


@frozen
class VerifyReport:
    """Outcome of recomputing the hash chain; ``problem`` names the first bad event."""

    events_checked: int
    head_hash: str
    first_bad_seq: int | None = None
    first_bad_event: str | None = None
    problem: str | None = None
    seals_checked: int = 0
    notes: tuple[str, ...] = ()
    """what the reader must know about what was (or could not be) proven"""
    at_points: Mapping[int, tuple[str, str]] = field(factory=dict, eq=False, repr=False)
    """seq -> (event id, hash) of the verified rows asked for (``keep``), read in the same pass as the chain"""

    @property
    def ok(self) -> bool:
        return self.problem is None


def _rehash(previous: str, row: StoredEvent) -> str:
    return chain_hash(
        previous, seq=row.seq, event_id=row.event_id, stream=row.stream, stream_version=row.stream_version,
        type=row.type, schema_version=row.schema_version, at=row.at, recorded_at=row.recorded_at, payload=row.payload,
    )


def verify_rows(rows: Iterable[StoredEvent], keep: Collection[int] = ()) -> VerifyReport:
    """Recompute the hash chain over rows in sequence order from the first; stop at the first break.

    ``keep``: sequence numbers whose (event id, hash) the report carries (``at_points``), so what else a verify
    checks against the log (seals, snapshots) needs no query of its own.
    """
    previous, expected_seq, count = GENESIS, 1, 0
    points: dict[int, tuple[str, str]] = {}
    for row in rows:
        problem = None
        if row.seq != expected_seq:
            problem = f"sequence jumps from {expected_seq - 1} to {row.seq}: an event is missing"
        elif _rehash(previous, row) != row.hash:
            problem = "hash does not match its content and the previous event: the row was altered or inserted"
        if problem:
            return VerifyReport(count, previous, row.seq, row.event_id, problem, at_points=points)
        if row.seq in keep:
            points[row.seq] = (row.event_id, row.hash)
        previous, expected_seq, count = row.hash, expected_seq + 1, count + 1
    return VerifyReport(count, previous, at_points=points)
