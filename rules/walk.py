"""The walk every version shares: close positions one at a time, then settle.

Positions are taken largest maintenance margin first (ties by market name).
Before each, the version says how much of it to close (``Chooser``); each close
happens at the mark, pays the penalty to the insurance fund (capped at the
equity left, so a penalty alone never makes an account negative), and records
the account's equity, maintenance margin and target before and after. When
every position is closed and equity is still negative, the deficit is a
bankruptcy: covered by the insurance fund as far as it goes, the rest a
socialized loss.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ledger.domain.money import ZERO, arithmetic
from rules import margin
from rules.base import AccountView, Bankruptcy, Close, Decision, Params, PositionView

__all__ = ["Chooser", "walk", "penalty", "split_deficit"]

Chooser = Callable[[PositionView, Decimal, Decimal, Params], "tuple[Decimal, Decimal | None, str] | None"]
"""(position, equity, maintenance, params) -> (qty, required_qty, reason), or None to stop."""


def penalty(qty: Decimal, price: Decimal, fee_rate: Decimal, equity_left: Decimal) -> Decimal:
    return min(fee_rate * qty * price, max(equity_left, ZERO))


def split_deficit(deficit: Decimal, fund: Decimal) -> Bankruptcy:
    covered = min(deficit, max(fund, ZERO))
    return Bankruptcy(deficit, fund, covered, deficit - covered)


def _order(account: AccountView, params: Params) -> list[PositionView]:
    open_positions = [p for p in account.positions if p.size != 0]
    return sorted(open_positions, key=lambda p: (-margin.position_maintenance(p, params), p.market))


def walk(account: AccountView, params: Params, insurance_fund: Decimal, choose: Chooser) -> Decision:
    with arithmetic():
        buffer = 1 + params.target_buffer
        equity, mm = margin.equity(account), margin.maintenance(account, params)
        closes: list[Close] = []
        remaining = {p.market: abs(p.size) for p in account.positions}
        for position in _order(account, params):
            choice = choose(position, equity, mm, params)
            if choice is None:
                break
            qty, required, reason = choice
            rate = params.markets[position.market].maintenance_margin_rate
            fee = penalty(qty, position.mark, params.liquidation_fee_rate, equity)
            after_equity, after_mm = equity - fee, mm - qty * position.mark * rate
            closes.append(
                Close(
                    market=position.market,
                    side="sell" if position.size > 0 else "buy",
                    qty=qty,
                    price=position.mark,
                    penalty=fee,
                    reason=reason,
                    equity_before=equity,
                    maintenance_before=mm,
                    target_before=buffer * mm,
                    equity_after=after_equity,
                    maintenance_after=after_mm,
                    target_after=buffer * after_mm,
                    required_qty=required,
                )
            )
            equity, mm = after_equity, after_mm
            remaining[position.market] -= qty
        bankruptcy = None
        if all(r == 0 for r in remaining.values()) and equity < 0:
            bankruptcy = split_deficit(-equity, insurance_fund)
        return Decision(tuple(closes), bankruptcy)
