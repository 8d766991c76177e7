"""The walk every version shares: close positions one at a time, then settle.

Positions are taken largest maintenance margin first (ties by market name),
by the version's own margin model (``MarginModel``: what a position's
maintenance is, and what the account's becomes after closing part of one).
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
from typing import Any, Protocol

from ledger.domain.money import ZERO, arithmetic
from rules.base import AccountView, Bankruptcy, Close, Decision, PositionView, equity

__all__ = ["Chooser", "MarginModel", "walk", "penalty", "split_deficit"]

Chooser = Callable[[PositionView, Decimal, Decimal, Any], "tuple[Decimal, Decimal | None, str] | None"]
"""(position, equity, maintenance, params) -> (qty, required_qty, reason), or None to stop."""


class MarginModel(Protocol):
    """What the walk needs of a version's margin model."""

    def maintenance(self, account: AccountView, params: Any) -> Decimal: ...

    def position_maintenance(self, position: PositionView, params: Any) -> Decimal: ...

    def maintenance_after_close(self, position: PositionView, qty: Decimal, maintenance: Decimal, params: Any) -> Decimal:
        """The account's maintenance margin once ``qty`` of ``position`` is closed at its mark."""


def penalty(qty: Decimal, price: Decimal, fee_rate: Decimal, equity_left: Decimal) -> Decimal:
    return min(fee_rate * qty * price, max(equity_left, ZERO))


def split_deficit(deficit: Decimal, fund: Decimal) -> Bankruptcy:
    covered = min(deficit, max(fund, ZERO))
    return Bankruptcy(deficit, fund, covered, deficit - covered)


def _order(account: AccountView, params: Any, model: MarginModel) -> list[PositionView]:
    open_positions = [p for p in account.positions if p.size != 0]
    return sorted(open_positions, key=lambda p: (-model.position_maintenance(p, params), p.market))


def walk(
    account: AccountView, params: Any, insurance_fund: Decimal, choose: Chooser, model: MarginModel, target_buffer: Decimal,
    *, forfeit_last: bool = False,
) -> Decision:
    """Close positions as ``choose`` says, in ``model``'s order; the target recorded is (1 + ``target_buffer``) × MM.

    ``forfeit_last``: the last position in the order pays, instead of the
    penalty, all the equity left after its fill (never below zero): a
    backstop keeps the account's remaining margin.
    """
    with arithmetic():
        buffer = 1 + target_buffer
        equity_now, mm = equity(account), model.maintenance(account, params)
        closes: list[Close] = []
        remaining = {p.market: abs(p.size) for p in account.positions}
        order = _order(account, params, model)
        for number, position in enumerate(order, start=1):
            choice = choose(position, equity_now, mm, params)
            if choice is None:
                break
            qty, required, reason = choice
            if forfeit_last and number == len(order):
                fee = max(equity_now, ZERO)
            else:
                fee = penalty(qty, position.mark, params.liquidation_fee_rate, equity_now)
            after_equity, after_mm = equity_now - fee, model.maintenance_after_close(position, qty, mm, params)
            closes.append(
                Close(
                    market=position.market,
                    side="sell" if position.size > 0 else "buy",
                    qty=qty,
                    price=position.mark,
                    penalty=fee,
                    reason=reason,
                    equity_before=equity_now,
                    maintenance_before=mm,
                    target_before=buffer * mm,
                    equity_after=after_equity,
                    maintenance_after=after_mm,
                    target_after=buffer * after_mm,
                    required_qty=required,
                )
            )
            equity_now, mm = after_equity, after_mm
            remaining[position.market] -= qty
        bankruptcy = None
        if all(r == 0 for r in remaining.values()) and equity_now < 0:
            bankruptcy = split_deficit(-equity_now, insurance_fund)
        return Decision(tuple(closes), bankruptcy)
