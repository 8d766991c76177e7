"""One side of one market's trigger prices, kept so that re-indexing an account costs almost nothing.

The liquidation index (``engine.candidates``) re-indexes an account at nearly
every event it has: each fill moves its triggers. With the triggers in a
sorted list, every re-index paid a removal and an insertion in Python (a
search and a shift each: measured, a third of the index's upkeep). Here a
side's triggers live in a binary heap (``heapq``, in C), most exposed on top:
for longs the highest trigger (a falling mark reaches it first), for shorts
the lowest. An insertion is one ``heappush``; a removal costs nothing at all:
each re-index of an account draws a new stamp (the index keeps the account's
current one), and a heap entry made with any other stamp of the account's (an
earlier re-index's) is dead. An account re-indexed to the very same
triggers, as one whose buffer is within its funding reserve is at every mark
that examines it, keeps its stamp and its entries (``LiquidationIndex.account_changed``):
no dead entry at all, where each re-index used to leave one that every
crossing mark then walked. The query a mark asks, every entry
the price crosses, walks down from the top and stops at each entry the price
does not cross (below it, by the heap's order, none is crossed), skipping the
dead ones; when the dead outnumber the live ``SWEEP_RATIO`` times, the heap is
rebuilt from the live entries alone (``heapify``, in C).

Keys are the trigger itself for shorts and its negation for longs, so both
heaps are min-heaps (``copy_negate``: exact, in any decimal context); ties
are broken by the stamp, then the account. An entry is a tuple of a decimal,
an int and a string only: CPython's collector stops tracking such a tuple the
first time it looks at it, so the hundreds of thousands an ingest leaves
(live and dead) are not traversed again at every collection. (An entry used to
hold the account's list of triggers itself, compared by identity: every entry
then stayed tracked, and kept its dead list alive; the collector was 5% of an
ingest.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from heapq import heapify, heappush

__all__ = ["TriggerBook", "SWEEP_RATIO", "SWEEP_FROM"]

SWEEP_RATIO = 2
"""Dead entries kept per live one before the heap is rebuilt (a rebuild reads every entry)."""

SWEEP_FROM = 32
"""Dead entries kept at least before a rebuild (below it, rebuilding a small heap would be most of its upkeep).

Small: a what-if world's own index holds a few diverged accounts whose triggers move at nearly every event they
have, and every crossing mark walks the dead entries they leave. At 1,024 that walk was 7% of a 16-candidate
sweep's pass; a rebuild of a book of a few live entries after 32 dead ones costs about one entry read per drop."""

Entry = tuple[Decimal, int, str]
"""(key, the stamp of the re-index that made it, account)"""


class TriggerBook:
    """The triggers of one side (``is_long``) of one market, in a heap. ``stamps`` is the index's own map from each
    account to the stamp of its current triggers: an entry is live while it carries its account's stamp."""

    __slots__ = ("dead_count", "heap", "is_long", "live_count", "stamps")

    def __init__(self, is_long: bool, stamps: Mapping[str, int]) -> None:
        self.is_long = is_long
        self.stamps = stamps
        self.heap: list[Entry] = []
        self.live_count = 0
        self.dead_count = 0

    def add(self, trigger: Decimal, account: str, stamp: int) -> None:
        """The account's ``trigger``, made by its re-index ``stamp`` (which the index holds for it from now on)."""
        heappush(self.heap, (trigger.copy_negate() if self.is_long else trigger, stamp, account))
        self.live_count += 1

    def drop(self) -> None:
        """One entry is no longer its account's (it stays in the heap, dead, until a rebuild)."""
        self.live_count -= 1
        self.dead_count += 1
        if self.dead_count > max(SWEEP_RATIO * self.live_count, SWEEP_FROM):
            stamps = self.stamps
            self.heap = [entry for entry in self.heap if stamps.get(entry[2]) == entry[1]]
            heapify(self.heap)
            self.dead_count = 0

    def crossed(self, price: Decimal) -> Iterator[str]:
        """The accounts whose live trigger ``price`` crosses (a long's at or above it, a short's at or below it)."""
        heap, stamps = self.heap, self.stamps
        bound = price.copy_negate() if self.is_long else price
        size = len(heap)
        pending = [0] if size else []
        while pending:
            i = pending.pop()
            key, stamp, account = heap[i]
            if key > bound:  # not crossed, nor is anything under it
                continue
            if stamps.get(account) == stamp:
                yield account
            child = 2 * i + 1
            if child < size:
                pending.append(child)
                if child + 1 < size:
                    pending.append(child + 1)

    def __len__(self) -> int:
        return self.live_count
