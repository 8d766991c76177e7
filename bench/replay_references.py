"""A reference for the full replay: how far the plainest fold gets.

``plainest_fold`` loops over the same SQLite rows as the replay, beside the
plain loop in the same run (``bench.run``). It keeps everything the replay's
state holds for the benchmark's kinds (each account's cash, fees paid and
positions with entry price and realized PnL; each market's prices; the system
books) in the plainest structures (flat dicts keyed by tuples), frozen into
``AccountState`` values once at the end. ``matches`` checks it reached the
replay's figures, so it does the replay's work and no less. The collector is
paused, as the replay's own fold pauses it.

It is not a floor: the replay's fold beats it (its working copies are laid
out for it). The ceiling, what the replay's required parts cost alone, is
``bench.replay_parts``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
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
    return freeze(grouped(cash, positions, fees_paid))


Grouped = dict[str, tuple[dict[str, Decimal], dict[str, Sequence[Decimal]], dict[str, Decimal]]]
"""Account -> (cash by asset, position figures (size, entry, realized) by market, fees paid by asset)."""


def grouped(
    cash: dict[tuple[str, str], Decimal], positions: Mapping[tuple[str, str], Sequence[Decimal]],
    fees_paid: dict[tuple[str, str], Decimal],
) -> Grouped:
    """Figures kept flat, keyed by (account, asset or market), grouped by account."""
    by_account: Grouped = {}
    for (account, asset), amount in cash.items():
        by_account.setdefault(account, ({}, {}, {}))[0][asset] = amount
    for (account, market), figures in positions.items():
        by_account.setdefault(account, ({}, {}, {}))[1][market] = figures
    for (account, asset), paid in fees_paid.items():
        by_account.setdefault(account, ({}, {}, {}))[2][asset] = paid
    return by_account


def freeze(by_account: Grouped) -> dict[str, AccountState]:
    """The accounts as the frozen values the ledger reads: an ``AccountState`` each, a ``Position`` per market."""
    return {
        name: AccountState(name, MappingProxyType(c),
                           MappingProxyType({market: Position(*figures) for market, figures in p.items()}),
                           MappingProxyType(f))
        for name, (c, p, f) in by_account.items()
    }


def matches(folded: dict[str, AccountState], state: LedgerState) -> bool:
    """``plainest_fold`` reached the replay's figures: every account's cash, positions and fees paid, value for value."""
    return folded.keys() == state.accounts.keys() and all(
        dict(a.cash) == dict(state.accounts[n].cash) and dict(a.positions) == dict(state.accounts[n].positions)
        and dict(a.fees_paid) == dict(state.accounts[n].fees_paid) for n, a in folded.items()
    )
