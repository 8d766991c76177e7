"""Balances as plain data (dicts of decimal strings), shaped by the contract.

``balances`` is the JSON that ``ledger balances --format json`` prints; the
table and CSV renderings in the CLI are built from the same rows
(``balance_rows``).

Perpetual account model: each position carries ``funding_paid``,
``margin_mode``, ``liquidation_price`` (exact in the decimal context, null
when no price can distress it or no rules are in force) and, when isolated,
``isolated_margin`` and ``isolated_equity``; an account's ``equity`` is the
total (cross equity plus every isolated equity), ``cross_equity`` beside it,
``isolated_margin`` every isolated margin by market (a margin parked before a
position opens included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from ledger.domain import events as ev
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.positions import unrealized_pnl
from ledger.domain.scales import EXACT, Figures
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.domain.valuation import cross_equity_by_asset, equity_by_asset, isolated_equity
from ledger.engine.allocation import quantiles_of
from ledger.engine.liquidation import liquidation_prices

__all__ = [
    "balances", "balance_rows", "statement_rows", "position_rows", "POSITION_COLUMNS", "STATEMENT_COLUMNS",
    "display_liquidation_price",
]

STATEMENT_COLUMNS = ["account", "asset", "balance"]
"""The reconcile statement's shape: a balances CSV can be reconciled back as it is."""
POSITION_COLUMNS = ["account", "market", "size", "entry_price", "mark_price", "unrealized_pnl", "realized_pnl",
                    "funding_paid", "margin_mode", "isolated_margin", "isolated_equity", "liquidation_price"]
"""One column per field of a position (``size`` first after the keys: the reconcile statement of positions)."""

def display_liquidation_price(position: dict[str, Any], market: str, figures: Figures) -> str:
    """A position's liquidation price at ``figures``' price scale of ``market``, rounded toward the side that
    liquidates earlier (up for a long, down for a short); '-' when there is none."""
    price = position.get("liquidation_price")
    if price is None:
        return "-"
    return figures.price(price, market, ROUND_CEILING if Decimal(position["size"]) > 0 else ROUND_FLOOR)


def _position(state: LedgerState, name: str, market: str, price: Decimal | None) -> dict[str, Any]:
    acct = state.accounts[name]
    position, info = acct.positions[market], state.markets[market]
    out = {
        "size": to_str(position.size),
        "entry_price": to_str(position.entry_price),
        "mark_price": to_str(info.price) if info.price is not None else None,
        "unrealized_pnl": to_str(unrealized_pnl(position, info.price)),
        "realized_pnl": to_str(position.realized_pnl),
        "funding_paid": to_str(position.funding_paid),
        "margin_mode": ev.ISOLATED if acct.is_isolated(market) else ev.CROSS,
        "liquidation_price": None if price is None else to_str(price),
    }
    if acct.is_isolated(market):
        out["isolated_margin"] = to_str(acct.isolated[market])
        out["isolated_equity"] = to_str(isolated_equity(state, acct, market))
    return out


def _single(by_asset: dict[str, Decimal]) -> str | None:
    """The one asset's figure (the contract's ``equity`` is a single number), None for several assets."""
    return to_str(next(iter(by_asset.values()), ZERO)) if len(by_asset) <= 1 else None


def _account(state: LedgerState, name: str, queues: Queues | None) -> dict[str, Any]:
    acct = state.accounts[name]
    prices = liquidation_prices(state, name, state.rules)
    positions = {market: _position(state, name, market, prices.get(market)) for market in sorted(acct.positions)}
    if queues is not None:  # a loss-allocation policy is in force: its queue place, or null (no queue, not eligible)
        for market, position in positions.items():
            position["adl_quantile"] = queues.get(market, {}).get(name)
    equities, cross = equity_by_asset(state, acct), cross_equity_by_asset(state, acct)
    out: dict[str, Any] = {
        "cash": {asset: to_str(amount) for asset, amount in sorted(acct.cash.items())},
        "positions": positions,
        "equity": _single(equities),
        "equity_by_asset": {asset: to_str(value) for asset, value in equities.items()},
        "cross_equity": _single(cross),
        "cross_equity_by_asset": {asset: to_str(value) for asset, value in cross.items()},
        "isolated_margin": {market: to_str(amount) for market, amount in sorted(acct.isolated.items())},
        "fees_paid": {asset: to_str(value) for asset, value in sorted(acct.fees_paid.items())},
    }
    return out


Queues = Mapping[str, Mapping[str, int]]
"""market -> account -> its place in the ADL queue of its side (1 first to 5)."""


def adl_queues(state: LedgerState, markets: Iterable[str] | None = None) -> Queues | None:
    """Every open position's ADL quantile under the loss-allocation policy in force (``engine.allocation``), per
    market; None when no policy was ever activated (the report then has no such field, as before)."""
    if state.loss_allocation is None:
        return None
    out: dict[str, dict[str, int]] = {}
    with arithmetic():
        for market in sorted(state.markets) if markets is None else markets:
            out[market] = {account: place for (account, _), place in quantiles_of(state, market).items()}
    return out


def balances(
    state: LedgerState, account: str | None = None, *, system: bool = True, as_of: datetime | None = None,
    queues: Queues | None = None,
) -> dict[str, Any]:
    """``{"as_of", "seq", "accounts": {...}, "system": {...}}`` per the contract.

    ``system=False`` leaves the system balances out, for a state that holds one
    account only (``Ledger.account``) and so cannot know them. ``as_of``: the
    time asked for, when the state was cut there (else the last event's time).
    """
    names = sorted(state.accounts) if account is None else [a for a in [account] if a in state.accounts]
    if queues is None:
        queues = adl_queues(state)
    with arithmetic():
        accounts = {name: _account(state, name, queues) for name in names}
    report: dict[str, Any] = {
        "as_of": format_time(as_of) if as_of else format_time(state.last_at) if state.last_at else None,
        "seq": state.seq,
        "accounts": accounts,
        "settle_assets": {market: info.settle_asset for market, info in sorted(state.markets.items())},
    }
    if system:
        report["system"] = {
            name: {asset: to_str(amount) for asset, amount in sorted(balances.items())}
            for name, balances in sorted(state.system.items())
        }
    return report


def statement_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Every balance as the reconcile statement lists it: cross cash, ``NAME@MARKET`` isolated margins, ``system:NAME``."""
    rows = []
    for name, acct in report["accounts"].items():
        rows += [{"account": name, "asset": asset, "balance": amount} for asset, amount in acct["cash"].items()]
        for market, amount in acct["isolated_margin"].items():
            rows.append({"account": f"{name}@{market}", "asset": report["settle_assets"][market], "balance": amount})
    for name, balances_ in report.get("system", {}).items():
        rows += [{"account": f"system:{name}", "asset": asset, "balance": amount} for asset, amount in balances_.items()]
    return rows


_POSITION_MONEY = ("unrealized_pnl", "realized_pnl", "funding_paid", "isolated_margin", "isolated_equity")
_POSITION_PRICES = ("entry_price", "mark_price")


def position_rows(report: dict[str, Any], figures: Figures = EXACT) -> list[dict[str, str | None]]:
    """Every position, one column per field (``POSITION_COLUMNS``): exact, or at ``figures``' scales for a table."""
    rows = []
    for name, acct in report["accounts"].items():
        for market, position in acct["positions"].items():
            row: dict[str, str | None] = {"account": name, "market": market,
                                          **{c: position.get(c) for c in POSITION_COLUMNS[2:]}}
            if figures is not EXACT:
                asset = report["settle_assets"][market]
                row["size"] = figures.quantity(position["size"], market)
                row.update({c: figures.price(position[c], market) for c in _POSITION_PRICES if position.get(c) is not None})
                row.update({c: figures.money(position[c], asset) for c in _POSITION_MONEY if position.get(c) is not None})
                row["liquidation_price"] = None if position.get("liquidation_price") is None else \
                    display_liquidation_price(position, market, figures)
            rows.append(row)
    return rows


def balance_rows(report: dict[str, Any], figures: Figures = EXACT) -> list[dict[str, str]]:
    """Flat rows (one per account, asset or market) for a table: each figure at ``figures``' scale of its asset or market."""
    settle, f = report["settle_assets"], figures
    rows = []
    for name, acct in report["accounts"].items():
        for asset, amount in acct["cash"].items():
            rows.append({"book": "user", "account": name, "item": f"cash {asset}", "amount": f.money(amount, asset),
                         "detail": ""})
        for market, p in acct["positions"].items():
            asset = settle[market]
            mark = "-" if p["mark_price"] is None else f.price(p["mark_price"], market)
            detail = (f"entry {f.price(p['entry_price'], market)} mark {mark} "
                      f"upnl {f.money(p['unrealized_pnl'], asset)} rpnl {f.money(p['realized_pnl'], asset)} "
                      f"funding {f.money(p['funding_paid'], asset)} {p['margin_mode']} "
                      f"liq {display_liquidation_price(p, market, f)}")
            rows.append({"book": "user", "account": name, "item": f"position {market}",
                         "amount": f.quantity(p["size"], market), "detail": detail})
        for market, amount in acct["isolated_margin"].items():
            position, asset = acct["positions"].get(market, {}), settle[market]
            detail = f"isolated equity {f.money(position.get('isolated_equity', amount), asset)}"
            rows.append({"book": "user", "account": name, "item": f"isolated margin {market}",
                         "amount": f.money(amount, asset), "detail": detail})
        for asset, value in acct["equity_by_asset"].items():
            rows.append({"book": "user", "account": name, "item": f"equity {asset}", "amount": f.money(value, asset),
                         "detail": ""})
    for name, balances_ in report.get("system", {}).items():
        for asset, amount in balances_.items():
            rows.append({"book": "system", "account": name, "item": f"cash {asset}", "amount": f.money(amount, asset),
                         "detail": ""})
    return rows
