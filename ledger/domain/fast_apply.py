"""The write paths' fold of the everyday kinds: the reference fold's new state, without forming its postings.

An append folds each new event and then lets the engine decide on the state;
so does each what-if world. The reference fold (``fold.apply``) forms every
event's postings, checks that they balance and books them: that is the
definition, and the audit re-derives every stored event with it. For the
four kinds that make up nearly every log (deposit, withdrawal, trade, mark)
this module forms the same new account, market and system values directly,
each sum formed exactly as ``fold._book`` forms it (``ZERO + amount``, then
the fee), so they agree with the reference fold digit for digit and exponent
for exponent. Every other kind, and a fill in a market its account margins
isolated (whose postings go to the isolated margin), is handed to the
reference fold. Postings balance by construction: each amount booked to an
account is booked, negated, to a system account. What it does return is the
event's system movements, as the reference postings would carry them: a
what-if pass hands them to its worlds (``compliance.differential``).

Proven equal to the reference fold by properties over generated histories
(``tests/test_fast_apply.py``: the dumped states after every event, every
version, isolated margin and funding included) and, on the real log, by the
audit, which re-derives what the appends stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from ledger.domain import events as ev
from ledger.domain.fold import APPLIERS, apply
from ledger.domain.money import ZERO, arithmetic
from ledger.domain.positions import apply_fill
from ledger.domain.state import (
    CLEARING,
    EXTERNAL,
    FEES,
    AccountState,
    LedgerState,
    MarketState,
    Position,
    plain_copy,
)

__all__ = ["Move", "apply_fast"]

Move = tuple[str, str, Decimal]
"""A system movement: (system account, asset, signed amount), as a posting to the system book carries it."""


def apply_fast(state: LedgerState, event: ev.Event, seq: int | None = None) -> list[Move]:
    """Fold one event into ``state`` (in place), as ``fold.apply`` would, and return its system movements, in the
    order of the reference fold's system postings (its postings themselves are not formed)."""
    with arithmetic():
        if isinstance(event, ev.Trade):
            moves = _trade(state, event)
            if moves is None:
                return _reference(state, event, seq)
        elif isinstance(event, ev.Mark):
            APPLIERS[ev.Mark](state, event)  # a mark books nothing: its reference applier is all it does
            moves = []
        elif isinstance(event, ev.Deposit):
            moves = _cash(state, event.account, event.asset, event.amount, -event.amount)
        elif isinstance(event, ev.Withdrawal):
            moves = _cash(state, event.account, event.asset, -event.amount, event.amount)
        else:
            return _reference(state, event, seq)
    state.seq = seq if seq is not None else state.seq + 1
    state.last_at = event.at
    state.last_event_id = event.id
    state.events_applied += 1
    return moves


def _reference(state: LedgerState, event: ev.Event, seq: int | None) -> list[Move]:
    return [(p.account, p.asset, p.amount) for p in apply(state, event, seq) if p.book == "system"]


def _cash(state: LedgerState, account: str, asset: str, to_account: Decimal, to_world: Decimal) -> list[Move]:
    """A deposit or a withdrawal: ``to_account`` to the account's cross cash, ``to_world`` to the outside world (the
    two postings' amounts, each formed as the reference fold forms it)."""
    current = state.account(account)
    delta = ZERO + to_account  # as _book sums a posting onto nothing
    if delta != 0 or asset not in current.cash:
        state.accounts[account] = current.with_cash_deltas({asset: delta})
    external = state.system[EXTERNAL]
    external[asset] = external.get(asset, ZERO) + to_world
    return [(EXTERNAL, asset, to_world)]


def _trade(state: LedgerState, event: ev.Trade) -> list[Move] | None:
    """A fill of a cross position; None, having changed nothing, for a market the account margins isolated.

    The account's new value is formed once, its position, fees and cash together (``AccountState.with_position``,
    ``with_fee`` and ``with_cash_deltas`` in a row formed three, each a copy: measured, 14% of this fold)."""
    current = state.account(event.account)
    if current.is_isolated(event.market):
        return None
    market = state.markets[event.market]
    asset = market.settle_asset
    positions = plain_copy(current.positions)
    positions[event.market], realized = apply_fill(positions.get(event.market) or Position(), event.side, event.qty,
                                                   event.price)
    state.markets[event.market] = MarketState(
        market.market, market.settle_asset, market.lot_size, market.listed_by, market.mark_price, event.price
    )
    delta = ZERO + realized
    to_clearing = -realized
    clearing = state.system[CLEARING]
    clearing[asset] = clearing.get(asset, ZERO) + to_clearing
    moves = [(CLEARING, asset, to_clearing)]
    fees_paid = current.fees_paid
    if event.fee:
        fees_paid = _plus(fees_paid, asset, event.fee)
        delta = delta + -event.fee
        fees = state.system[FEES]
        fees[asset] = fees.get(asset, ZERO) + event.fee
        moves.append((FEES, asset, event.fee))
    cash = current.cash
    if delta != 0 or asset not in cash:
        cash = _plus(cash, asset, delta)
    state.accounts[event.account] = AccountState(current.name, cash, MappingProxyType(positions), fees_paid,
                                                 current.isolated)
    return moves


def _plus(balances: Mapping[str, Decimal], asset: str, amount: Decimal) -> Mapping[str, Decimal]:
    """A copy of ``balances`` with ``amount`` added to ``asset``'s, summed as ``AccountState.with_cash_deltas`` and
    ``with_fee`` sum it (onto ``ZERO`` for an asset it does not hold yet)."""
    copied = plain_copy(balances)
    copied[asset] = copied.get(asset, ZERO) + amount
    return MappingProxyType(copied)
