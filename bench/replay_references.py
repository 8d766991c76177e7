"""Two references for the full replay: how far the plainest fold, and the bare arithmetic, get.

Two loops over the same SQLite rows, each beside the plain loop in the same
run (``bench.run``), to say where the replay's gap to its target lies:

- ``plainest_fold``: everything the replay's state holds for the benchmark's
  kinds (each account's cash, fees paid and positions with entry price and
  realized PnL; each market's prices; the system books), kept in the plainest
  structures (flat dicts keyed by tuples), frozen into ``AccountState`` values
  once at the end. ``matches`` checks it reached the replay's figures, so it
  does the replay's work and no less. The collector is paused, as the
  replay's own fold pauses it.
- ``trade_arithmetic``: only the reading, the decoding and each trade's
  arithmetic (the fill with its rounded average entry price, and the five
  bookings), on operands gathered beforehand: no state kept at all.

Neither is a floor: the replay's fold beats the first (its working copies are
laid out for it). Together they say that the arithmetic fits the target and
the state keeping (10,000 accounts, each trade touching a random one) is what
does not.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal, localcontext
from types import MappingProxyType

import orjson

from ledger.domain.money import CONTEXT, ZERO
from ledger.domain.positions import fill
from ledger.domain.state import AccountState, LedgerState, Position
from ledger.replay.fast_fold import collector_paused

_SQL = "SELECT seq, type, schema_version, payload FROM events ORDER BY seq"
_SKIPPED = frozenset({"rules_activated"})
"""Kinds of the benchmark mix that move no figure of the state kept here."""


def plainest_fold(path: str) -> dict[str, AccountState]:
    with collector_paused():
        return _plainest_fold(path)


def _plainest_fold(path: str) -> dict[str, AccountState]:
    cash: dict[tuple[str, str], Decimal] = {}
    fees_paid: dict[tuple[str, str], Decimal] = {}
    positions: dict[tuple[str, str], list[Decimal]] = {}
    system: dict[tuple[str, str], Decimal] = {}
    settle: dict[str, str] = {}
    marks: dict[str, Decimal] = {}
    last_trade: dict[str, Decimal] = {}
    loads = orjson.loads
    with localcontext(CONTEXT):
        for _seq, kind, _version, payload in sqlite3.connect(path).execute(_SQL):
            body = loads(payload)
            if kind == "trade":
                account, market = body["account"], body["market"]
                position = positions.get((account, market))
                if position is None:
                    position = positions[account, market] = [ZERO, ZERO, ZERO]
                qty, price, fee = Decimal(body["qty"]), Decimal(body["price"]), Decimal(body["fee"])
                position[0], position[1], realized = fill(position[0], position[1], body["side"], qty, price)
                last_trade[market] = price
                asset = settle[market]
                delta = -fee
                if realized is not None:
                    position[2] += realized
                    delta += realized
                    system["clearing", asset] = system.get(("clearing", asset), ZERO) - realized
                cash[account, asset] = cash.get((account, asset), ZERO) + delta
                fees_paid[account, asset] = fees_paid.get((account, asset), ZERO) + fee
                system["fees", asset] = system.get(("fees", asset), ZERO) + fee
            elif kind == "deposit":
                account, asset, amount = body["account"], body["asset"], Decimal(body["amount"])
                cash[account, asset] = cash.get((account, asset), ZERO) + amount
                system["external", asset] = system.get(("external", asset), ZERO) - amount
            elif kind == "mark":
                marks[body["market"]] = Decimal(body["price"])
            elif kind == "market_listed":
                settle[body["market"]] = body["settle_asset"]
            elif kind not in _SKIPPED:
                raise ValueError(f"{kind}: not in the benchmark's mix, which this reference folds")
    frozen: dict[str, tuple[dict, dict, dict]] = {}
    for (account, asset), amount in cash.items():
        frozen.setdefault(account, ({}, {}, {}))[0][asset] = amount
    for (account, market), (size, entry, realized) in positions.items():
        frozen.setdefault(account, ({}, {}, {}))[1][market] = Position(size, entry, realized)
    for (account, asset), paid in fees_paid.items():
        frozen.setdefault(account, ({}, {}, {}))[2][asset] = paid
    return {name: AccountState(name, MappingProxyType(c), MappingProxyType(p), MappingProxyType(f))
            for name, (c, p, f) in frozen.items()}


def matches(folded: dict[str, AccountState], state: LedgerState) -> bool:
    """``plainest_fold`` reached the replay's figures: every account's cash, positions and fees paid, value for value."""
    return folded.keys() == state.accounts.keys() and all(
        dict(a.cash) == dict(state.accounts[n].cash) and dict(a.positions) == dict(state.accounts[n].positions)
        and dict(a.fees_paid) == dict(state.accounts[n].fees_paid) for n, a in folded.items()
    )


def trade_operands(path: str) -> list[tuple[Decimal, Decimal, str, str, str, str]]:
    """(size and entry before, side, qty, price and fee texts) of every trade, gathered by a fold (not timed)."""
    held: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    operands = []
    with localcontext(CONTEXT):
        for _seq, kind, _version, payload in sqlite3.connect(path).execute(_SQL):
            if kind == "trade":
                body = orjson.loads(payload)
                key = (body["account"], body["market"])
                size, entry = held.get(key, (ZERO, ZERO))
                operands.append((size, entry, body["side"], body["qty"], body["price"], body["fee"]))
                size, entry, _ = fill(size, entry, body["side"], Decimal(body["qty"]), Decimal(body["price"]))
                held[key] = (size, entry)
    return operands


def trade_arithmetic(path: str, operands: list[tuple[Decimal, Decimal, str, str, str, str]]) -> None:
    loads = orjson.loads
    for row in sqlite3.connect(path).execute(_SQL):
        loads(row[3])
    balance = ZERO
    with localcontext(CONTEXT):
        for size, entry, side, qty_text, price_text, fee_text in operands:
            qty, price, fee = Decimal(qty_text), Decimal(price_text), Decimal(fee_text)
            _size, _entry, realized = fill(size, entry, side, qty, price)
            realized = ZERO if realized is None else realized
            _ = balance + realized, balance + -realized, balance + fee, balance + fee  # realized PnL, clearing, fees twice
            _ = balance + ((ZERO + realized) + -fee)  # the cash
