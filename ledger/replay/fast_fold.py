"""The replay fast path: fold stored rows into state without building event objects.

Replaying the log is the ledger's hottest loop (every ``balances``, every
as-of, every cold start). The reference fold (``ledger.domain.fold.apply``)
builds a frozen event, its postings and new frozen account values for each
event. Here the four everyday kinds (deposit, withdrawal, trade, mark) are
folded straight from the stored JSON into mutable working copies of the
accounts and markets they touch; the copies are frozen back into the
``LedgerState`` when the batch ends. Every other kind (listings, rule
activations, funding, margin modes and isolated margin, liquidations,
bankruptcies: rare, and where the invariants are subtle) first writes the
working copies back, then goes through the reference fold itself; so does a
trade in a market its account margins isolated (its fill settles against the
isolated margin). Stored rows of an older schema version also go the reference
way, through the upcasters.

Same arithmetic in the same order (``positions.fill`` is shared, and each sum
is formed exactly as ``fold._book`` forms it), so the result equals the
reference fold value for value and digit for digit: tests compare the
``dump_state`` texts of both on generated histories and the shared vectors,
and the audit compares them on the real log. Postings balance by
construction here (every amount booked to a user is booked, negated, to a
system account); the trial balance is asserted when the fold ends.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal, localcontext
from sys import intern
from types import MappingProxyType
from typing import Any

import orjson

from ledger.domain.codec import SCHEMA_VERSION, SCHEMA_VERSIONS, decode_stored
from ledger.domain.fold import apply
from ledger.domain.money import CONTEXT, ZERO
from ledger.domain.positions import fill, funding_carried
from ledger.domain.postings import UnbalancedPostings, trial_balance
from ledger.domain.state import CLEARING, EXTERNAL, FEES, AccountState, LedgerState, MarketState, Position
from ledger.domain.timefmt import stored_time

__all__ = ["fold_rows", "HOT_TYPES", "collector_paused"]

HOT_TYPES = frozenset({"deposit", "withdrawal", "trade", "mark"})
"""The kinds folded here; every other kind goes through the reference fold."""

_HOT_SHAPE = SCHEMA_VERSION
"""Only rows stored in the current payload shape take the fast path; older ones are upcast by the reference way."""
assert all(SCHEMA_VERSIONS[kind] == _HOT_SHAPE for kind in HOT_TYPES), "a hot kind changed shape: teach its folder"

_DECIMAL_CACHE = 4096
"""Most distinct quantity and fee texts whose ``Decimal`` is kept for reuse."""

Row = tuple[int, str, int, str]
"""(seq, type, schema_version, payload), as ``EventStore.read_batches`` yields them."""

Identify = Callable[[Sequence[int]], Mapping[int, tuple[str, str]]]
"""``seq -> (event_id, at)`` for the rows asked (``EventStore.identities``)."""


_MARKET_FIELDS = 6
"""A working market is MarketState's fields, in order, then its settle asset's cash and fee slots."""


class _Slot:
    """The key of an account's cash, or fees paid, in one asset, inside its working dict.

    One object per (kind, asset), compared by identity: a lookup reads no
    string, and no key can collide with a market's name (positions are keyed
    by the market's name, one interned string per market).
    """

    __slots__ = ("asset", "fees")

    def __init__(self, fees: bool, asset: str) -> None:
        self.fees, self.asset = fees, asset


_ISOLATED = object()
"""The key under which a working account keeps its (unchanged) isolated margins: no hot event moves them."""


class _Working:
    """Mutable copies of the accounts and markets touched since the last write-back.

    Each account is one dict holding all it has: its positions (by market)
    and its cash and fees paid (by ``_Slot``). At 10,000 accounts the fold
    waits on memory more than it computes; one dict per account, with keys
    compared by identity, makes a trade touch about half as many scattered
    objects as three dicts per account did (measured: ~10% less time a row).
    """

    def __init__(self, state: LedgerState) -> None:
        self.state = state
        self.accounts: dict[str, dict[Any, Any]] = {}
        """name -> {market: [size, entry, realized, funding paid], _Slot: cash or fees paid, _ISOLATED: margins},
        in the reference fold's orders"""
        self.markets: dict[str, list[Any]] = {}
        """name -> a working market (``_MARKET_FIELDS``)"""
        self.slots: dict[tuple[bool, str], _Slot] = {}

    def slot(self, fees: bool, asset: str) -> _Slot:
        found = self.slots.get((fees, asset))
        if found is None:
            found = self.slots[fees, asset] = _Slot(fees, asset)
        return found

    def account(self, name: str) -> dict[Any, Any]:
        working = self.accounts.get(name)
        if working is not None:  # thawed, and still empty
            return working
        working = self.accounts[name] = {}
        frozen = self.state.accounts.get(name)
        if frozen is not None:  # each map's own order is kept: cash, positions and fees never share a key
            for asset, amount in frozen.cash.items():
                working[self.slot(False, asset)] = amount
            for market, p in frozen.positions.items():
                working[intern(market)] = [p.size, p.entry_price, p.realized_pnl, p.funding_paid]
            for asset, paid in frozen.fees_paid.items():
                working[self.slot(True, asset)] = paid
            if frozen.isolated:
                working[_ISOLATED] = frozen.isolated
        return working

    def market(self, name: str) -> list[Any]:
        m = self.state.markets[name]
        working = self.markets[name] = [
            intern(m.market), m.settle_asset, m.lot_size, m.listed_by, m.mark_price, m.last_trade_price,
            self.slot(False, m.settle_asset), self.slot(True, m.settle_asset),
        ]
        return working

    def write_back(self, last: int, count: int, identity: tuple[str, str] | None = None) -> None:
        """Freeze the working copies into the state (new accounts keep first-touch order).

        ``last`` is the seq of the last row folded here since the previous
        write-back (0 if none), ``count`` how many were; the state's position
        in the log moves to it. Its ``identity`` (event id, time) is needed
        only where the fold ends: before a rare row, the reference fold sets
        the position again at once.
        """
        state = self.state
        for name, working in self.accounts.items():
            isolated = working.pop(_ISOLATED, None)
            cash: dict[str, Decimal] = {}
            positions: dict[str, Any] = {}
            fees: dict[str, Decimal] = {}
            for key, value in working.items():
                if key.__class__ is _Slot:
                    (fees if key.fees else cash)[key.asset] = value
                else:
                    positions[key] = Position(*value)
            state.accounts[name] = AccountState(
                name, MappingProxyType(cash), MappingProxyType(positions), MappingProxyType(fees),
                *(() if isolated is None else (isolated,)),
            )
        for name, fields in self.markets.items():
            state.markets[name] = MarketState(*fields[:_MARKET_FIELDS])
        self.accounts.clear()
        self.markets.clear()
        if last:
            state.seq = last
            state.events_applied += count
        if identity is not None:
            state.last_event_id, at = identity
            state.last_at = stored_time(at)


def _folders(work: _Working) -> dict[str, Callable[[dict[str, Any]], bool | None]]:
    """One folder per hot kind, closed over the working tables (this loop runs a million times).

    Each mirrors its applier in ``ledger.domain.fold`` step for step: the same
    postings, summed in the same order, so even the exponents of the results
    agree (``1000000.00``, not ``1000000``). A folder returns False, having
    changed nothing, for a row it leaves to the reference fold.
    """
    accounts, markets, slot = work.accounts, work.markets, work.slot
    system = work.state.system
    external, clearing, collected = system[EXTERNAL], system[CLEARING], system[FEES]
    decimals: dict[str, Decimal] = {}

    def repeated(text: str) -> Decimal:
        """``Decimal(text)`` for texts that repeat (lot-sized quantities, flat fees), from a bounded cache."""
        value = decimals.get(text)
        if value is None:
            value = Decimal(text)
            if len(decimals) < _DECIMAL_CACHE:
                decimals[text] = value
        return value

    def deposit(body: dict[str, Any]) -> None:
        amount, asset, name = Decimal(body["amount"]), body["asset"], body["account"]
        working, key = accounts.get(name) or work.account(name), slot(False, asset)
        working[key] = working.get(key, ZERO) + (ZERO + amount)
        external[asset] = external.get(asset, ZERO) + -amount

    def withdrawal(body: dict[str, Any]) -> None:
        amount, asset, name = Decimal(body["amount"]), body["asset"], body["account"]
        working, key = accounts.get(name) or work.account(name), slot(False, asset)
        working[key] = working.get(key, ZERO) + (ZERO + -amount)
        external[asset] = external.get(asset, ZERO) + amount

    def trade(body: dict[str, Any]) -> bool | None:
        name, market_name, qty_text, fee_text = body["account"], body["market"], body["qty"], body["fee"]
        working = accounts.get(name) or work.account(name)
        isolated = working.get(_ISOLATED)
        if isolated is not None and market_name in isolated:
            return False  # settles against an isolated margin: the reference fold's
        qty = decimals.get(qty_text) or repeated(qty_text)
        fee = decimals.get(fee_text) or repeated(fee_text)
        price = Decimal(body["price"])
        market = markets.get(market_name) or work.market(market_name)
        asset = market[1]
        position = working.get(market[0])
        if position is None:
            position = working[market[0]] = [ZERO, ZERO, ZERO, ZERO]
        before = position[0]
        position[0], position[1], realized = fill(before, position[1], body["side"], qty, price)
        if position[3] is not ZERO:  # ZERO carries as ZERO: nothing to decide for a position that never paid funding
            position[3] = funding_carried(before, position[0], position[3])
        market[5] = price
        if realized is None:  # the fill grew the position: the reference books a realized ZERO; -ZERO is ZERO here
            clearing[asset] = clearing.get(asset, ZERO) + ZERO
            delta = ZERO
        else:
            position[2] = position[2] + realized
            clearing[asset] = clearing.get(asset, ZERO) + -realized
            delta = ZERO + realized
        if fee:
            key = market[7]
            working[key] = working.get(key, ZERO) + fee
            delta = delta + -fee
            collected[asset] = collected.get(asset, ZERO) + fee
        key = market[6]
        if delta != 0 or key not in working:
            working[key] = working.get(key, ZERO) + delta
        return None

    def mark(body: dict[str, Any]) -> None:
        market_name = body["market"]
        (markets.get(market_name) or work.market(market_name))[4] = Decimal(body["price"])

    folders: dict[str, Callable[[dict[str, Any]], bool | None]] = {
        "deposit": deposit, "withdrawal": withdrawal, "trade": trade, "mark": mark,
    }
    assert frozenset(folders) == HOT_TYPES
    return folders


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the fold (restored after, even on error).

    The fold allocates containers by the hundred thousand (working accounts,
    positions, frozen states) and makes no reference cycles; each allocation
    burst otherwise sets the collector walking a heap that only grows (measured
    on 100,000 events: 6-7% of the replay). Reference counting still frees
    everything the fold drops.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold_rows(
    state: LedgerState, batches: Iterable[Sequence[Row]], identify: Identify, progress: Callable[[int], None] | None = None
) -> LedgerState:
    """Fold stored rows, in sequence order, into ``state`` (in place) and return it.

    Rows come without their event id and time; ``identify`` is asked for
    those of the rows that need them: every rare row (its event is decoded
    whole), once per batch that holds any, and the last row folded.
    """
    work = _Working(state)
    folders, loads, hot_shape = _folders(work), orjson.loads, _HOT_SHAPE
    last, count = 0, 0  # the last hot row folded since the last write-back (its seq), and how many were
    with localcontext(CONTEXT), collector_paused():
        for rows in batches:
            rare = None  # this batch's rare rows' identities, asked at the first of them
            for seq, kind, version, payload in rows:
                folder = folders.get(kind) if version == hot_shape else None
                if folder is None:
                    if rare is None:
                        rare = identify([r[0] for r in rows if r[2] != hot_shape or r[1] not in folders])
                    work.write_back(last, count)
                    last, count = 0, 0
                    event_id, at = rare[seq]
                    apply(state, decode_stored(kind, version, event_id, at, payload), seq)
                elif folder(loads(payload)) is False:
                    work.write_back(last, count)
                    last, count = 0, 0
                    event_id, at = identify([seq])[seq]
                    apply(state, decode_stored(kind, version, event_id, at, payload), seq)
                else:
                    last = seq
                    count += 1
            if progress is not None:
                progress(len(rows))
        work.write_back(last, count, identify([last])[last] if last else None)
    unbalanced = {asset: total for asset, total in trial_balance(state).items() if total != 0}
    if unbalanced:
        raise UnbalancedPostings(f"replay to seq {state.seq}: the trial balance is not zero: {unbalanced}")
    return state
