"""How often the cyclic garbage collector looks at a process that holds a ledger's state.

A replayed state is millions of small objects that live as long as the
command and form no reference cycles: immutable account states, their
positions and ``Decimal`` figures, the liquidation index's entries. Reference
counting frees an account's old state the moment its new one replaces it;
the cyclic collector has nothing to find there. CPython does not know that:
with its default thresholds (700, 10, 10) it traverses every tracked object
again each time enough survivors pile up, and a state that is built and kept
is all survivors. A 100,000-line ingest into a 100,000-account ledger ran 16
full collections that freed nothing: about 5 s of a 19 s batch, and two
thirds of loading that ledger's snapshot (``docs/performance.md``).

So the processes that replay (the CLI, and the processes a sweep or an audit
in parts starts) collect the older generations a tenth as often and the
whole heap a hundredth as often. The youngest generation keeps CPython's
threshold: a short-lived cycle (an exception and its frames, a request's
objects in the web console) is collected as promptly as before. The
schedule is a process setting, so it is set where a process starts, never
by the library on import.
"""

from __future__ import annotations

import gc

__all__ = ["OLDER_EVERY", "collect_older_generations_rarely"]

OLDER_EVERY = 100
"""Collections of a generation between collections of the next older one (CPython's default: 10)."""


def collect_older_generations_rarely() -> None:
    """This process's collector set to the ledger's schedule (see the module): the youngest threshold kept."""
    youngest, _, _ = gc.get_threshold()
    gc.set_threshold(youngest, OLDER_EVERY, OLDER_EVERY)
