"""The one place that reads the wall clock: the *recorded* time of appends.

Business time always comes from the events themselves; this clock only stamps
when the ledger stored them (for bitemporal questions and the audit trail).
Tests pin it with freezegun or pass their own clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)
