"""What an append admits, with no database: the checks an event passes before it is folded.

Given the state at the head and the ids already stored: skip what is
already stored with equal content, refuse a reused id with other content, an
engine type or an engine id mark, a name new to the ledger that may not come in
(``new_names``), a business time past the tolerance, then validate (core
checks, then rule checks). The fold and the engine's
decisions after it are the engine session's (``engine.session``), which runs
these checks on each event of a batch.
"""

from __future__ import annotations

from attrs import define

from ledger.domain import events as ev
from ledger.domain.idempotency import NewEvents
from ledger.domain.names import normalised
from ledger.domain.state import LedgerState
from ledger.domain.validation import validate
from ledger.engine import rule_checks
from ledger.engine.input_limits import InputLimits
from ledger.engine.new_names import NewNames
from ledger.errors import InvalidEvent

__all__ = ["Located", "BatchOutcome", "admit"]

Located = tuple[str, ev.Event]
"""An event and where it came from (``FILE:LINE`` or ``event ID``)."""


@define
class BatchOutcome:
    to_append: list[ev.Event]
    skipped: int = 0
    engine_made: int = 0


def admit(
    state: LedgerState, received: ev.Event, new: NewEvents, limits: InputLimits | None, names: NewNames | None,
) -> ev.Event | None:
    """``received`` as it is to be folded (names normalised), None when it is already stored (or earlier in the batch)
    with equal content; ``InvalidEvent`` when it may not be appended on ``state``.

    ``limits``: what fresh input must stay within (``engine.input_limits``:
    the future tolerance, the price band); None where recorded events are
    re-run (a what-if world), which were accepted under them. ``names``: the
    checks a name new to the ledger must pass (``engine.new_names``); None where
    recorded events are re-run (a what-if world), whose names were admitted.
    """
    event = normalised(received)  # NFC, no look-alike characters in ids and names
    if not new.is_new(event):
        return None
    if event.TYPE not in ev.INGESTED_TYPES:
        raise InvalidEvent(f"{event.TYPE} events are made by the liquidation engine, not ingested")
    for reserved in ev.ENGINE_ID_MARKS:  # a loop, not a generator made per event
        if reserved in event.id:
            raise InvalidEvent(f"id {event.id!r} contains {reserved!r}, reserved for the liquidation engine's own events")
    if names is not None:
        names.check(state, event)  # names new to the ledger only: one opened before a rule keeps working
    if limits is not None:
        limits.check_time(event)
    validate(state, event)
    if limits is not None:
        limits.check_prices(state, event)
    rule_checks.check(state, event)
    return event
