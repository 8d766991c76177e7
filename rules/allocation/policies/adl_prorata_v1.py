"""adl-prorata-v1: auto-deleverage every opposite position by the same amount per unit of weight, each up to a cap.

Rule, per market m of a bankruptcy, with mark P, residual R_m over the
closed quantity Q (h = R_m / Q, exact). Eligible: every opposite position i
with scope equity E_i > 0 and, with ``weight: profit``, unrealised profit
u_i = q_i·(P − entry_i) > 0. Weight w_i = |q_i|·P (``notional``) or u_i
(``profit``); cap c_i = min(E_i, |q_i|·h), and with ``profit`` also at most
u_i. Water-filling, exact: T = min(R_m, Σc_i); A = the eligible with w_i > 0
and c_i > 0; repeat: λ = T / Σ_A w; O = {i in A : λ·w_i ≥ c_i}; if O is
empty, each i in A gets λ·w_i and it stops; else each i in O gets c_i,
T −= Σ_O c_i, A −= O, until A is empty. Quantities: x*_i = amount_i / h,
x_i = floor_lot(x*_i); then k = floor_lot(Σx* − Σx) / lot leftover lots go
one each to the positions in descending order of x*_i − x_i (ties by name),
skipping one where (x_i + lot)·h > c_i or x_i + lot > |q_i|. Each fill pays
x_i·h rounded down to the cash quantum; fills are recorded in descending
amount (ties by account name, code-point order).

Parameters: ``cash_quantum`` (a power of ten), ``weight`` (``notional`` or
``profit``).

Source: the capped pro-rata allocation risk researchers proposed after the
2025-10-10 ADL cascade (Hyperliquid); issue 25 of this project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger.domain.money import to_str
from ledger.errors import InvalidRuleParams
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
    terminating,
)

__all__ = ["POLICY", "amounts"]

WEIGHTS = ("notional", "profit")


def _weight_and_cap(position: Counterparty, mark: Fraction, h: Fraction, weight: str) -> tuple[Fraction, Fraction]:
    size = abs(exact(position.size))
    cap = min(exact(position.equity), size * h)
    if weight == "notional":
        return size * mark, cap
    profit = exact(position.size) * (mark - exact(position.entry))
    return profit, min(cap, profit)


def amounts(residual: Fraction, weights: Mapping[int, Fraction], caps: Mapping[int, Fraction]) -> dict[int, Fraction]:
    """Capped water-filling of ``residual`` over positions (by index) with ``weights`` and ``caps``, exactly."""
    total = min(residual, sum(caps.values(), Fraction(0)))
    active = {i for i in weights if weights[i] > 0 and caps[i] > 0}
    out: dict[int, Fraction] = {}
    while active:
        level = total / sum((weights[i] for i in active), Fraction(0))
        over = {i for i in active if level * weights[i] >= caps[i]}
        if not over:
            out.update({i: level * weights[i] for i in active})
            break
        for i in over:
            out[i] = caps[i]
        total -= sum((caps[i] for i in over), Fraction(0))
        active -= over
    return out


class AdlProrataV1:
    name = "adl-prorata-v1"
    summary = "deleverage every opposite position pro rata to its notional or profit, each up to a cap"
    kind = "adl"
    parameters: tuple[PolicyDoc, ...] = (
        CASH_QUANTUM,
        PolicyDoc("weight", "what each position's share is proportional to", "notional or profit"),
    )

    def parse_params(self, raw: Mapping[str, Any]) -> QuantumParams:
        raw = check_policy_keys(raw, {"cash_quantum", "weight"}, {"cash_quantum", "weight"})
        weight = raw["weight"]
        if weight not in WEIGHTS:
            raise InvalidRuleParams(f"params.weight must be notional or profit, got {str(weight)[:40]!r}")
        return QuantumParams(parse_quantum(raw), {"weight": weight})

    def allocate(self, residual: Decimal, closed: Decimal, mark: Decimal, counterparties: Sequence[Counterparty],
                 params: QuantumParams) -> Allocation:
        h, price, weight = exact(residual) / exact(closed), exact(mark), params.extra["weight"]
        positions = [p for p in counterparties
                     if weight == "notional" or exact(p.size) * (price - exact(p.entry)) > 0]
        weights, caps = {}, {}
        for i, position in enumerate(positions):
            weights[i], caps[i] = _weight_and_cap(position, price, h, weight)
        given = amounts(exact(residual), weights, caps)
        ideal = {i: given.get(i, Fraction(0)) / h for i in range(len(positions))}
        lots = {i: exact(floor_to(ideal[i], positions[i].lot)) for i in ideal}
        lot = exact(positions[0].lot) if positions else Fraction(1)
        leftover = (sum(ideal.values(), Fraction(0)) - sum(lots.values(), Fraction(0))) // lot
        for i in sorted(ideal, key=lambda i: (-(ideal[i] - lots[i]), positions[i].account)):
            if leftover <= 0:
                break
            if (lots[i] + lot) * h > caps[i] or lots[i] + lot > abs(exact(positions[i].size)):
                continue
            lots[i] += lot
            leftover -= 1
        fills = []
        for i, position in enumerate(positions):
            if lots[i] > 0:
                quantity = floor_to(lots[i], position.lot)
                haircut = floor_to(lots[i] * h, params.cash_quantum)
                fills.append((given.get(i, Fraction(0)), position, quantity, haircut, weights[i]))
        fills.sort(key=lambda f: (-f[0], f[1].account))
        recorded = tuple(Fill(p.account, p.scope, q, c, to_str(terminating(w)), rank)
                         for rank, (_, p, q, c, w) in enumerate(fills, 1))
        return Allocation.of(recorded, closed, residual)

    def quantiles(self, mark: Decimal, positions: Sequence[Counterparty], params: Any) -> dict[tuple[str, str], int]:
        return {}


POLICY = AdlProrataV1()
