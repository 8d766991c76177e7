"""The audit in parts, side by side: the same checks, each event re-derived by the reference fold once.

The reference fold is sequential: the state after an event depends on every
event before it, so a second core cannot take half the log unless it knows
the state where that half begins. It gets it from the replay *fast* path
(``load.folded``: about thirty times cheaper per event than the reference
fold with its re-decisions), re-derives its own rows with the reference fold
(``audit.audit_span``: every check, every re-decision), and the parts are
joined by a proof: the state the part before it reaches with the reference
fold must print (``dump_state``, compared by its SHA-256) exactly as the
state the part after it started from. So every event is still re-derived by
the reference fold from the reference state before it, and the report is the
one a single pass gives, discrepancy for discrepancy and count for count (a
test holds the two equal at every cut of honest and tampered logs). The
decisions a part's last mark expects and its rows do not hold are named at
the next part's first row, as the one pass names them, unless that row does
not decode (the one pass stops there first).

The one pass is run instead, from the first event, whenever the parts could
not give its report exactly: a join that fails (the fast path and the
reference fold disagree at a cut: a bug, which the one pass reports at the
head), a part that fails (its error is warned about), and a log whose hash
chain is broken (a part after a cut counts each account's events from its
stream's numbers, which only an intact chain vouches for). A part that meets
a row it cannot replay ends the audit there, as the one pass does.

Parts run in processes started afresh (``spawn``: nothing of this process's
open connections is inherited); each opens the store at its address, so an
in-memory store, which no other process can open, is audited in one pass.
Cuts fall before an ingested event (never between a mark and the engine
events it caused). Below ``SPLIT_FROM`` events a second process costs more
than it saves (its start-up is about a second).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from multiprocessing.connection import Connection
from typing import Any

import attrs
from attrs import frozen

from ledger import gc_policy
from ledger.compliance.audit import AuditedLog, AuditReport, Discrepancy, audit, audit_span, check_chain
from ledger.domain.events import ENGINE_TYPES
from ledger.domain.snapshot import dump_state
from ledger.domain.state import LedgerState
from ledger.replay import load
from ledger.store import EventStore, open_store

__all__ = ["audit_in_parts", "audit_in_turn", "cut_points", "run_part", "join_parts", "FastPath", "SPLIT_FROM",
           "MOST_PARTS"]

SPLIT_FROM = 50_000
"""Events from which the audit is split (below, one pass: a part's process start-up would cost more than it saves)."""
MOST_PARTS = 8
"""Parts the audit takes by default at most, one per core up to it: each part's process holds a state of its own
(about 500 MiB at 100,000 accounts), so a many-core machine does not hold dozens at once (``--parts N`` asks for
more)."""

_COUNTS = ("events_checked", "liquidations_checked", "marks_rederived", "decisions_checked", "snapshots_checked")
_PROGRESS_EVERY = 1_000
"""Rows a part audits between reports of its progress to this process."""


@frozen
class PartResult:
    """What one part found: its discrepancies and counts, and the states where it began and ended (digests)."""

    discrepancies: list[Discrepancy]
    counts: dict[str, int]
    start: str
    """the digest of the fast path's state it began from"""
    end: str | None
    """the digest of the reference fold's state it reached; None: it stopped at a row it could not replay"""
    last: tuple[int, str | None]
    """(seq, event id) of the last event it folded"""
    missed: list[Discrepancy]
    """a part that ends before the head: its last decisions no row held (``audit.SpanEnd.missed``)"""


def digest(state: LedgerState) -> str:
    return hashlib.sha256(dump_state(state).encode()).hexdigest()


def cut_points(store: AuditedLog, head: int, parts: int) -> list[int]:
    """Where ``parts`` parts of ``head`` events end (but the last), each about as long: the last seq of a part, whose
    next row is an ingested event (never between a mark and the engine events after it)."""
    cuts: list[int] = []
    for i in range(1, parts):
        rows: Any = store.read(after_seq=head * i // parts, upto_seq=head)
        with closing(rows):  # left early: its read closed at once
            for row in rows:
                if row.type not in ENGINE_TYPES:
                    if row.seq - 1 > (cuts[-1] if cuts else 0):
                        cuts.append(row.seq - 1)
                    break
    return cuts


def audit_in_parts(
    store: EventStore, progress: Callable[[int], None] | None = None, *, exhaustive: bool = False, parts: int = 2,
    split_from: int | None = None,
) -> AuditReport:
    """``audit.audit``'s report, the log cut in up to ``parts`` parts audited side by side (see the module docstring);
    one pass for a log shorter than ``split_from`` events (None: ``SPLIT_FROM``), or a store no other process can
    open."""
    split_from = SPLIT_FROM if split_from is None else split_from
    address = store.address()
    head = store.head()[0]
    cuts = cut_points(store, head, parts) if address is not None and parts > 1 and head >= split_from else []
    if not cuts:
        return audit(store, progress, exhaustive=exhaustive)
    assert address is not None, "cut only for a store another process opens"
    workers = _start(address, cuts, head, exhaustive)
    watch = _Progress(progress, [counter for _, _, counter in workers])
    try:
        report = _joined(store, cuts, head, exhaustive, watch,
                         (_result(process, receive, watch) for process, receive, _ in workers))
        if report is not None:
            return report
    except _PartFailed as exc:
        warnings.warn(f"{exc}; the log is audited in one pass instead", RuntimeWarning, stacklevel=2)
    finally:
        _stop(workers)
    return audit(store, watch.catching_up(), exhaustive=exhaustive)


def _joined(
    store: AuditedLog, cuts: Sequence[int], head: int, exhaustive: bool, progress: Callable[[int], None] | None,
    results: Iterable[PartResult],
) -> AuditReport | None:
    """The chain and the first part checked here, then the other parts' ``results`` (taken lazily, in order) joined
    to it; None where the one pass must give the report instead (a broken chain, a failed join)."""
    report = AuditReport(exhaustive=exhaustive)
    check_chain(store, report)
    if report.discrepancies:
        return None
    first = audit_span(store, report, upto_seq=cuts[0], to_head=False, exhaustive=exhaustive, progress=progress)
    if first.state is None:
        return report
    ended, missed = digest(first.state), first.missed
    del first  # its state let go before the fast path folds one of its own: this process holds one state at a time
    fast_at_head = FastPath(store, head)  # with processes, while the others work: what the last part is held to
    joined = join_parts(store, report, results, cuts, fast_at_head, first_end=ended, first_missed=missed)
    return report if joined else None


def _start(address: str, cuts: Sequence[int], head: int, exhaustive: bool) -> list[tuple[Any, Connection, Any]]:
    """A process for each part after the first: (process, its result's pipe, its progress counter)."""
    context = multiprocessing.get_context("spawn")
    workers = []
    for after, upto in zip(cuts, [*cuts[1:], head], strict=True):
        counter = context.RawValue("q", 0)
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_run_part, args=(send, counter, address, after, upto, upto == head,
                                                          exhaustive), daemon=True)
        process.start()
        send.close()
        workers.append((process, receive, counter))
    return workers


def _stop(workers: Sequence[tuple[Any, Connection, Any]]) -> None:
    for process, receive, _ in workers:
        receive.close()
        if process.is_alive():
            process.terminate()
        process.join()


class FastPath:
    """The replay fast path's state at the head, folded from the first event (``audit.check_fast_path``'s other side),
    kept as its digest."""

    def __init__(self, store: AuditedLog, head: int) -> None:
        self.error: Exception | None = None
        """why the fast path could not fold to the head (raised only if the reference fold reaches it, as the one
        pass would raise it; a row neither can fold ends the audit first, named)"""
        try:
            state = load.folded(store, head)
        except Exception as exc:  # kept, and raised where the one pass would raise it
            self.seq, self.digest, self.error = head, "", exc.with_traceback(None)  # no frames (nor open reads) kept
        else:
            self.seq, self.digest = state.seq, digest(state)


def join_parts(
    store: AuditedLog, report: AuditReport, results: Iterable[PartResult], cuts: Sequence[int], fast: FastPath, *,
    first_end: str, first_missed: Sequence[Discrepancy],
) -> bool:
    """The parts' findings into ``report`` (the first part's, which ended in a state of digest ``first_end`` with
    its last decisions ``first_missed`` open: as a ``PartResult``'s ``end`` and ``missed``), in log order, while
    each part began where the one before it ended; False, ``report`` left as the first part made it, at the first
    join that fails. The last part's state is then held to the fast path's at the head, as
    ``audit.check_fast_path`` holds it.

    ``results`` are taken one by one, in order, and none after a part that
    stopped at a row it could not replay: a later part, which may have
    failed for that very row, is never asked.
    """
    kept = (len(report.discrepancies), {name: getattr(report, name) for name in _COUNTS})
    ended, missed = first_end, first_missed
    result = None
    for cut, result in zip(cuts, results, strict=False):
        if result.start != ended:
            del report.discrepancies[kept[0]:]
            for name, count in kept[1].items():
                setattr(report, name, count)
            return False
        first_row_undecodable = result.counts["events_checked"] == 0 and result.discrepancies[:1] != [] \
            and result.discrepancies[0].kind == "undecodable"
        if missed and not first_row_undecodable:  # named at the part's first row, as the one pass names them
            at = next(iter(store.read(after_seq=cut, upto_seq=fast.seq))).seq
            report.discrepancies.extend(attrs.evolve(d, seq=at) for d in missed)
        report.discrepancies.extend(result.discrepancies)
        for name, count in result.counts.items():
            setattr(report, name, getattr(report, name) + count)
        if result.end is None:  # stopped at a row it could not replay: so does the audit
            return True
        ended, missed = result.end, result.missed
    assert result is not None, "a log cut has a part after the first"
    seq, event_id = result.last
    assert seq == fast.seq, "the last part reached the head the fast path folded to"
    if fast.error is not None:
        raise fast.error
    if fast.digest != ended:
        report.add("projection", seq, event_id, "the replay fast path differs from the reference fold")
    return True


def run_part(
    store: AuditedLog, after: int, upto: int, last: bool, exhaustive: bool, progress: Callable[[int], None] | None = None,
) -> PartResult:
    """One part: the fast path's state at ``after``, then the rows after it up to ``upto`` re-derived from it (the
    part that ends the audit, ``last``, closes the books)."""
    state = load.folded(store, after)
    start = digest(state)
    report = AuditReport(exhaustive=exhaustive)
    span = audit_span(store, report, state=state, upto_seq=upto, to_head=last, exhaustive=exhaustive,
                      progress=progress)
    counts = {name: getattr(report, name) for name in _COUNTS}
    reached = span.state
    end, at = (None, (0, None)) if reached is None else (digest(reached), (reached.seq, reached.last_event_id))
    return PartResult(report.discrepancies, counts, start, end, at, span.missed)


def audit_in_turn(store: AuditedLog, cuts: Sequence[int], *, exhaustive: bool = False) -> AuditReport:
    """What ``audit_in_parts`` reports for these ``cuts``, its parts run one after another in this process (no
    process started: the tests hold it to the one-pass audit at every cut of a log)."""
    head = store.head()[0]
    spans = zip(cuts, [*cuts[1:], head], strict=True)
    results = (run_part(store, after, upto, upto == head, exhaustive) for after, upto in spans)
    report = _joined(store, cuts, head, exhaustive, None, results)
    return report if report is not None else audit(store, exhaustive=exhaustive)


def _run_part(  # pragma: no cover - runs in the part's own process (``run_part``, in turn, is what the tests check)
    send: Connection, counter: Any, address: str, after: int, upto: int, last: bool, exhaustive: bool,
) -> None:
    """``run_part`` in its own process, on the store at ``address``; its result, or the error that ended it, sent
    back, and its progress counted in ``counter``."""
    gc_policy.collect_older_generations_rarely()  # a process of its own that replays (``ledger.gc_policy``)
    try:
        store: Any = open_store(address)
        try:
            pending = [0]

            def advance(n: int) -> None:
                pending[0] += n
                if pending[0] >= _PROGRESS_EVERY:
                    counter.value += pending[0]
                    pending[0] = 0

            result = run_part(store, after, upto, last, exhaustive, advance)
            counter.value += pending[0]
            send.send(result)
        finally:
            store.close()
    except BaseException:
        send.send(traceback.format_exc())
    finally:
        send.close()


class _PartFailed(RuntimeError):
    """A part's process ended without its result (its error, or how it ended)."""


class _Progress:
    """This process's progress callback, which also passes on the rows the other parts report having audited."""

    def __init__(self, progress: Callable[[int], None] | None, counters: Sequence[Any]) -> None:
        self.progress, self.counters = progress, counters
        self.seen = 0
        self.calls = 0
        self.shown = 0
        """rows passed on so far, from every part"""

    def __call__(self, n: int) -> None:
        if self.progress is not None:
            self.progress(n)
            self.shown += n
            self.calls += 1
            if self.calls % _PROGRESS_EVERY == 0:
                self.poll()

    def poll(self) -> None:
        if self.progress is not None:
            now = sum(counter.value for counter in self.counters)
            if now != self.seen:
                self.progress(now - self.seen)
                self.shown += now - self.seen
                self.seen = now

    def catching_up(self) -> Callable[[int], None] | None:
        """The progress of the one pass that replaces the parts: its rows are passed on only past the ones the parts
        already showed, so the count never goes back nor past the log's length."""
        if self.progress is None:
            return None
        progress, behind = self.progress, [self.shown]

        def advance(n: int) -> None:
            if behind[0] >= n:
                behind[0] -= n
            else:
                progress(n - behind[0])
                behind[0] = 0

        return advance


def _result(process: Any, receive: Connection, watch: _Progress) -> PartResult:
    """A part's result, passing its progress on while it works; a part's error is raised here."""
    while not receive.poll(0.2):
        watch.poll()
        if not process.is_alive() and not receive.poll(0):
            raise _PartFailed(f"an audit part (process {process.pid}) ended with status {process.exitcode} "
                              "and no result")
    try:
        result = receive.recv()
    except EOFError:
        raise _PartFailed(f"an audit part (process {process.pid}) ended without a result") from None
    watch.poll()
    if isinstance(result, str):
        raise _PartFailed(f"an audit part failed:\n{result}")
    assert isinstance(result, PartResult), "a part sends its result or its error"
    return result
