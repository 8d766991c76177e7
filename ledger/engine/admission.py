"""The decision pipeline of an append, with no database.

Given the state at the head, the ids already stored, and a batch of located
events: skip what is already stored with equal content, refuse a reused id
with other content, validate (core checks, then rule checks), fold, and after
each mark, funding or trade let the liquidation engine decide and fold its events. Returns every
event to append, in order. ``Ledger`` runs it under the log's write lock;
tests and the what-if tooling run it in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from attrs import define

from ledger.domain import events as ev
from ledger.domain.fold import apply
from ledger.domain.idempotency import NewEvents
from ledger.domain.money import arithmetic
from ledger.domain.names import normalised
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.domain.validation import validate
from ledger.engine import rule_checks
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.liquidation import Substitute, after_event, on_price
from ledger.errors import InvalidBatch, InvalidEvent

__all__ = ["Located", "BatchOutcome", "fold_batch"]

Located = tuple[str, ev.Event]
"""An event and where it came from (``FILE:LINE`` or ``event ID``)."""


@define
class BatchOutcome:
    to_append: list[ev.Event]
    skipped: int = 0
    engine_made: int = 0


def fold_batch(
    state: LedgerState,
    records: Sequence[Located],
    stored: Mapping[str, ev.Event] | None = None,
    substitute: Substitute | None = None,
    index: LiquidationIndex | None = None,
    not_after: datetime | None = None,
) -> BatchOutcome:
    """Fold ``records`` into ``state`` (in place); ``InvalidBatch`` names the first bad one.

    ``substitute`` makes the liquidation engine decide with other rules (what-if).
    ``index`` (kept in step with ``state``) lets a mark check only its candidates
    instead of every exposed account; the decisions are the same either way.
    ``not_after``: the latest business time accepted (the recording time plus
    the tolerance; one event stamped in the far future would otherwise refuse
    every real event after it as going backwards, forever).
    """
    stored = stored or {}
    outcome = BatchOutcome([])
    with arithmetic():  # validation and rule checks compute equity and margins too
        _fold_records(state, records, stored, substitute, index, outcome, not_after)
    return outcome


def _fold_records(
    state: LedgerState,
    records: Sequence[Located],
    stored: Mapping[str, ev.Event],
    substitute: Substitute | None,
    index: LiquidationIndex | None,
    outcome: BatchOutcome,
    not_after: datetime | None,
) -> None:
    new = NewEvents(stored)
    for where, received in records:
        try:
            event = normalised(received)  # NFC, no look-alike characters in ids and names
            if not new.is_new(event):  # stored (or earlier in the batch) with equal content: nothing to do
                outcome.skipped += 1
                continue
            if event.TYPE not in ev.INGESTED_TYPES:
                raise InvalidEvent(f"{event.TYPE} events are made by the liquidation engine, not ingested")
            if any(mark in event.id for mark in ev.ENGINE_ID_MARKS):
                raise InvalidEvent(
                    f"id {event.id!r} contains {' or '.join(repr(m) for m in ev.ENGINE_ID_MARKS)}, reserved for the "
                    "liquidation engine's own events"
                )
            if not_after is not None and event.at > not_after:
                raise InvalidEvent(
                    f"business time {format_time(event.at)} is later than the recording time plus the tolerance "
                    f"({format_time(not_after)}): an event from the future would block every event after it"
                )
            validate(state, event)
            rule_checks.check(state, event)
        except InvalidEvent as exc:
            raise InvalidBatch([exc.located(where)]) from None
        apply(state, event)
        outcome.to_append.append(event)
        if index is not None:
            index.event_folded(state, event)
        made = _react(state, event, substitute, index)
        outcome.to_append.extend(made)
        outcome.engine_made += len(made)


def _react(state: LedgerState, event: ev.Event, substitute: Substitute | None, index: LiquidationIndex | None) -> list[ev.Event]:
    """The engine's events after ``event``, with the index kept true.

    A mark asks the index for its candidates. A funding moved the cash of
    every holder of its market: they are re-indexed, then the candidates at
    the market's price are checked as after a mark.
    """
    if index is None:
        return after_event(state, event, substitute)
    if isinstance(event, (ev.Mark, ev.Funding)) and state.rules is not None:
        assert index.substitute is substitute, "the index must be built for the rules that decide"
        candidates = index.price_candidates(state, event)
        made = on_price(state, event, substitute, accounts=candidates)
        index.refresh(state, candidates)
        return made
    made = after_event(state, event, substitute)
    touched = {e.account for e in made}  # type: ignore[attr-defined]
    if isinstance(event, ev.Funding):  # no rules in force: nothing decided, but the holders' cash moved
        touched.update(state.accounts_in_market(event.market))
    index.refresh(state, sorted(touched))
    return made
