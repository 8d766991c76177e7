"""What-if worlds that cost only what differs: the actual world folded once, each candidate re-running only its
differences.

A what-if world (``compliance.whatif``) re-runs every recorded event through an
engine session of its own: admission, fold, the liquidation index, decisions.
On the benchmark history that is 161 s per candidate over a million events,
and a sweep pays it for every candidate. Yet accounts touch each other only
through the system accounts and the engine's decisions: until a candidate's
engine decides differently for an account, that account's state in the
candidate's world *is* its state in what happened.

So one ``SharedPass`` folds what happened (the actual world) once for every
world of the pass, event by event (with the write paths' fold,
``domain.fast_apply``, proven equal to the reference fold), with what the
worlds would ask of it:
whether the event's admission passes on that state, the system balances it
moved, and a liquidation index per distinct set of trigger prices
(``RuleVersion.trigger_key``: candidates that differ only in fees or target
buffers share one). Each ``DifferentialWorld`` keeps a full state of its own
whose accounts *share* the actual world's account objects, and the set of
accounts that have diverged (``diverged``):

- an event of an account that has not diverged is not re-run: the world takes
  the actual world's new account object, market and system movements (the
  same admission on the same state gives the same result);
- an event of a diverged account is re-run on the world's own state
  (admission, fold, the engine after it);
- at a mark or a funding, the world's engine decides on the candidates of the
  shared index (the accounts that have not diverged: their entries are the
  world's own) and of a small index over its diverged accounts;
- what the engine did in what happened (a liquidation, a bankruptcy, a
  deleveraging) is not the world's: the accounts it moved diverge, keeping
  their state in the world;
- anything this does not cover (an event the actual world's own admission
  would refuse that is not one account's) hands the world over to the full
  re-run from that event on: its state is then exactly the full re-run's.

The result is the full re-run's, row for row and account for account: a
property over every rule version, loss-allocation policy and generated
history holds them equal (``tests/test_differential.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import cast

from ledger.domain import events as ev
from ledger.domain.events import thaw
from ledger.domain.fast_apply import Move, apply_fast
from ledger.domain.fold import apply
from ledger.domain.idempotency import NewEvents
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.state import AccountState, LedgerState, MarketState, RulesInForce
from ledger.engine.admission import admit
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.liquidation import Substitute, closes_isolated_in_deficit, on_price, on_trade
from ledger.errors import InvalidEvent
from ledger.store import StoredEvent
from rules import registry

__all__ = ["SharedPass", "DifferentialWorld"]

_ACCOUNT_EVENTS = (ev.Deposit, ev.Withdrawal, ev.Trade, ev.MarginMode, ev.IsolatedMargin)
"""Ingested events of one account (``accounts_of`` names it): re-run by a world only when that account diverged."""
_WORLD_APPLIES = (ev.MarketListed, ev.RulesActivated, ev.LossAllocationActivated)
"""Ingested events that move no account: every world folds them itself (they are few)."""


_ONE = Decimal(1)


def _exponent(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int), "a booked amount is finite"
    return exponent


class Booked:
    """The system movements of the ingested events folded so far to one system account and asset: summed, counted,
    and counted per exponent (a sum booked one movement at a time has the smallest exponent among them, which a
    difference of sums does not tell: it carries the exponents of the movements before it too,
    ``DifferentialWorld.settle``)."""

    __slots__ = ("count", "exponents", "total")

    def __init__(self) -> None:
        self.total, self.count = ZERO, 0
        self.exponents: dict[int, int] = {}

    def add(self, amount: Decimal) -> None:
        """One more movement booked (in the ledger's exact context: the caller's)."""
        self.total += amount
        self.count += 1
        exponent = _exponent(amount)
        self.exponents[exponent] = self.exponents.get(exponent, 0) + 1

    def seen(self) -> tuple[Decimal, int, dict[int, int]]:
        """What a world keeps of it when it takes it (its own copy: this one moves on)."""
        return self.total, self.count, dict(self.exponents)


def _trigger_key(substitute: Substitute | None, state: LedgerState) -> str | None:
    """Which trigger prices a world's engine has now: worlds with the same key may share a liquidation index."""
    if state.rules is None:
        return None
    rules = substitute(state.rules) if substitute else state.rules
    version = registry.get(rules.version)
    return json.dumps([rules.version, thaw(version.trigger_key(rules.params))], sort_keys=True, default=str)


class Journal:
    """The events every world of a pass takes alike since the worlds last followed one, as what a world takes of
    them: each account's and each trade's market's state after the last of them (taking them one at a time in order
    leaves the same), how many, and the last."""

    __slots__ = ("accounts", "count", "last", "markets")

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        self.markets: dict[str, MarketState] = {}
        self.count = 0
        self.last: ev.Event | None = None

    def record(self, state: LedgerState, event: ev.Event, account: str) -> None:
        """What a world takes of an account's ``event`` folded into ``state`` (what happened): the account's state
        after it, and a trade's market's. A world taking one such event alone (``DifferentialWorld._account_event``)
        and the pass journaling one for every world (``SharedPass._journaled``) both record it here."""
        if isinstance(event, ev.Trade):
            self.markets[event.market] = state.markets[event.market]
        self.accounts[account] = state.accounts[account]
        self.count += 1
        self.last = event

    def clear(self) -> None:
        if self.count:  # (an empty journal is left as it is: most events are followed or journaled in runs)
            self.accounts, self.markets, self.count, self.last = {}, {}, 0, None


class SharedPass:
    """What happened, folded once for every world of a pass, with what each world asks of it at every event."""

    def __init__(self, worlds: Sequence[DifferentialWorld]) -> None:
        self.state = LedgerState()
        self.worlds = list(worlds)
        self._indexes: dict[str, LiquidationIndex] = {}
        self._keys: list[str | None] = [None] * len(self.worlds)
        self._rules: RulesInForce | None = None
        self.refused: InvalidEvent | None = None
        """why the actual world's own admission would refuse the event being folded (None: it passes)"""
        self.moves: list[Move] = []
        """(system account, asset, amount) of each system posting of the event just folded"""
        self.paid: set[str] = set()
        """the accounts the event just folded paid funding from or to (empty but for a funding)"""
        self.booked: dict[tuple[str, str], Booked] = {}
        """every system movement of the ingested events folded so far, per system account and asset (the worlds take
        them lazily; a balance exists once a movement was booked to it, even of zero)"""
        self.candidates: dict[str, list[str]] = {}
        """at a mark or a funding: the shared index's candidates, per trigger key"""
        self.diverged: set[str] = set()
        """the accounts diverged in any world of the pass (each world tells it its own: ``DifferentialWorld._diverge``)"""
        self.journal = Journal()
        """the events every world takes alike since the worlds last followed one"""
        self._handed: list[DifferentialWorld] = []
        """the worlds handed over to the full re-run (they re-run every event, journaled or not)"""

    def step(self, row: StoredEvent, event: ev.Event) -> None:
        """Fold ``event`` into what happened, then let every world follow it."""
        state = self.state
        self.refused = None
        if event.TYPE not in ev.ENGINE_TYPES:
            try:
                with arithmetic():
                    admit(state, event, NewEvents({}), None, None)
            except InvalidEvent as exc:
                self.refused = exc
        if isinstance(event, ev.Funding):  # the worlds take the accounts it paid from
            postings = apply(state, event, row.seq)
            self.paid = {p.account for p in postings if p.book != "system"}
            self.moves = [(p.account, p.asset, p.amount) for p in postings if p.book == "system"]
        else:  # the write paths' fold (proven equal to the reference fold), its system movements with it
            self.moves = apply_fast(state, event, row.seq)
            self.paid = set()
        if event.TYPE not in ev.ENGINE_TYPES:
            with arithmetic():
                for book, asset, amount in self.moves:
                    booked = self.booked.get((book, asset))
                    if booked is None:
                        booked = self.booked[book, asset] = Booked()
                    booked.add(amount)
        self._index(event)
        if self._journaled(event):  # each world takes it when it next follows an event (or at the end)
            for world in self._handed:
                world.follow(self, row, event, None)
        else:
            for world, key in zip(self.worlds, self._keys, strict=True):
                world.follow(self, row, event, key)  # each takes the journal first
            self.journal.clear()
            self._handed = [world for world in self.worlds if world.handed_over]
        for key, index in self._indexes.items():  # their buffers moved with the price (as an engine session does)
            if key in self.candidates:
                index.refresh(state, self.candidates[key])

    def _journaled(self, event: ev.Event) -> bool:
        """Whether every world would do alike with ``event`` only what taking what happened's result does, and if so,
        its result journaled. That is an account's event that what happened's admission passed, of an account no
        world has diverged, that leaves every world's engine and index as they are (not a trade in a market with no
        mark yet, nor one that closes an isolated position in deficit); any other event each world follows
        (``DifferentialWorld.follow``)."""
        if self.refused is not None or not isinstance(event, _ACCOUNT_EVENTS):
            return False
        (account,) = ev.accounts_of(event)
        if account in self.diverged:
            return False
        state = self.state
        if isinstance(event, ev.Trade) and (
                state.markets[event.market].mark_price is None or closes_isolated_in_deficit(state, event)):
            return False
        self.journal.record(state, event, account)
        return True

    def _index(self, event: ev.Event) -> None:
        """Keep one index per trigger key true over what happened; at a mark or a funding, its candidates."""
        state = self.state
        if state.rules is not self._rules:  # rules changed: regroup the worlds by their triggers now
            self._rules = state.rules
            self._keys = [_trigger_key(world.substitute, state) for world in self.worlds]
            self._indexes = {}
            for world, key in zip(self.worlds, self._keys, strict=True):
                if key is not None and key not in self._indexes:
                    self._indexes[key] = LiquidationIndex(world.substitute)
        self.candidates = {}
        for key, index in self._indexes.items():
            index.event_folded(state, event)
            if isinstance(event, (ev.Mark, ev.Funding)):
                self.candidates[key] = index.price_candidates(state, event)

    def finish(self) -> None:
        """Every world's state made whole (what it took lazily from what happened), at the end of the pass."""
        for world in self.worlds:
            if not world.handed_over:
                world.take_journal(self.journal)
                world.settle(self, skip_current=False)
        self.journal.clear()


class DifferentialWorld:
    """One what-if world kept as differences from what happened (see the module)."""

    def __init__(self, state: LedgerState, substitute: Substitute | None, policy: RulesInForce | None,
                 made: Callable[[LedgerState, ev.EngineEvent], None], refused: Callable[[StoredEvent, str], None],
                 handover: Callable[[StoredEvent, ev.Event], None]) -> None:
        self.state = state
        self.substitute = substitute
        self.policy = policy
        self.diverged: set[str] = set()
        self._own = LiquidationIndex(substitute)
        self._own.stale = False
        self._own_stale = False
        self._made, self._refused, self._handover = made, refused, handover
        self.handed_over = False
        self._seen: dict[tuple[str, str], tuple[Decimal, int, dict[int, int]]] = {}
        """``SharedPass.booked`` as this world's system balances last took it (``Booked.seen``), per key"""
        self._pending, self._last = 0, cast(ev.Event | None, None)
        """events taken from what happened since the state's seq and last event were set, and the last of them"""

    # -- following what happened ---------------------------------------------------------------------------------
    def follow(self, shared: SharedPass, row: StoredEvent, event: ev.Event, key: str | None) -> None:
        if self.handed_over:
            if event.TYPE not in ev.ENGINE_TYPES:
                self._handover(row, event)
            return
        self.take_journal(shared.journal)
        if event.TYPE in ev.ENGINE_TYPES:  # what happened's engine: not this world's; who it moved diverges here
            self._diverge(shared, ev.accounts_of(event))
        elif isinstance(event, _ACCOUNT_EVENTS):
            self._account_event(shared, row, event)
        elif shared.refused is not None or not isinstance(event, (*_WORLD_APPLIES, ev.Mark, ev.Funding)):
            self._hand_over(shared, row, event)  # refused by what happened's own admission, or a type not known here
        elif isinstance(event, _WORLD_APPLIES):
            self.settle(shared, skip_current=True)
            apply(self.state, event)
            self._own_stale = self._own_stale or isinstance(event, ev.RulesActivated)
        elif isinstance(event, ev.Mark):
            self.state.markets[event.market] = shared.state.markets[event.market]
            self._stamp(event)
            self._decide_on_price(shared, event, key)
        else:
            assert isinstance(event, ev.Funding)
            self._funding(shared, event, key)

    def take_journal(self, journal: Journal) -> None:
        """Events recorded in ``journal`` (the pass's, since this world last followed one: ``SharedPass.journal``; or
        one event alone), taken as it would have taken each: the accounts' and the trades' markets' states after
        them, the seq and the last event."""
        if journal.count:
            self.state.accounts.update(journal.accounts)
            self.state.markets.update(journal.markets)
            self._pending += journal.count
            self._last = journal.last

    def _stamp(self, event: ev.Event) -> None:
        """``event`` was taken from what happened: the state's seq and last event move with it when settled."""
        self._pending += 1
        self._last = event

    def settle(self, shared: SharedPass, *, skip_current: bool) -> None:
        """Bring what was taken lazily into the state: the system movements of the events taken since the last time
        (without the event being folded, when this world folds it itself or refuses it), and the seq and last event."""
        state = self.state
        with arithmetic():
            for key, booked in shared.booked.items():
                seen, seen_count, seen_exponents = self._seen.get(key, (ZERO, 0, {}))
                if booked.count == seen_count:
                    continue
                moved, taken = booked.total - seen, booked.count - seen_count
                places = dict(booked.exponents)
                for exponent, count in seen_exponents.items():
                    places[exponent] -= count
                self._seen[key] = booked.seen()  # only the keys that moved are copied
                if skip_current:
                    current = [amount for book, asset, amount in shared.moves if (book, asset) == key]
                    moved, taken = moved - sum(current, ZERO), taken - len(current)
                    for amount in current:
                        places[_exponent(amount)] -= 1
                if taken:
                    balances = state.system[key[0]]
                    before = balances.get(key[1], ZERO)
                    # the value booked one movement at a time, at the exponent that would have given it
                    exponent = min(_exponent(before), *(e for e, count in places.items() if count))
                    balances[key[1]] = (before + moved).quantize(_ONE.scaleb(exponent))
        if self._pending:
            assert self._last is not None
            state.seq += self._pending
            state.events_applied += self._pending
            state.last_at, state.last_event_id = self._last.at, self._last.id
            self._pending, self._last = 0, None

    def _take(self, shared: SharedPass, accounts: Iterable[str]) -> None:
        """What happened's result of the event just folded for these accounts (its system movements are taken when
        the world next settles)."""
        state = self.state
        for name in accounts:
            state.accounts[name] = shared.state.accounts[name]

    def _account_event(self, shared: SharedPass, row: StoredEvent, event: ev.Event) -> None:
        state, (account,) = self.state, ev.accounts_of(event)
        if account in self.diverged:  # re-run here: its state is this world's own
            self.settle(shared, skip_current=True)
            try:
                with arithmetic():
                    admitted = admit(state, event, NewEvents({}), None, None)
            except InvalidEvent as exc:
                self._refused(row, str(exc.located(f"event {event.id}")))
                return
            assert admitted is not None
            apply_fast(state, admitted)
            self._own.account_changed(state, account)
        elif shared.refused is not None:  # the same admission on the same state: refused here too
            self.settle(shared, skip_current=True)
            self._refused(row, str(shared.refused.located(f"event {event.id}")))
            self._diverge(shared, [account])  # what happened folded it (a log from before the check): it differs now
            return
        else:  # the same fold on the same state: what happened's result is this world's, taken as the pass journals
            # it for every world at once when no world diverged the account (``SharedPass._journaled``)
            alone = Journal()
            alone.record(shared.state, event, account)
            self.take_journal(alone)
        if isinstance(event, ev.Trade):
            if state.markets[event.market].mark_price is None:  # a trade price values every holder of the market
                self._own_stale = True
            if closes_isolated_in_deficit(state, event):  # a bankruptcy: it reads the insurance fund
                self.settle(shared, skip_current=False)
                self._record(shared, on_trade(state, event, self.substitute))

    def _funding(self, shared: SharedPass, event: ev.Funding, key: str | None) -> None:
        state = self.state
        holders = sorted(name for name in self.diverged
                         if (position := state.account(name).positions.get(event.market)) is not None
                         and position.size != 0)
        if holders or not self.diverged.isdisjoint(shared.paid):
            # a diverged holder pays from its own state, or a diverged account paid in what happened (its position
            # there, not here): what happened's accounts and movements are not this world's, it pays the funding itself
            self.settle(shared, skip_current=True)
            apply(state, event)
            for name in holders:
                self._own.account_changed(state, name)
        else:
            self._take(shared, shared.paid)
            self._stamp(event)
        self._decide_on_price(shared, event, key)

    # -- the world's own engine ---------------------------------------------------------------------------------------
    def _decide_on_price(self, shared: SharedPass, event: ev.Mark | ev.Funding, key: str | None) -> None:
        state = self.state
        if state.rules is None or key is None:
            return
        if self._own_stale:
            self._own.rebuild(state, sorted(self.diverged))
            self._own_stale = False
        price = state.markets[event.market].price
        assert price is not None, "a mark or a funding gives its market a price"
        if self.diverged:  # the shared entries of diverged accounts are what happened's: theirs are this world's own
            ordered = sorted({name for name in shared.candidates[key] if name not in self.diverged}
                             | set(self._own.candidates(event.market, price)))
        else:
            ordered = shared.candidates[key]  # sorted by the index
        if not ordered:
            return
        self.settle(shared, skip_current=False)  # the engine reads the insurance fund, and folds what it decides
        made = on_price(state, event, self.substitute, accounts=ordered, policy=self.policy)
        self._record(shared, made)
        self._own.refresh(state, [name for name in ordered if name in self.diverged])

    def _record(self, shared: SharedPass, made: Iterable[ev.EngineEvent]) -> None:
        for engine_event in made:
            self._made(self.state, engine_event)
            self._diverge(shared, ev.accounts_of(engine_event), moved=True)

    def _diverge(self, shared: SharedPass, accounts: Iterable[str], *, moved: bool = False) -> None:
        """These accounts' states are this world's own from now on, indexed in its own index (and the pass is told:
        it journals no event of theirs); ``moved``: this world's engine just moved them, so an account that had
        diverged already is re-indexed too (a deleveraging fill of an account liquidated earlier changes its
        triggers)."""
        for name in accounts:
            if moved or name not in self.diverged:
                self.diverged.add(name)
                shared.diverged.add(name)
                if name in self.state.accounts:
                    self._own.account_changed(self.state, name)

    def _hand_over(self, shared: SharedPass, row: StoredEvent, event: ev.Event) -> None:
        """From ``event`` on, the full re-run (its state, settled, is exactly the full re-run's here)."""
        self.settle(shared, skip_current=True)
        self.handed_over = True
        self._handover(row, event)
