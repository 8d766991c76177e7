"""What an append admits, with no database: the checks an event passes before it is folded.

Given the state at the head and the ids already stored: skip what is
already stored with equal content, refuse a reused id with other content, an
engine type or an engine id mark, a business time past the tolerance, then
validate (core checks, then rule checks). The fold and the engine's
decisions after it are the engine session's (``engine.session``), which runs
these checks on each event of a batch.
"""

from __future__ import annotations

from datetime import datetime

from attrs import define

from ledger.domain import events as ev
from ledger.domain.idempotency import NewEvents
from ledger.domain.names import normalised
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.domain.validation import validate
from ledger.engine import rule_checks
from ledger.errors import InvalidEvent

__all__ = ["Located", "BatchOutcome", "admit"]

Located = tuple[str, ev.Event]
"""An event and where it came from (``FILE:LINE`` or ``event ID``)."""


@define
class BatchOutcome:
    to_append: list[ev.Event]
    skipped: int = 0
    engine_made: int = 0


def admit(state: LedgerState, received: ev.Event, new: NewEvents, not_after: datetime | None) -> ev.Event | None:
    """``received`` as it is to be folded (names normalised), None when it is already stored (or earlier in the batch)
    with equal content; ``InvalidEvent`` when it may not be appended on ``state``.

    ``not_after``: the latest business time accepted (the recording time plus
    the tolerance; one event stamped in the far future would otherwise refuse
    every real event after it as going backwards, forever).
    """
    event = normalised(received)  # NFC, no look-alike characters in ids and names
    if not new.is_new(event):
        return None
    if event.TYPE not in ev.INGESTED_TYPES:
        raise InvalidEvent(f"{event.TYPE} events are made by the liquidation engine, not ingested")
    reserved = next((mark for mark in ev.ENGINE_ID_MARKS if mark in event.id), None)
    if reserved is not None:
        raise InvalidEvent(f"id {event.id!r} contains {reserved!r}, reserved for the liquidation engine's own events")
    account = getattr(event, "account", None)
    separator = None
    if isinstance(account, str) and account not in state.accounts:  # an account opened before the rule keeps working
        separator = next((c for c in ev.ACCOUNT_NAME_SEPARATORS if c in account), None)
    if separator is not None:
        raise InvalidEvent(f"account {account!r} contains {separator!r}: account names may not contain "
                           f"{', '.join(repr(c) for c in ev.ACCOUNT_NAME_SEPARATORS)} (they separate the parts of "
                           "the engine's ids and of reconcile statements)")
    if not_after is not None and event.at > not_after:
        raise InvalidEvent(
            f"business time {format_time(event.at)} is later than the recording time plus the tolerance "
            f"({format_time(not_after)}): an event from the future would block every event after it"
        )
    validate(state, event)
    rule_checks.check(state, event)
    return event
