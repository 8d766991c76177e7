"""Tiered margin (the brackets Binance, Bybit and OKX publish): rates that grow with a position's notional.

A market's tiers are in ascending order of ``max_notional``; the last has none
(unbounded). A position of notional N = |size| × mark falls in the first tier
k with N <= max_notional_k (the last when none), and

    MM(N) = N × mmr_k − cum_k,   cum_1 = 0,   cum_k = cum_{k−1} + max_notional_{k−1} × (mmr_k − mmr_{k−1})

so MM is continuous at every edge (the "maintenance amount" venues publish is
cum). IM(N) likewise, with the initial rates and their own cum. An account's
MM and IM are the sums over its positions. Everything is exact decimal
arithmetic; nothing here rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from attrs import frozen

from ledger.domain.money import arithmetic
from ledger.errors import InvalidRuleParams
from rules.params import MIN_MARGIN_RATE, parse_rate

__all__ = ["Tier", "parse_tiers", "tier_of", "maintenance_of", "initial_of"]

_TIER_KEYS = {"max_notional", "maintenance_margin_rate", "initial_margin_rate"}


@frozen
class Tier:
    """One bracket: its upper edge (None for the last), its rates, and the cum amounts that keep MM and IM continuous."""

    max_notional: Decimal | None
    maintenance_margin_rate: Decimal
    initial_margin_rate: Decimal
    maintenance_cum: Decimal
    initial_cum: Decimal


def tier_of(tiers: Sequence[Tier], notional: Decimal) -> int:
    """Index of the tier a notional falls in: the first whose edge is >= it, else the last."""
    for index, tier in enumerate(tiers):
        if tier.max_notional is not None and notional <= tier.max_notional:
            return index
    return len(tiers) - 1


def maintenance_of(tiers: Sequence[Tier], notional: Decimal) -> Decimal:
    tier = tiers[tier_of(tiers, notional)]
    return notional * tier.maintenance_margin_rate - tier.maintenance_cum


def initial_of(tiers: Sequence[Tier], notional: Decimal) -> Decimal:
    tier = tiers[tier_of(tiers, notional)]
    return notional * tier.initial_margin_rate - tier.initial_cum


def parse_tiers(market: str, raw: object, buffer: Decimal, fee: Decimal) -> tuple[Tier, ...]:
    """A market's ``tiers``, checked; every refusal names the market and the tier (1-based)."""
    where = f".markets.{market}.tiers"
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)) or not raw:
        raise InvalidRuleParams(f"params{where} must be a non-empty list of tiers")
    tiers: list[Tier] = []
    with arithmetic():  # the cum amounts are exact sums of products of the inputs
        for number, item in enumerate(raw, start=1):
            tiers.append(_tier(item, f"{where}[{number}]", tiers[-1] if tiers else None, number == len(raw), buffer, fee))
    return tuple(tiers)


def _tier(raw: object, where: str, previous: Tier | None, last: bool, buffer: Decimal, fee: Decimal) -> Tier:
    if not isinstance(raw, Mapping):
        raise InvalidRuleParams(f"params{where} must be an object")
    unknown = sorted(set(raw) - _TIER_KEYS)
    if unknown:
        raise InvalidRuleParams(f"params{where} has unknown key(s): {', '.join(unknown)}")
    edge = _edge(raw, where, last)
    mmr, imr = parse_rate(raw, "maintenance_margin_rate", where), parse_rate(raw, "initial_margin_rate", where)
    if not MIN_MARGIN_RATE <= mmr < 1:
        raise InvalidRuleParams(f"params{where}.maintenance_margin_rate must be in [{MIN_MARGIN_RATE}, 1)")
    if not mmr <= imr <= 1:
        raise InvalidRuleParams(f"params{where}.initial_margin_rate must be between the maintenance rate and 1")
    if (1 + buffer) * mmr <= fee:
        raise InvalidRuleParams(
            f"params{where}: (1 + target_buffer) × maintenance_margin_rate must exceed liquidation_fee_rate "
            "(otherwise no partial close can restore the target)"
        )
    if previous is None:
        return Tier(edge, mmr, imr, Decimal(0), Decimal(0))
    assert previous.max_notional is not None  # only the last tier has no edge
    if edge is not None and edge <= previous.max_notional:
        raise InvalidRuleParams(f"params{where}.max_notional must be above the previous tier's")
    if mmr < previous.maintenance_margin_rate or imr < previous.initial_margin_rate:
        raise InvalidRuleParams(f"params{where}: rates must not decrease from one tier to the next")
    return Tier(
        edge, mmr, imr,
        previous.maintenance_cum + previous.max_notional * (mmr - previous.maintenance_margin_rate),
        previous.initial_cum + previous.max_notional * (imr - previous.initial_margin_rate),
    )


def _edge(raw: Mapping[str, Any], where: str, last: bool) -> Decimal | None:
    if last:
        if "max_notional" in raw:
            raise InvalidRuleParams(f"params{where}: the last tier has no max_notional (it is unbounded)")
        return None
    if "max_notional" not in raw:
        raise InvalidRuleParams(f"params{where} is missing max_notional (only the last tier is unbounded)")
    edge = parse_rate(raw, "max_notional", where)
    if edge <= 0:
        raise InvalidRuleParams(f"params{where}.max_notional must be > 0")
    return edge
