"""adl-ranked-v1: auto-deleverage the opposite positions in a queue ranked by profit and leverage (BitMEX, Binance).

Rule, per market m of a bankruptcy, with mark P, residual R_m over the
closed quantity Q (haircut per unit h = R_m / Q, exact): every eligible
opposite position i (scope equity E_i > 0) gets a score from its PnL% =
sign(q_i)·(P − entry_i)/entry_i and leverage L_i = |q_i|·P / E_i: PnL% × L_i
when PnL% > 0, PnL% / L_i when PnL% < 0, 0 when PnL% = 0. Scores are
compared exactly (fractions), highest first, ties by account name in
code-point order. In that order each fills x_i = min(remaining, |q_i|,
floor_lot(E_i / h)) (zero fills skipped) and pays x_i·h rounded down to the
cash quantum, until nothing remains or the queue ends. The ADL quantile of a
position (``quantiles``) ranks its own side the same way: with c_i the
cumulative quantity up to and including i out of the side's total T,
ceil(5·c_i / T), 1 first in line.

Parameters: ``cash_quantum`` (a power of ten; ADL moves whole quanta).

Source: BitMEX's and Binance's ADL ranking (profit × leverage, the
deleverage indicator in quintiles); issue 25 of this project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from rules.allocation.base import (
    CASH_QUANTUM,
    Allocation,
    Counterparty,
    Fill,
    PolicyDoc,
    QuantumParams,
    check_policy_keys,
    exact,
    floor_to,
    parse_quantum,
    rounded,
)

__all__ = ["POLICY", "score"]

def score(position: Counterparty, mark: Decimal) -> Fraction:
    """The queue's score of ``position`` at ``mark``, exactly."""
    sign = 1 if position.size > 0 else -1
    pnl = sign * (exact(mark) - exact(position.entry)) / exact(position.entry)
    if pnl == 0:
        return Fraction(0)
    leverage = abs(exact(position.size)) * exact(mark) / exact(position.equity)
    return pnl * leverage if pnl > 0 else pnl / leverage


def _queue(positions: Sequence[Counterparty], mark: Decimal) -> list[tuple[Fraction, Counterparty]]:
    scored = [(score(p, mark), p) for p in positions]
    return sorted(scored, key=lambda item: (-item[0], item[1].account))


class AdlRankedV1:
    name = "adl-ranked-v1"
    summary = "deleverage opposite positions in a queue ranked by profit × leverage, each up to its equity"
    kind = "adl"
    parameters: tuple[PolicyDoc, ...] = (
        CASH_QUANTUM,
    )

    def parse_params(self, raw: Mapping[str, Any]) -> QuantumParams:
        raw = check_policy_keys(raw, {"cash_quantum"}, {"cash_quantum"})
        return QuantumParams(parse_quantum(raw), {})

    def allocate(self, residual: Decimal, closed: Decimal, mark: Decimal, counterparties: Sequence[Counterparty],
                 params: QuantumParams) -> Allocation:
        h = exact(residual) / exact(closed)
        remaining = exact(closed)
        fills: list[Fill] = []
        for rank, (value, position) in enumerate(_queue(counterparties, mark), 1):
            if remaining <= 0:
                break
            cap = floor_to(exact(position.equity) / h, position.lot)
            qty = min(remaining, abs(exact(position.size)), exact(cap))
            if qty <= 0:
                continue
            quantity = floor_to(qty, position.lot)  # already whole lots: remaining and |q| are, and so is the cap
            haircut = floor_to(exact(quantity) * h, params.cash_quantum)
            fills.append(Fill(position.account, position.scope, quantity, haircut, rounded(value, 12), rank))
            remaining -= exact(quantity)
        return Allocation.of(fills, closed, residual)

    def quantiles(self, mark: Decimal, positions: Sequence[Counterparty], params: Any) -> dict[tuple[str, str], int]:
        total = sum((abs(exact(p.size)) for p in positions), Fraction(0))
        out: dict[tuple[str, str], int] = {}
        cumulative = Fraction(0)
        for _, position in _queue(positions, mark):
            cumulative += abs(exact(position.size))
            out[(position.account, position.scope)] = -((-5 * cumulative) // total)  # ceil(5·c/T)
        return out


POLICY = AdlRankedV1()
