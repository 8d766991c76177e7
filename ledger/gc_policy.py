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

So a command that replays and ends (the CLI's commands, and the processes a
sweep or an audit in parts starts) collects each older generation after
``OLDER_EVERY`` collections of the one younger (CPython: 10), and its
youngest after ``YOUNGEST`` allocations (CPython: 700) rather than every few
events: an append's objects that live for a chunk (its events, rows and
superseded account states) were caught alive by those collections and
traversed again as they moved up, 0.21–0.24 s of collections in a 5.5 s
ingest of 100,000 lines, against 0.04–0.05 s at ``YOUNGEST``. In all, the
middle generation is collected about every million allocations and the whole
heap about every hundred million (CPython: 7,000 and 70,000). Cyclic garbage
(an exception caught with its frames, say) waits longer to be freed: bounded
by those counts, and gone when the command ends. A process that stays up, the web console
(``ledger serve``), keeps the interpreter's schedule: its cycles would pile
up for as long as it runs, for little gain between requests.

The schedule is a process setting, so it is set where a process starts
(the CLI's group, before any command but one marked ``StaysUp`` runs; a
sweep's and an audit's own processes as they start), never by the library on
import; and only for the three-generation collector
of CPython 3.11 to 3.13, which these thresholds were measured on (a later
collector reads them differently: the interpreter's own schedule is kept).
"""

from __future__ import annotations

import gc
import sys

__all__ = ["YOUNGEST", "OLDER_EVERY", "APPLIES", "collect_older_generations_rarely"]

YOUNGEST = 10_000
"""Allocations (less deallocations) of tracked objects between collections of the youngest generation (CPython's
default: 700). Measured on that ingest: 5,000 left 0.11–0.13 s of collections, 20,000 and 50,000 as little as this."""

OLDER_EVERY = 100
"""Collections of a generation between collections of the next older one (CPython's default: 10)."""

APPLIES = sys.implementation.name == "cpython" and (3, 11) <= sys.version_info[:2] < (3, 14)
"""Whether this interpreter's collector is the one the schedule was measured on (elsewhere it is left alone)."""


def collect_older_generations_rarely() -> None:
    """This process's collector set to the ledger's schedule (see the module)."""
    if APPLIES:
        gc.set_threshold(YOUNGEST, OLDER_EVERY, OLDER_EVERY)

