"""``explain``: why the engine did what it did, in words and numbers.

For a liquidation: the mark or funding that triggered it (for a bankruptcy
of an isolated position closed by a trade, that trade), the account's positions and its
equity, maintenance margin and target before and after, the rule version and
its parameters, and the formula with the numbers filled in, as the version
itself explains its decision (``RuleVersion.explain``). The state shown is
the replay just before the liquidation (after its mark and any earlier closes
of the same mark), so every figure can be recomputed by hand.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from ledger.domain import events as ev
from ledger.domain.codec import to_json_object
from ledger.domain.events import thaw
from ledger.domain.money import arithmetic, to_str
from ledger.domain.scales import EXACT, Figures, at_places
from ledger.domain.state import CROSS_SCOPE
from ledger.domain.timefmt import format_time
from ledger.engine.liquidation import scope_view, version_in_force
from ledger.errors import InvalidEvent
from ledger.replay import load
from ledger.store import EventStore
from rules.base import Close, equity

__all__ = ["explain", "render_text"]


def _positions(view) -> list[dict[str, str]]:
    return [
        {"market": p.market, "size": to_str(p.size), "entry_price": to_str(p.entry_price), "mark": to_str(p.mark),
         "unrealized_pnl": to_str(p.size * (p.mark - p.entry_price))}
        for p in view.positions
    ]


def _close(event: ev.Liquidation) -> Close:
    """The stored liquidation as the close its version decided (the figures it recorded)."""
    required = None if event.required_qty == "none" else Decimal(event.required_qty)
    return Close(
        market=event.market, side=event.side, qty=event.qty, price=event.price, penalty=event.penalty, reason=event.reason,
        equity_before=event.equity_before, maintenance_before=event.maintenance_before, target_before=event.target_before,
        equity_after=event.equity_after, maintenance_after=event.maintenance_after, target_after=event.target_after,
        required_qty=required,
    )


def explain(store: EventStore, event_id: str) -> dict[str, Any]:
    """A JSON-ready explanation of one engine event (liquidation or bankruptcy)."""
    row = store.get(event_id)
    if row is None:
        raise InvalidEvent("no such event", where=f"event {event_id}")
    event = row.event()
    if event.TYPE not in ev.ENGINE_TYPES:
        raise InvalidEvent(f"a {event.TYPE} is not an engine decision; explain takes a liquidation or bankruptcy id",
                           where=f"event {event_id}")
    before = load.state_at(store, row.seq - 1)
    mark_row = store.get(event.trigger)
    rules = before.rules
    if isinstance(event, ev.Liquidation):
        asset, scope = before.markets[event.market].settle_asset, before.account(event.account).scope_of(event.market)
    else:
        asset, scope = event.asset, event.market or CROSS_SCOPE
    view = scope_view(before, event.account, scope, asset)
    with arithmetic():
        account_before: dict[str, Any] = {
            "account": event.account, "settle_asset": asset,
            "margin": f"isolated {scope}" if scope else "cross", "cash": to_str(view.cash),
            "positions": _positions(view), "equity": to_str(equity(view)),
        }
        rule: dict[str, Any] = {"version": event.rule_version, "activated_by": None, "activated_at": None, "params": None}
        if rules is not None:
            version, params = version_in_force(rules)
            rule = {"version": rules.version, "activated_by": rules.event_id, "activated_at": format_time(rules.at),
                    "params": thaw(rules.params)}
            account_before["maintenance_margin"] = to_str(version.maintenance(view, params))
            account_before["target"] = to_str(version.target(view, params))
        out: dict[str, Any] = {
            "event": to_json_object(event),
            "seq": row.seq,
            "trigger": {"id": event.trigger, "seq": mark_row.seq if mark_row else None,
                        "at": mark_row.at if mark_row else None, **(to_json_object(mark_row.event()) if mark_row else {})},
            "rule": rule,
            "account_before": account_before,
        }
        if isinstance(event, ev.Liquidation):
            out["formula"] = version.explain(view, params, _close(event))  # the version's own formula and figures
            out["after"] = {"equity": to_str(event.equity_after), "maintenance_margin": to_str(event.maintenance_after),
                            "target": to_str(event.target_after)}
    return out


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


def render_text(info: dict[str, Any], figures: Figures = EXACT) -> str:
    """The explanation as a few paragraphs a compliance officer can read.

    With display ``figures`` (the CLI's text form) every amount is at its
    asset's scale and every quantity at its lot's, the params are printed as
    JSON, and the formula's long intermediate figures are shortened (marked
    ≈); ``--format json`` carries every figure exactly.
    """
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
