"""Idempotency: which events of a batch are new, in one place.

An event id is the idempotency key. Appending an event already stored with
equal content is a no-op (a re-sent file stores nothing twice); the same id
with other content is refused, since it would make the log say two different
things under one name. The append pipeline and the store's own ``append`` both
ask this one class, so the rule cannot drift between them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger.domain.events import Event
from ledger.errors import DuplicateEventConflict

__all__ = ["NewEvents"]


class NewEvents:
    """Tells new events from repeats, given what is already stored; remembers the batch so far."""

    def __init__(self, stored: Mapping[str, Event]) -> None:
        self._stored = stored
        self._seen: dict[str, Event] = {}

    def is_new(self, event: Event) -> bool:
        """True for an id neither stored nor earlier in the batch; False for an equal repeat.

        Raises ``DuplicateEventConflict`` (naming the event) for a reused id with other content.
        """
        earlier = self._seen.get(event.id)
        previous = earlier or self._stored.get(event.id)
        if previous is None:
            self._seen[event.id] = event
            return True
        if previous != event:
            where = "used earlier in this batch" if earlier is not None else "already stored"
            raise DuplicateEventConflict(f"id {event.id!r} is {where} with different content", where=f"event {event.id}")
        return False
