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

from attrs import frozen

from ledger.domain.snapshot import SNAPSHOT_FORMAT, dump_state, load_state
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.replay.fast_fold import fold_rows
from ledger.store import CachedLog, LogReader
from ledger.store.snapshots import LEDGER_SCOPE, snapshot_digest

__all__ = ["LEDGER_SCOPE", "SNAPSHOT_EVERY", "state_at", "folded", "fold_after", "seq_for_time", "DueSnapshot",
           "due_snapshot", "last_snapshot_seq", "save_snapshot", "write_snapshot_now"]

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


@frozen
class DueSnapshot:
    """A whole-ledger snapshot an append makes due: its content, and the digest the append stores in the log."""

    seq: int
    text: str
    digest: str


def due_snapshot(state: LedgerState, last_seq: int) -> DueSnapshot | None:
    """The snapshot of ``state`` when enough events passed since the last one (at ``last_seq``), else None.

    "Enough" grows with the state's size, so writing snapshots costs O(1) per
    event amortised however many accounts there are.
    """
    due_every = max(SNAPSHOT_EVERY, len(state.accounts) + len(state.markets))
    if state.seq == 0 or state.seq - last_seq < due_every:
        return None
    text = dump_state(state)
    return DueSnapshot(state.seq, text, snapshot_digest(LEDGER_SCOPE, state.seq, SNAPSHOT_FORMAT, text))


def last_snapshot_seq(store: CachedLog, head_seq: int) -> int:
    """Where the newest whole-ledger snapshot is (never past the head: a row past it is evidence, not a snapshot)."""
    return min(store.snapshots.latest_seq(LEDGER_SCOPE, SNAPSHOT_FORMAT), head_seq)


def save_snapshot(store: CachedLog, snapshot: DueSnapshot, event_hash: str) -> None:
    """Write a due snapshot (after the append that bound it committed) and thin the old ones."""
    store.snapshots.save([(LEDGER_SCOPE, snapshot.text)], snapshot.seq, event_hash, SNAPSHOT_FORMAT)
    store.snapshots.prune(LEDGER_SCOPE, keep_newest=SNAPSHOT_KEEP_NEWEST, keep_one_per=SNAPSHOT_KEEP_ONE_PER)


def write_snapshot_now(store: CachedLog, state: LedgerState, event_hash: str) -> bool:
    """Cache ``state`` (at ``event_hash``) now, outside any append (``ledger snapshot``); False when one is there.

    The log cannot bind it (its row is already stored): a ledger with a key uses it once sealed, one without a
    key only for nothing that decides (it is never loaded by ``state_at``).
    """
    if state.seq == 0 or store.snapshots.latest_seq(LEDGER_SCOPE, SNAPSHOT_FORMAT) == state.seq:
        return False
    text = dump_state(state)
    save_snapshot(store, DueSnapshot(state.seq, text, snapshot_digest(LEDGER_SCOPE, state.seq, SNAPSHOT_FORMAT, text)),
                  event_hash)
    return True
