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

from decimal import Decimal
from typing import Any

from ledger.domain import events as ev
from ledger.domain.codec import to_json_object
from ledger.domain.events import thaw
from ledger.domain.money import arithmetic, to_str
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


def _trigger_text(trig: dict[str, Any]) -> str:
    kind = trig.get("type", "event")
    if kind == "mark":
        return f"mark {trig['id']} (#{trig['seq']}): {trig['market']} at {trig['price']}"
    if kind == "funding":
        return f"funding {trig['id']} (#{trig['seq']}): {trig['market']} at rate {trig['rate']}"
    if kind == "trade":
        return f"trade {trig['id']} (#{trig['seq']}): {trig['side']} {trig['qty']} {trig['market']} at {trig['price']}"
    return f"{kind} {trig['id']}"


def render_text(info: dict[str, Any]) -> str:
    """The explanation as a few paragraphs a compliance officer can read."""
    e, before, rule, trig = info["event"], info["account_before"], info["rule"], info["trigger"]
    lines = [f"{e['type']} {e['id']} (#{info['seq']}) at {e['at']}"]
    lines.append(f"Triggered by {_trigger_text(trig)}.")
    if rule["activated_by"] is None:
        lines.append("No rules were in force: an isolated position closed by a trade with its margin in deficit.")
    else:
        lines.append(f"Rule in force: {rule['version']}, activated by {rule['activated_by']} at {rule['activated_at']}, "
                     f"params {rule['params']}.")
    margin_figures = (f", maintenance MM = {before['maintenance_margin']}, target (1+b)·MM = {before['target']}"
                      if "maintenance_margin" in before else "")
    lines.append(f"Account {before['account']} before this step ({before['settle_asset']}, {before['margin']} margin): "
                 f"cash {before['cash']}, equity E = {before['equity']}{margin_figures}.")
    lines.extend(f"  {p['market']}: size {p['size']} entry {p['entry_price']} mark {p['mark']} "
                 f"unrealized {p['unrealized_pnl']}" for p in before["positions"])
    if e["type"] == "liquidation":
        f = info["formula"]
        lines.append(f"Decision: {e['side']} {e['qty']} {e['market']} at {e['price']}, penalty {e['penalty']} "
                     f"(f × notional, capped at the equity left). Reason: {e['reason']}.")
        lines.append(f"Formula: {f['formula']} {f['result']}.")
        a = info["after"]
        lines.append(f"After: E = {a['equity']}, MM = {a['maintenance_margin']}, target = {a['target']}.")
    else:
        where = f" of the isolated {e['market']} position" if e.get("market") else ""
        lines.append(f"Bankruptcy{where}: deficit {e['deficit']}; insurance fund had {e['fund_before']}, covered "
                     f"{e['insurance_covered']}; socialized loss {e['socialized_loss']}.")
    return "\n".join(lines)
