"""What a comparison of rule versions says, in sentences: the top of the report and the end of the main job.

Reads the JSON of a what-if (``WhatIf.to_json``: the history as it happened
against one alternative version) or of several versions side by side
(``Comparison.to_json``) and says, per settle asset, how many closes, how
much notional and penalty, and how many bankruptcies each world had; which
accounts ended better or worse off under the rules that decided than in each
other world, and by how much (for one alternative, also why); with several
versions, what each world's insurance fund paid and was left with and what it
socialized. Figures are read as decimals from the JSON's strings and shown to
the cent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledger.domain.words import counted

__all__ = ["comparison_summary", "loss_allocation_summary"]

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
    """One sentence per settle asset on the closes; then who fared better or worse under the rules that decided than
    in each other world, and why (for one alternative); with several versions, per settle asset what each world's
    insurance fund paid and was left with and what it socialized, and how each world paid its bankruptcies."""
    actual = ", ".join(data["actual_versions"]) or "no rule"
    single = "alternative_version" in data
    worlds = ["alternative"] if single else list(data["versions"])
    names = {"alternative": data.get("alternative_version", "")} | {w: w for w in worlds if w != "alternative"}
    lines = []
    for asset, figures in data["summary"].items():
        same = [names[w] for w in worlds if _world(figures, w) == _world(figures, "actual")]
        others = [f"{names[w]} would have made {_world(figures, w)}" for w in worlds if names[w] not in same]
        if same:
            others.append(f"{' and '.join(same)} would have made the same")
        lines.append(f"In {asset}, {actual} made {_world(figures, 'actual')}; {'; '.join(others)}.")
        if not single and "insurance_fund_end" in figures:
            lines.append(_funds(asset, figures, worlds, actual))
    if single:
        return lines + _accounts(data["accounts"], "alternative", actual, data["alternative_version"], why=True)
    for world in worlds:
        lines += _accounts(data["accounts"], world, actual, world, why=False)
    return lines + loss_allocation_summary(data)


def _funds(asset: str, figures: dict[str, Any], worlds: list[str], actual: str) -> str:
    """Per world, in one settle asset: what the insurance fund paid, what it was left with, what was socialized."""
    said = []
    for world in ["actual", *worlds]:
        used, end = Decimal(figures["insurance_fund_used"][world]), Decimal(figures["insurance_fund_end"][world])
        name = f"What happened ({actual})" if world == "actual" else f"Under {world}"
        said.append(f"{name}: the insurance fund paid {_money(used)} and ended at {_money(end)}; "
                    f"{_money(Decimal(figures['socialized_loss'][world]))} was socialized.")
    return f"In {asset}, the insurance fund and the socialized loss of each world. " + " ".join(said)


def _accounts(accounts: list[dict[str, str]], world: str, actual: str, other: str, *, why: bool) -> list[str]:
    """The accounts that ended better or worse off under the rules that decided than in ``world`` (its equity column
    ``equity_<world>``), by how much; ``why``: with the reason a partial close gives (one alternative)."""
    change = [(a["account"], _equity(a["equity_actual"]) - _equity(a[f"equity_{world}"])) for a in accounts]
    gained = sorted((d, n) for n, d in change if d > 0)
    lost = sorted((d, n) for n, d in change if d < 0)
    lines = []
    if gained:
        together = sum((d for d, _ in gained), Decimal(0))
        lines.append(f"{counted(len(gained), 'account')} ended better off under {actual} than under {other} (together "
                     f"{_money(together)} more equity; most: {gained[-1][1]}, +{_money(gained[-1][0])})"
                     + (": a partial close left them a position that recovered with the price." if why else "."))
    if lost:
        together = -sum((d for d, _ in lost), Decimal(0))
        lines.append(f"{counted(len(lost), 'account')} ended worse off under {actual} than under {other} (together "
                     f"{_money(together)} less; most: {lost[0][1]}, {_money(lost[0][0])})"
                     + (": the position a partial close kept open was hit again as the price moved further against it, "
                        "and each close paid its penalty, where one full close at the first breach would have kept "
                        "what was left." if why else "."))
    if not lines and not why:
        lines.append(f"Every account compared ended with the same equity under {actual} as under {other}.")
    return lines


def loss_allocation_summary(data: dict[str, Any]) -> list[str]:
    """Per settle asset and world of a comparison (``Comparison.to_json``), how its bankruptcies' deficit was paid:
    by the insurance fund, by the traders its loss-allocation policy deleveraged (the three who paid most named),
    or socialized (a loss on the books no trader paid)."""
    worlds = data.get("loss_allocation") or {}
    if not worlds or any("deficit" not in found for found in worlds.values()):
        return []  # a single what-if's figures say what was deleveraged, not how each deficit was paid
    actual = ", ".join(data["actual_versions"]) or "no rule"
    assets = sorted({asset for found in worlds.values() for asset in found["deficit"]})
    lines = []
    for asset in assets:
        said = [_paid(world, found, asset, actual) for world, found in worlds.items()
                if Decimal(found["deficit"].get(asset, "0")) > 0]
        if not said:
            lines.append(f"In {asset}, no bankruptcy left a deficit the insurance fund had to cover, in any world.")
            continue
        lines.append(f"In {asset}, bankruptcies were paid as follows. " + " ".join(said))
    return lines


def _paid(world: str, found: dict[str, Any], asset: str, actual: str) -> str:
    """One world's sentence: its deficit, the fund's share, who was deleveraged, what was socialized."""
    deficit, fund = Decimal(found["deficit"][asset]), Decimal(found["insurance_fund_used"][asset])
    adl, socialized = Decimal(found["adl_covered"][asset]), Decimal(found["socialized_loss"][asset])
    policies = ", ".join(found["policies"]) or "no policy"
    name = (f"What happened ({actual}; {policies})" if world == "actual"
            else f"Under {world}" + (f" ({policies})" if policies != world else ""))
    parts = [f"{name}: a deficit of {_money(deficit)}, of which the insurance fund paid {_money(fund)}"]
    if adl > 0:
        payers = [p for p in found["paid_by"] if p["asset"] == asset]
        most = ", ".join(f"{p['account']} {_money(Decimal(p['haircut']))}" for p in payers[:3])
        hit = found["deleveraging"].get(asset, {})
        losing = int(hit.get("losing_positions_hit", "0"))
        on_losing = f"; {counted(losing, 'fill')} on a losing position" if losing else ""
        parts.append(f"auto-deleveraging took {_money(adl)} from {counted(len(payers), 'account')} "
                     f"(most: {most}{on_losing})")
    parts.append(f"{_money(socialized)} was socialized" + (" (a loss on the books that no trader paid)"
                                                          if socialized > 0 else ""))
    return ", ".join(parts[:-1]) + " and " + parts[-1] + "."
