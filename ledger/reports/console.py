"""Read models of the web console (``ledger serve``) beyond what the CLI prints: risk per account, open interest, the
insurance fund over time, a market's marks and funding.

Each is plain data of decimal strings, shaped from what the other read models
already give (the balances report, the engine's records, a market's streams):

- ``risk_rows``: per account, its equity, its maintenance margin under the
  rules in force (the cross scope plus each isolated position, in its settle
  asset, as ``timeline`` samples it), the *margin ratio* (maintenance / equity:
  at 1 or more the account is distressed) and the *distance to liquidation*
  (the nearest open position's |mark - liquidation price| / mark). Both ratios
  are quotients, rounded half-even to ``RATIO_PLACES``; the figures they come
  from are exact.
- ``open_interest``: per market, the long and the short total (equal, every
  trade has two sides), the holders of each side, and the long notional at
  the mark.
- ``insurance_fund_series``: the fund per settle asset after each engine
  event that moved it (a liquidation's penalty in, a bankruptcy's cover out:
  the only postings to it), from the engine's records; its last point is the
  fund in the balances report (``tests/web`` checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, FloatOperation, InvalidOperation
from typing import Any

from ledger.domain import events as ev
from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.state import LedgerState
from ledger.engine.liquidation import account_view, isolated_view, version_in_force
from ledger.store import StoredEvent

__all__ = ["RATIO_PLACES", "RISK_COLUMNS", "risk_rows", "open_interest", "insurance_fund_series", "market_series",
           "positions_in_market"]

RATIO_PLACES = 8
"""Places a margin ratio or a distance to liquidation is given to (half-even): quotients seldom terminate."""

_RATIO_STEP = Decimal(1).scaleb(-RATIO_PLACES)
_RATIO_CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, FloatOperation])
"""A quotient is meant to be inexact: its own context (the ledger's traps an inexact result), then rounded."""

RISK_COLUMNS = ["account", "asset", "equity", "maintenance_margin", "margin_ratio", "distance_to_liquidation",
                "nearest_market", "open_positions"]
"""One row per account: its figures in its settle asset (an account in several assets has one row per asset)."""


def _quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """numerator / denominator, half-even at ``RATIO_PLACES``."""
    return _RATIO_CONTEXT.divide(numerator, denominator).quantize(_RATIO_STEP, context=_RATIO_CONTEXT)


def _ratio(numerator: Decimal, denominator: Decimal) -> str | None:
    """numerator / denominator at ``RATIO_PLACES``; None when the denominator (an equity) is not positive: no ratio
    measures an account with nothing left."""
    if denominator <= 0:
        return None
    return to_str(_quotient(numerator, denominator))


def _maintenance(state: LedgerState, name: str, asset: str) -> Decimal:
    """The account's maintenance margin in ``asset`` under the rules in force: its cross scope and each isolated
    position settled in it (zero with no rules in force)."""
    if state.rules is None:
        return ZERO
    acct = state.account(name)
    views = [account_view(state, name, asset)]
    views += [isolated_view(state, name, market) for market in sorted(acct.isolated)
              if state.markets[market].settle_asset == asset]
    version, params = version_in_force(state.rules)
    return sum((version.maintenance(view, params) for view in views), ZERO)


def _nearest(account: dict[str, Any], settle: dict[str, str], asset: str) -> tuple[str | None, str | None]:
    """(distance, market) of the open position nearest its liquidation price among those settled in ``asset``."""
    best: tuple[Decimal, str] | None = None
    for market, position in account["positions"].items():
        price, mark = position.get("liquidation_price"), position.get("mark_price")
        if settle.get(market) != asset or price is None or mark is None or Decimal(mark) <= 0:
            continue
        distance = _quotient(abs(Decimal(mark) - Decimal(price)), Decimal(mark))
        if best is None or distance < best[0]:
            best = (distance, market)
    if best is None:
        return None, None
    return to_str(best[0]), best[1]


def risk_rows(state: LedgerState, report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per account and settle asset of the balances ``report`` of ``state`` (see the module docstring)."""
    settle = report["settle_assets"]
    rows = []
    with arithmetic():
        for name, account in report["accounts"].items():
            for asset, value in account["equity_by_asset"].items() or [("USD", "0")]:
                maintenance = _maintenance(state, name, asset)
                distance, market = _nearest(account, settle, asset)
                rows.append({
                    "account": name, "asset": asset, "equity": value, "maintenance_margin": to_str(maintenance),
                    "margin_ratio": _ratio(maintenance, Decimal(value)),
                    "distance_to_liquidation": distance, "nearest_market": market,
                    "open_positions": sum(1 for m, p in account["positions"].items()
                                          if settle.get(m) == asset and Decimal(p["size"]) != 0),
                })
    return rows


def open_interest(state: LedgerState) -> list[dict[str, Any]]:
    """Per listed market: long and short totals, holders of each side, the last mark and the long notional at it."""
    rows = []
    with arithmetic():
        for market, info in sorted(state.markets.items()):
            sizes = [acct.positions[market].size for acct in state.accounts.values() if market in acct.positions]
            longs, shorts = [s for s in sizes if s > 0], [s for s in sizes if s < 0]
            total = sum(longs, ZERO)
            rows.append({
                "market": market, "settle_asset": info.settle_asset, "long": to_str(total),
                "short": to_str(-sum(shorts, ZERO)), "long_holders": len(longs), "short_holders": len(shorts),
                "mark": None if info.price is None else to_str(info.price),
                "notional": None if info.price is None else to_str(total * info.price),
            })
    return rows


def positions_in_market(report: dict[str, Any], market: str) -> list[dict[str, Any]]:
    """Every open position in ``market`` of the balances ``report``, largest first (by absolute size)."""
    rows = [{"account": name, **position} for name, account in report["accounts"].items()
            for m, position in account["positions"].items() if m == market and Decimal(position["size"]) != 0]
    return sorted(rows, key=lambda row: (-abs(Decimal(row["size"])), row["account"]))


def insurance_fund_series(liquidations: Sequence[dict[str, Any]], bankruptcies: Sequence[dict[str, Any]],
                          settle_assets: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Per settle asset, the fund after each liquidation (its penalty paid in) and bankruptcy (its cover paid out), in
    log order: ``{"USD": [{"seq", "at", "id", "change", "fund"}, ...]}`` (the fund starts at zero)."""
    moves = [(r["seq"], r["at"], r["id"], settle_assets[r["market"]], Decimal(r["penalty"])) for r in liquidations]
    moves += [(r["seq"], r["at"], r["id"], r["asset"], -Decimal(r["insurance_covered"])) for r in bankruptcies]
    series: dict[str, list[dict[str, Any]]] = {}
    funds: dict[str, Decimal] = {}
    with arithmetic():
        for seq, at, event_id, asset, change in sorted(moves, key=lambda move: move[0]):
            if change == 0:
                continue
            funds[asset] = funds.get(asset, ZERO) + change
            series.setdefault(asset, []).append({"seq": seq, "at": at, "id": event_id, "change": to_str(change),
                                                 "fund": to_str(funds[asset])})
    return series


def market_series(rows: Iterable[StoredEvent]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(marks, funding payments) of a market from its streams' rows: ``{"seq", "at", "id", "price"}`` and
    ``{"seq", "at", "id", "rate"}``, in log order."""
    marks, funding = [], []
    for row in rows:
        if row.type == ev.Mark.TYPE:
            marks.append({"seq": row.seq, "at": row.at, "id": row.event_id, "price": to_str(row.event_as(ev.Mark).price)})
        elif row.type == ev.Funding.TYPE:
            funding.append({"seq": row.seq, "at": row.at, "id": row.event_id,
                            "rate": to_str(row.event_as(ev.Funding).rate)})
    return marks, funding
