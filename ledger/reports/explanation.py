"""An engine decision's explanation (``ledger explain``'s JSON) as text a compliance officer reads.

The facts and figures come from ``compliance.explain``; this only lays them
out, at display scales for a table reader (every amount at its asset's scale,
every quantity at its lot's, a formula's long intermediate figures shortened
and marked ≈) or exactly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ledger.domain.scales import EXACT, Figures, at_places

__all__ = ["render_text", "FORMULA_PLACES"]


def _trigger_text(trig: dict[str, Any], f: Figures) -> str:
    kind = trig.get("type", "event")
    if kind == "mark":
        return f"mark {trig['id']} (#{trig['seq']}): {trig['market']} at {f.price(trig['price'], trig['market'])}"
    if kind == "funding":
        return f"funding {trig['id']} (#{trig['seq']}): {trig['market']} at rate {trig['rate']}"
    if kind == "trade":
        return (f"trade {trig['id']} (#{trig['seq']}): {trig['side']} {f.quantity(trig['qty'], trig['market'])} "
                f"{trig['market']} at {f.price(trig['price'], trig['market'])}")
    return f"{kind} {trig['id']}"


FORMULA_PLACES = 8
"""Places a formula's intermediate figure is shown to in text (the JSON keeps it whole)."""

_LONG_DECIMAL = re.compile(r"(?<![\w.])(-?\d+\.\d{" + str(FORMULA_PLACES + 1) + r",})(?![\w.])")


def _readable_formula(text: str) -> str:
    """The version's formula with every figure longer than ``FORMULA_PLACES`` places shortened, marked ≈."""
    return _LONG_DECIMAL.sub(lambda m: "≈" + at_places(m.group(1), FORMULA_PLACES), text)


def _deleveraging_text(info: dict[str, Any], f: Figures) -> str:
    """An auto-deleveraging in words: the residual, h, every counterparty the policy saw, and each fill."""
    e, figs, bankrupt, policy = info["event"], info["figures"], info["bankruptcy"], info["policy"]
    market, asset = e["market"], e["asset"]

    def money(value: str) -> str:
        return f.money(value, asset)

    lines = [f"auto_deleverage {e['id']} (#{info['seq']}) at {e['at']}"]
    lines.append(f"Bankruptcy {bankrupt['id']} of {bankrupt['account']} ({bankrupt['side']} in {market}) left a residual "
                 f"R = {money(figs['residual'])} {asset} after the insurance fund, over Q = "
                 f"{f.quantity(figs['closed'], market)} closed at the mark {f.price(figs['mark'], market)}: "
                 f"h = R / Q = {figs['haircut_per_unit']} per unit.")
    lines.append(f"Policy in force: {policy['version']}, params {json.dumps(policy['params'], sort_keys=True)}.")
    lines.append("Eligible counterparties (opposite positions, scope equity E > 0; the most each can take is "
                 "floor_lot(E / h)):")
    lines.extend(f"  {c['account']} ({c['margin']}): size {f.quantity(c['size'], market)} entry "
                 f"{f.price(c['entry_price'], market)} equity {money(c['equity'])} most {f.quantity(c['most'], market)}"
                 for c in info["counterparties"])
    lines.append("Fills:" if e["fills"] else "Fills: none.")
    lines.extend(f"  #{fill['rank']} {fill['account']} ({fill['margin']}): {fill['side']} {f.quantity(fill['qty'], market)} "
                 f"at the mark, haircut {money(fill['haircut'])} (basis {fill['basis']})" for fill in e["fills"])
    lines.append(f"Unfilled (left in the liquidation inventory): {f.quantity(figs['unfilled'], market)}; socialized: "
                 f"{money(figs['socialized'])} {asset}.")
    return "\n".join(lines)


def render_text(info: dict[str, Any], figures: Figures = EXACT) -> str:
    """The explanation as a few paragraphs a compliance officer can read.

    With display ``figures`` (the CLI's text form) every amount is at its
    asset's scale and every quantity at its lot's, the params are printed as
    JSON, and the formula's long intermediate figures are shortened (marked
    ≈); ``--format json`` carries every figure exactly.
    """
    if info["event"]["type"] == "auto_deleverage":
        return _deleveraging_text(info, figures)
    e, before, rule, trig = info["event"], info["account_before"], info["rule"], info["trigger"]
    asset, f = before["settle_asset"], figures

    def money(value: str) -> str:
        return f.money(value, asset)

    lines = [f"{e['type']} {e['id']} (#{info['seq']}) at {e['at']}"]
    lines.append(f"Triggered by {_trigger_text(trig, f)}.")
    if rule["activated_by"] is None:
        lines.append("No rules were in force: an isolated position closed by a trade with its margin in deficit.")
    else:
        lines.append(f"Rule in force: {rule['version']}, activated by {rule['activated_by']} at {rule['activated_at']}, "
                     f"params {json.dumps(rule['params'], sort_keys=True)}.")
    margin_figures = (f", maintenance MM = {money(before['maintenance_margin'])}, target (1+b)·MM = "
                      f"{money(before['target'])}" if "maintenance_margin" in before else "")
    lines.append(f"Account {before['account']} before this step ({asset}, {before['margin']} margin): "
                 f"cash {money(before['cash'])}, equity E = {money(before['equity'])}{margin_figures}.")
    lines.extend(f"  {p['market']}: size {f.quantity(p['size'], p['market'])} entry {f.price(p['entry_price'], p['market'])} "
                 f"mark {f.price(p['mark'], p['market'])} unrealized {money(p['unrealized_pnl'])}"
                 for p in before["positions"])
    if e["type"] == "liquidation":
        formula, market = info["formula"], e["market"]
        lines.append(f"Decision: {e['side']} {f.quantity(e['qty'], market)} {market} at {f.price(e['price'], market)}, "
                     f"penalty {money(e['penalty'])} (f × notional, capped at the equity left). Reason: {e['reason']}.")
        shown = f"{formula['formula']} {formula['result']}"
        lines.append(f"Formula: {shown if f is EXACT else _readable_formula(shown)}.")
        a = info["after"]
        lines.append(f"After: E = {money(a['equity'])}, MM = {money(a['maintenance_margin'])}, "
                     f"target = {money(a['target'])}.")
    else:
        where = f" of the isolated {e['market']} position" if e.get("market") else ""
        lines.append(f"Bankruptcy{where}: deficit {money(e['deficit'])}; insurance fund had {money(e['fund_before'])}, "
                     f"covered {money(e['insurance_covered'])}; socialized loss {money(e['socialized_loss'])}.")
    return "\n".join(lines)
