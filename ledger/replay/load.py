"""Loading state: the latest usable snapshot, then the events after it.

As-of by sequence cuts the log after a sequence number; as-of by business time
cuts it after the last event at or before that time (business time never goes
backwards along the log, so this is a prefix too). Snapshots are only a cache:
``use_snapshots=False`` folds from the first event. The events are folded by
the fast path in ``bulk_fold``, which equals the reference fold (the audit
checks that on the log itself).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ledger.domain.snapshot import SNAPSHOT_FORMAT, dump_state, load_state
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.replay.fast_fold import fold_rows
from ledger.store import CachedLog, LogReader

__all__ = ["LEDGER_SCOPE", "SNAPSHOT_EVERY", "state_at", "folded", "fold_after", "seq_for_time", "write_snapshot_if_due"]

LEDGER_SCOPE = "ledger"
SNAPSHOT_EVERY = 1000
"""Events folded since the last snapshot before a new one is written."""
SNAPSHOT_KEEP_NEWEST = 3
SNAPSHOT_KEEP_ONE_PER = 100_000
"""Older whole-state snapshots are thinned to the first in each span of this many events.

Snapshots are a cache and whole-state ones are large; kept unthinned they
would outgrow the log. Thinned, an as-of replay far in the past folds at most
about twice this many events after its snapshot.
"""

Progress = Callable[[int], None]


def seq_for_time(store: LogReader, at: datetime) -> int:
    return store.last_seq_at_or_before(format_time(at))


def state_at(
    store: CachedLog,
    upto_seq: int | None = None,
    *,
    use_snapshots: bool = True,
    progress: Progress | None = None,
) -> LedgerState:
    """The state after event ``upto_seq`` (the head when None), from the newest usable snapshot before it."""
    state = LedgerState()
    if use_snapshots:
        found = store.snapshots.latest(LEDGER_SCOPE, SNAPSHOT_FORMAT, upto_seq)
        if found is not None:
            state = load_state(found[1])
    return fold_rows(state, store.read_batches(after_seq=state.seq, upto_seq=upto_seq), store.identities, progress)


def folded(log: LogReader, upto_seq: int | None = None, progress: Progress | None = None) -> LedgerState:
    """The state after event ``upto_seq`` (the head when None), folded from the first event: no snapshot trusted,
    and no snapshot cache needed (the audit's fast path, a what-if's actual world, a sweep worker's rows)."""
    return fold_rows(LedgerState(), log.read_batches(upto_seq=upto_seq), log.identities, progress)


def fold_after(store: LogReader, state: LedgerState, upto_seq: int) -> LedgerState:
    """``state`` (in place) carried forward over the stored rows after it, up to ``upto_seq``."""
    return fold_rows(state, store.read_batches(after_seq=state.seq, upto_seq=upto_seq), store.identities)


def write_snapshot_if_due(store: CachedLog, state: LedgerState, head_hash: str, *, force: bool = False) -> bool:
    """Cache ``state`` (which must be at ``head_hash``) when enough events passed since the last snapshot.

    "Enough" grows with the state's size, so writing snapshots costs O(1) per
    event amortised however many accounts there are.
    """
    if state.seq == 0:
        return False
    last_seq = store.snapshots.latest_seq(LEDGER_SCOPE, SNAPSHOT_FORMAT)
    due_every = max(SNAPSHOT_EVERY, len(state.accounts) + len(state.markets))
    if not force and state.seq - last_seq < due_every:
        return False
    if last_seq == state.seq:
        return False
    store.snapshots.save([(LEDGER_SCOPE, dump_state(state))], state.seq, head_hash, SNAPSHOT_FORMAT)
    store.snapshots.prune(LEDGER_SCOPE, keep_newest=SNAPSHOT_KEEP_NEWEST, keep_one_per=SNAPSHOT_KEEP_ONE_PER)
    return True
