"""The write side's one owner: the state the engine decides on, its liquidation index, and its head.

Four things fold events and let the liquidation engine decide, and each must
keep the index of trigger prices true around the fold, or a mark misses a
liquidation: an append (and each what-if world, which is an append that
stores nothing), the audit (which re-decides what was stored), a writer
carrying its warm state over rows other writers appended, and a what-if
forking a world with other rules. They all go through an ``EngineSession``,
and nothing else touches the index:

- ``fold``: admit, fold (``domain.fast_apply``: the reference fold's state, proven equal)
  and decide a batch of new events (the pipeline's
  checks are ``engine.admission.admit``); the engine's events are folded as
  they are made;
- ``redecide``: after the reference fold applied a *stored* event, what the
  engine decides there, on a copy (the audit compares it with what was
  stored, which it then folds itself);
- ``carry_over``: fold the rows other writers committed since this
  session's head (``CommittedLog`` is what it asks of the log), re-indexing
  only what they moved, or leaving the index to be rebuilt;
- ``fork``: a world of its own from this state, deciding with substituted
  rules (what-if, compare, sweep); it re-runs recorded events, so it checks
  no new name (``new_names``: an append's rules for names).

The engine never reaches storage (an import contract): the session knows the
log only through ``CommittedLog``, which the application's unit of work
supplies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from ledger.domain import events as ev
from ledger.domain.fast_apply import apply_fast
from ledger.domain.idempotency import NewEvents
from ledger.domain.money import arithmetic
from ledger.domain.state import LedgerState, RulesInForce, clone
from ledger.engine.admission import BatchOutcome, Located, admit
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.input_limits import InputLimits
from ledger.engine.liquidation import Substitute, after_event, closes_isolated_in_deficit, on_price
from ledger.engine.new_names import NewNames
from ledger.errors import InvalidBatch, InvalidEvent

__all__ = ["EngineSession", "CommittedLog", "CATCH_UP_ROWS", "fold_batch"]

CATCH_UP_ROWS = 10_000
"""Rows of other writers a warm index is carried over row by row at least (beyond its size, it is rebuilt)."""


class CommittedLog(Protocol):
    """What carrying a session over other writers' rows asks of the log (supplied by the application)."""

    def holds(self, seq: int, event_hash: str) -> bool:
        """Whether the log still holds event ``seq`` with ``event_hash``."""
        ...

    def fold_after(self, state: LedgerState, upto_seq: int) -> LedgerState:
        """``state`` carried forward (in place) over the committed rows after it, up to ``upto_seq``."""
        ...

    def kinds(self, after_seq: int, upto_seq: int) -> Iterable[tuple[str, str]]:
        """(type, stream) of each committed row after ``after_seq`` up to ``upto_seq``, in order."""
        ...


class EngineSession:
    """A state with its liquidation index (or none: every exposed account is checked), the rules that decide
    (the ones in force, or a what-if's ``substitute``), and the hash of the last event folded (its head)."""

    def __init__(
        self, state: LedgerState, *, index: LiquidationIndex | None = None, substitute: Substitute | None = None,
        head_hash: str = "", policy: RulesInForce | None = None, names: NewNames | None = None,
    ) -> None:
        assert index is None or index.substitute is substitute, "the index must be built for the rules that decide"
        self.state = state
        self.index = index
        self.substitute = substitute
        self.head_hash = head_hash
        self.policy = policy
        """the loss-allocation policy a what-if world allocates with instead of the one in force (None: in force)"""
        self.names = names
        """the checks a name new to the ledger must pass, with the skeletons of the names the state holds (None: no
        name is checked, as in a what-if world, which re-runs recorded events)"""

    @classmethod
    def indexed(cls, state: LedgerState, *, substitute: Substitute | None = None, head_hash: str = "") -> EngineSession:
        """A session with a fresh index (built at the first mark that needs it) that checks new names (an append's)."""
        return cls(state, index=LiquidationIndex(substitute), substitute=substitute, head_hash=head_hash,
                   names=NewNames())

    @property
    def head(self) -> tuple[int, str]:
        """(sequence number, hash) of the last event folded."""
        return self.state.seq, self.head_hash

    # -- new events: an append, or a what-if world's re-run ------------------------------------------------------
    def fold(
        self, records: Sequence[Located], stored: Mapping[str, ev.Event] | None = None, limits: InputLimits | None = None,
    ) -> BatchOutcome:
        """Admit, fold and decide ``records`` in order; every event to append, the engine's after each trigger.

        ``stored``: the ids already in the log with their events (a resent
        equal event is skipped, a reused id refused). ``limits``: what fresh
        input must stay within (``engine.input_limits``). ``InvalidBatch`` names the first bad record;
        the state is then folded in part and must be dropped.
        """
        new = NewEvents(stored or {})
        outcome = BatchOutcome([])
        with arithmetic():  # validation and rule checks compute equity and margins too
            for where, received in records:
                try:
                    event = admit(self.state, received, new, limits, self.names)
                except InvalidEvent as exc:
                    raise InvalidBatch([exc.located(where)]) from None
                if event is None:
                    outcome.skipped += 1
                    continue
                apply_fast(self.state, event)  # the reference fold's state, proven equal (domain.fast_apply)
                if self.names is not None:
                    self.names.folded(self.state)
                outcome.to_append.append(event)
                if self.index is not None:
                    self.index.event_folded(self.state, event)
                made = self._decide(event, on_copy=False)
                outcome.to_append.extend(made)
                outcome.engine_made += len(made)
        return outcome

    # -- stored events: the audit ---------------------------------------------------------------------------------
    def redecide(self, event: ev.Event) -> list[ev.EngineEvent] | None:
        """After ``event`` (stored) was folded into the state: what the engine decides at it, made on a copy; None
        where the engine decides nothing (an engine event, or an event that is no trigger).

        The state is left as it is (the stored engine events are folded next,
        and then compared with these); the index is kept true either way.
        """
        if self.index is not None:
            self.index.event_folded(self.state, event)
        if event.TYPE in ev.ENGINE_TYPES:
            return None
        if isinstance(event, (ev.Mark, ev.Funding)) or (
            isinstance(event, ev.Trade) and closes_isolated_in_deficit(self.state, event)  # rare: no copy per trade
        ):
            return self._decide(event, on_copy=True)
        return None

    def _decide(self, event: ev.Event, *, on_copy: bool) -> list[ev.EngineEvent]:
        """The engine's events after ``event`` (folded), with the index kept true.

        A mark asks the index for its candidates. A funding moved the cash of
        every holder of its market: its payers past their reserve are
        re-indexed, then the candidates at the market's price are checked as
        after a mark. ``on_copy``: the events are applied to a copy of the
        state, made at the first decision, and the state is left as it is.
        """
        state, index = self.state, self.index
        if index is None:
            return after_event(state, event, self.substitute, on_copy=on_copy, policy=self.policy)
        if isinstance(event, (ev.Mark, ev.Funding)) and state.rules is not None:
            candidates = index.price_candidates(state, event)
            made = on_price(state, event, self.substitute, accounts=candidates, on_copy=on_copy, policy=self.policy)
            filled = {name for e in made if isinstance(e, ev.AutoDeleverage) for name in ev.accounts_of(e)}
            index.refresh(state, sorted(set(candidates) | filled) if filled else candidates)
            return made
        made = after_event(state, event, self.substitute, on_copy=on_copy, policy=self.policy)
        if not made and not isinstance(event, ev.Funding):
            return made  # nothing decided, and only a funding touches accounts beyond ``made``: nothing to refresh
        touched = set() if on_copy else {name for e in made for name in ev.accounts_of(e)}
        if isinstance(event, ev.Funding):  # no rules in force: nothing decided, but the holders' cash moved
            touched.update(state.accounts_in_market(event.market))
        index.refresh(state, sorted(touched))
        return made

    # -- other writers' rows ----------------------------------------------------------------------------------------
    def carry_over(self, log: CommittedLog, head_seq: int, head_hash: str) -> bool:
        """Carry this session to the log's head ``(head_seq, head_hash)``; False if it cannot be (its own head is no
        longer on the log, or lies ahead of the log's), and it must be dropped.

        As it is while the head has not moved. If other writers appended
        since, only their rows (the log's own, already decided) are folded, so
        that N writers taking turns do not each replay the whole log, and the
        index is kept true over them by re-indexing only the accounts they
        moved, funded or took past a trigger (``LiquidationIndex.carried_over``);
        when they outnumber the index's entries, a rebuild at the next mark is
        the cheaper way.
        """
        seq, own_hash = self.head
        if (seq, own_hash) == (head_seq, head_hash):
            return True
        if seq >= head_seq or not log.holds(seq, own_hash):
            return False
        self.state = log.fold_after(self.state, head_seq)
        self.head_hash = head_hash
        if self.index is not None:
            if head_seq - seq > max(self.index.size(), CATCH_UP_ROWS):
                self.index.stale = True
            else:
                self.index.carried_over(self.state, log.kinds(seq, head_seq))
        return True

    # -- worlds -------------------------------------------------------------------------------------------------------
    def fork(
        self, substitute: Substitute | None = None, *, indexed: bool = True, policy: RulesInForce | None = None,
    ) -> EngineSession:
        """A world of its own from a copy of this state, whose engine decides with ``substitute``'s rules and allocates
        with ``policy`` (a loss-allocation activation; None: the one in force then). It re-runs recorded events, whose
        names were admitted when they were appended (or came before the rules for names): it checks no new name."""
        index = LiquidationIndex(substitute) if indexed else None
        return EngineSession(clone(self.state), index=index, substitute=substitute, head_hash=self.head_hash,
                             policy=policy)


def fold_batch(
    state: LedgerState,
    records: Sequence[Located],
    stored: Mapping[str, ev.Event] | None = None,
    substitute: Substitute | None = None,
    index: LiquidationIndex | None = None,
    limits: InputLimits | None = None,
) -> BatchOutcome:
    """``records`` folded into ``state`` (in place) by a session over it, new names checked as an append checks them:
    the one-call form tests and benchmarks use."""
    return EngineSession(state, index=index, substitute=substitute, names=NewNames()).fold(records, stored, limits)
