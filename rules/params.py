"""Parsing and checking rule parameters (the ``params`` of ``rules_activated``).

Shape (contract): ``liquidation_fee_rate``, ``target_buffer`` (partial
versions), and ``markets``: market -> ``maintenance_margin_rate``,
``initial_margin_rate``. Rates are decimal strings; unknown keys are refused so
a typo never silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger.domain.money import parse_decimal
from ledger.errors import InvalidEvent, InvalidRuleParams
from rules.base import MarketRates, Params

__all__ = [
    "parse_params", "check_keys", "fee_rate", "target_buffer", "market_table", "market_rates", "parse_rate", "ZERO_BUFFER",
    "MIN_MARGIN_RATE", "MAX_FEE_RATE", "MAX_TARGET_BUFFER",
]

ZERO_BUFFER = Decimal(0)
_MARKET_KEYS = {"maintenance_margin_rate", "initial_margin_rate"}
MIN_MARGIN_RATE = Decimal("0.0001")
"""A maintenance rate below 1 basis point is no margin a venue means (1e-30 would make every position unbounded)."""
MAX_FEE_RATE = Decimal("0.1")
"""Liquidation fees above 10% of the closed notional are no fee a venue charges."""
MAX_TARGET_BUFFER = Decimal(10)
"""Restoring more than 11 × MM is no partial liquidation: a larger buffer is a typo."""


def _rate(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    if key not in raw:
        raise InvalidRuleParams(f"params{where} is missing {key}")
    try:
        return parse_decimal(raw[key], f"params{where}.{key}")
    except InvalidEvent as exc:
        raise InvalidRuleParams(exc.reason) from None


def _market(name: str, raw: object) -> MarketRates:
    where = f".markets.{name}"
    if not isinstance(raw, Mapping):
        raise InvalidRuleParams(f"params{where} must be an object")
    unknown = sorted(set(raw) - _MARKET_KEYS)
    if unknown:
        raise InvalidRuleParams(f"params{where} has unknown key(s): {', '.join(unknown)}")
    mm = _rate(raw, "maintenance_margin_rate", where)
    im = _rate(raw, "initial_margin_rate", where)
    if not MIN_MARGIN_RATE <= mm < 1:
        raise InvalidRuleParams(f"params{where}.maintenance_margin_rate must be in [{MIN_MARGIN_RATE}, 1)")
    if not mm <= im <= 1:
        raise InvalidRuleParams(f"params{where}.initial_margin_rate must be between the maintenance rate and 1")
    return MarketRates(mm, im)


def check_keys(raw: object, allowed: Iterable[str]) -> Mapping[str, Any]:
    """``raw`` as a mapping holding only ``allowed`` keys (a typo is an error, never a silent default)."""
    if not isinstance(raw, Mapping):
        raise InvalidRuleParams("params must be an object")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise InvalidRuleParams(f"params has unknown key(s) for this version: {', '.join(unknown)}")
    return raw


def fee_rate(raw: Mapping[str, Any]) -> Decimal:
    """``liquidation_fee_rate``, in [0, ``MAX_FEE_RATE``]."""
    fee = _rate(raw, "liquidation_fee_rate", "")
    if not 0 <= fee <= MAX_FEE_RATE:
        raise InvalidRuleParams(f"params.liquidation_fee_rate must be in [0, {MAX_FEE_RATE}]")
    return fee


def target_buffer(raw: Mapping[str, Any], *, required: bool) -> Decimal:
    """``target_buffer``, in [0, ``MAX_TARGET_BUFFER``] (0 when absent and not required)."""
    if "target_buffer" in raw:
        buffer = _rate(raw, "target_buffer", "")
        if not 0 <= buffer <= MAX_TARGET_BUFFER:
            raise InvalidRuleParams(f"params.target_buffer must be in [0, {MAX_TARGET_BUFFER}]")
        return buffer
    if required:
        raise InvalidRuleParams("params is missing target_buffer")
    return ZERO_BUFFER


def market_table(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``markets``: a non-empty object, market -> that market's margin parameters."""
    markets = raw.get("markets")
    if not isinstance(markets, Mapping) or not markets:
        raise InvalidRuleParams("params.markets must map each market to its margin rates")
    return markets


def market_rates(raw: Mapping[str, Any]) -> dict[str, MarketRates]:
    """``markets`` with flat rates: market -> its checked maintenance and initial margin rates."""
    return {name: _market(name, value) for name, value in market_table(raw).items()}


def parse_rate(raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    """A required decimal ``key`` of ``raw`` (``where`` locates it: ``.markets.BTC-PERP``)."""
    return _rate(raw, key, where)


def parse_params(
    raw: Mapping[str, Any], *, buffer_required: bool, extra_keys: Iterable[str] = ()
) -> tuple[Params, dict[str, Any]]:
    """Common keys checked; returns the params and the raw version-specific extras."""
    extra_keys = set(extra_keys)
    raw = check_keys(raw, {"liquidation_fee_rate", "target_buffer", "markets"} | extra_keys)
    fee = fee_rate(raw)
    buffer = target_buffer(raw, required=buffer_required)
    rates = market_rates(raw)
    extras = {k: raw[k] for k in extra_keys if k in raw}
    return Params(fee, buffer, MappingProxyType(rates), MappingProxyType(extras)), extras
