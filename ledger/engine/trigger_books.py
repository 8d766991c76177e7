"""One side of one market's trigger prices, kept so that re-indexing an account costs almost nothing.

The liquidation index (``engine.candidates``) re-indexes an account at nearly
every event it has: each fill moves its triggers. With the triggers in a
sorted list, every re-index paid a removal and an insertion in Python (a
search and a shift each: measured, a third of the index's upkeep). Here a
side's triggers live in a binary heap (``heapq``, in C), most exposed on top:
for longs the highest trigger (a falling mark reaches it first), for shorts
the lowest. An insertion is one ``heappush``; a removal leaves the entry where
it is: the book keeps each account's one live entry in ``live``, and a heap
entry that is not the very tuple held there (an earlier re-index's) is dead.
An account re-indexed to the very same triggers, as one whose buffer is
within its funding reserve is at every mark that examines it, keeps its
entries (``LiquidationIndex.account_changed``): no dead entry at all, where
each re-index used to leave one that every crossing mark then walked. The
query a mark asks, every entry the price crosses, walks down from the top and
stops at each entry the price does not cross (below it, by the heap's order,
none is crossed), skipping the dead ones; when the dead outnumber the live
``SWEEP_RATIO`` times, the heap is rebuilt from ``live``'s entries alone
(``heapify``, in C). (The rebuild used to read the whole heap, dead entries
included, and ask of each whether it was live: 0.15 s of the benchmark
ingest's 1.6 s of upkeep, against 0.06 s for heapifying the live ones.)

Keys are the trigger itself for shorts and its negation for longs, so both
heaps are min-heaps (``copy_negate``: exact, in any decimal context); ties
are broken by the account (a live entry and a dead one may then compare
equal: the heap does not mind, and liveness is by identity). An entry is a
tuple of a decimal and a string only: CPython's collector stops tracking such
a tuple the first time it looks at it, so the hundreds of thousands an ingest
leaves (live and dead) are not traversed again at every collection. (An entry
used to hold the account's list of triggers itself, compared by identity:
every entry then stayed tracked, and kept its dead list alive; the collector
was 5% of an ingest.)
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from heapq import heapify, heappush

__all__ = ["TriggerBook", "SWEEP_RATIO", "SWEEP_FROM"]

SWEEP_RATIO = 2
"""Dead entries kept per live one before the heap is rebuilt (a rebuild heapifies the live entries)."""

SWEEP_FROM = 32
"""Dead entries kept at least before a rebuild (below it, rebuilding a small heap would be most of its upkeep).

Small: a what-if world's own index holds a few diverged accounts whose triggers move at nearly every event they
have, and every crossing mark walks the dead entries they leave. At 1,024 that walk was 7% of a 16-candidate
sweep's pass; a rebuild of a book of a few live entries after 32 dead ones costs about one entry per drop."""

Entry = tuple[Decimal, str]
"""(key, account)"""


class TriggerBook:
    """The triggers of one side (``is_long``) of one market: a heap of entries, and ``live``, each account's one live
    entry (a version gives one trigger per open position, so an account has at most one per market and side)."""

    __slots__ = ("dead_count", "heap", "is_long", "live")

    def __init__(self, is_long: bool) -> None:
        self.is_long = is_long
        self.heap: list[Entry] = []
        self.live: dict[str, Entry] = {}
        self.dead_count = 0

    def add(self, trigger: Decimal, account: str) -> None:
        """The account's ``trigger`` (it holds none in this book now).

        A second one would replace the first in ``live`` (the first then dead, though it may be the more exposed:
        a mark crossing it would not name the account) and make the account's next drop fail, so it is refused, under
        ``python -O`` too: a version gives one trigger per open position (``rules.base.Trigger``;
        ``tests/test_scope_triggers.py`` holds every registered version to it)."""
        live = self.live
        if account in live:
            raise AssertionError(f"the version in force gave {account!r} two triggers on one side of one market")
        entry = live[account] = (trigger.copy_negate() if self.is_long else trigger, account)
        heappush(self.heap, entry)

    def drop(self, account: str) -> None:
        """The account's entry is no longer live (it stays in the heap, dead, until a rebuild)."""
        live = self.live
        del live[account]
        self.dead_count += 1
        if self.dead_count > max(SWEEP_RATIO * len(live), SWEEP_FROM):
            self.heap = list(live.values())
            heapify(self.heap)
            self.dead_count = 0

    def crossed(self, price: Decimal) -> Iterator[str]:
        """The accounts whose live trigger ``price`` crosses (a long's at or above it, a short's at or below it)."""
        heap, live = self.heap, self.live
        bound = price.copy_negate() if self.is_long else price
        size = len(heap)
        pending = [0] if size else []
        while pending:
            i = pending.pop()
            entry = heap[i]
            if entry[0] > bound:  # not crossed, nor is anything under it
                continue
            account = entry[1]
            if live.get(account) is entry:
                yield account
            child = 2 * i + 1
            if child < size:
                pending.append(child)
                if child + 1 < size:
                    pending.append(child + 1)

    def __len__(self) -> int:
        return len(self.live)
