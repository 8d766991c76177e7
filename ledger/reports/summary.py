"""What a comparison of rule versions says, in sentences: the top of the report and the end of the main job.

Reads the JSON of a what-if (``WhatIf.to_json``: the history as it happened
against one alternative version) or of several versions side by side
(``Comparison.to_json``) and says, per settle asset, how many closes, how
much notional and penalty, and how many bankruptcies each world had; for one
alternative, also which accounts ended better or worse off under the rules
that decided, by how much, and why. Figures are read as decimals from the
JSON's strings and shown to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["comparison_summary"]

_CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return f"{value.quantize(_CENT):,}"


def _equity(text: str) -> Decimal:
    """``"USD 123.4"`` -> 123.4 (an account in one settle asset)."""
    return Decimal(text.split()[-1]) if text else Decimal(0)


def _world(figures: dict[str, Any], world: str) -> str:
    closes, notional = figures["liquidations"][world], Decimal(figures["notional_liquidated"][world])
    penalties, bankruptcies = Decimal(figures["penalties"][world]), figures["bankruptcies"][world]
    return (f"{closes} closes of {_money(notional)} notional, {_money(penalties)} in penalties, "
            f"{bankruptcies} bankruptcies")


def comparison_summary(data: dict[str, Any]) -> list[str]:
    """One sentence per settle asset, then (for one alternative) who fared better or worse and why."""
    actual = ", ".join(data["actual_versions"]) or "no rule"
    worlds = ["alternative"] if "alternative_version" in data else list(data["versions"])
    names = {"alternative": data.get("alternative_version", "")} | {w: w for w in worlds if w != "alternative"}
    lines = []
    for asset, figures in data["summary"].items():
        others = "; ".join(f"{names[w]} would have made {_world(figures, w)}" for w in worlds)
        lines.append(f"In {asset}, {actual} made {_world(figures, 'actual')}; {others}.")
    if "alternative_version" not in data:
        return lines
    other = data["alternative_version"]
    change = [(a["account"], _equity(a["equity_actual"]) - _equity(a["equity_alternative"])) for a in data["accounts"]]
    gained = sorted((d, n) for n, d in change if d > 0)
    lost = sorted((d, n) for n, d in change if d < 0)
    if gained:
        together = sum((d for d, _ in gained), Decimal(0))
        lines.append(f"{len(gained)} accounts ended better off under {actual} than under {other} (together "
                     f"{_money(together)} more equity; most: {gained[-1][1]}, +{_money(gained[-1][0])}): "
                     "a partial close left them a position that recovered with the price.")
    if lost:
        together = -sum((d for d, _ in lost), Decimal(0))
        lines.append(f"{len(lost)} accounts ended worse off under {actual} than under {other} (together "
                     f"{_money(together)} less; most: {lost[0][1]}, {_money(lost[0][0])}): the position a "
                     "partial close kept open was hit again as the price moved further against it, and each close paid "
                     "its penalty, where one full close at the first breach would have kept what was left.")
    return lines
