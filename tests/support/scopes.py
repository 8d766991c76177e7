"""Generated margin scopes at the digits the ledger stores: what the trigger arithmetic's tests run over.

Inputs of 18 places, entry prices averaged to 60 significant digits as fills
average them, rates of 18 places, cash from deep in debt to rich.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any

from hypothesis import strategies as st

from rules import registry
from rules.base import AccountView, PositionView

__all__ = ["MARKETS", "inputs", "averaged", "rates", "accounts", "formula_triggers", "version_params"]

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")


def _figure(places: int, integer_digits: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(0), max_value=Decimal(10) ** integer_digits, places=places,
                       allow_nan=False, allow_infinity=False)


inputs = _figure(18, 9)
averaged = st.builds(lambda a, b, n: Context(prec=60).divide(a * n + b, n + 1),
                     _figure(8, 6), _figure(8, 6), st.integers(1, 9))
"""an entry price as fills average it: a quotient to 60 significant digits"""
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.5"), places=18)


@st.composite
def accounts(draw: st.DrawFn) -> tuple[AccountView, dict[str, Decimal]]:
    """A scope of one to three open positions (long or short), and a maintenance rate for every market."""
    count = draw(st.integers(1, 3))
    positions = tuple(
        PositionView(market, draw(inputs.filter(bool)) * draw(st.sampled_from((1, -1))),
                     draw(st.one_of(inputs, averaged)), draw(inputs.filter(bool)), Decimal("0.001"))
        for market in MARKETS[:count])
    cash = draw(st.decimals(min_value=Decimal(-10) ** 9, max_value=Decimal(10) ** 12, places=18))
    return AccountView("a", "USD", cash, positions), {market: draw(rates) for market in MARKETS}


_UP = Context(prec=40, rounding=ROUND_CEILING)
_DOWN = Context(prec=40, rounding=ROUND_FLOOR)


def formula_triggers(account: AccountView, buffer: Decimal, rate: dict[str, Decimal]) -> list[tuple[str, bool, str]]:
    """``rules.triggers``' docstring formula for flat rates, written out: each position's share of ``buffer``, with
    ``1 − m`` and ``1 + m`` computed where they are used; (market, long, the price's text)."""
    if buffer <= 0:
        return [(p.market, p.size > 0, "Infinity" if p.size > 0 else "-Infinity") for p in account.positions]
    share = _DOWN.divide(buffer, len(account.positions))
    expected = []
    for p in account.positions:
        m = rate[p.market]
        if p.size > 0:
            expected.append((p.market, True, str(_UP.subtract(p.mark, _DOWN.divide(share, _UP.multiply(p.size, 1 - m))))))
        else:
            expected.append((p.market, False, str(_DOWN.add(p.mark, _DOWN.divide(share, _UP.multiply(-p.size, 1 + m))))))
    return expected


EXTRA_KEYS: dict[str, dict[str, Any]] = {
    "stepped-v1": {"partial_threshold_notional": "10000", "step_fraction": "0.25", "cooldown_seconds": "60",
                   "backstop_ratio": "0.5"},
}
"""What each version's params hold beside the flat ones (fee, buffer, per-market rates)."""


def version_params(name: str, rate: dict[str, Decimal]) -> Any:
    """Version ``name``'s parsed params at the maintenance rates ``rate`` (tiered-v1: those rates up to a notional
    of 20,000, which the generated notionals cross, and twice them beyond)."""
    flat = {m: {"maintenance_margin_rate": str(r), "initial_margin_rate": str(min(1, r * 2))} for m, r in rate.items()}
    tiers = {m: {"tiers": [{"max_notional": "20000", **flat[m]},  # a bracket edge the generated notionals cross
                           {"maintenance_margin_rate": str(min(Decimal("0.5"), r * 2)), "initial_margin_rate": "1"}]}
             for m, r in rate.items()}
    raw: dict[str, Any] = {
        "liquidation_fee_rate": "0.0001",  # below (1 + b) × the lowest rate generated, as tiered-v1 requires
        "markets": tiers if name == "tiered-v1" else flat,
        **EXTRA_KEYS.get(name, {}),
    }
    if name != "stepped-v1":
        raw["target_buffer"] = "0.25"
    return registry.get(name).parse_params(raw)
