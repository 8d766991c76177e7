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

from fractions import Fraction
from typing import Any

from ledger.domain import events as ev
from ledger.domain.codec import to_json_object
from ledger.domain.events import thaw
from ledger.domain.money import arithmetic, to_str
from ledger.domain.state import CROSS_SCOPE
from ledger.domain.timefmt import format_time
from ledger.engine.allocation import counterparties
from ledger.engine.liquidation import scope_view, version_in_force
from ledger.errors import InvalidEvent
from ledger.replay import load
from ledger.store import CachedLog
from rules.allocation.base import floor_to
from rules.base import AccountView, equity

__all__ = ["explain"]


def _positions(view: AccountView) -> list[dict[str, str]]:
    return [
        {"market": p.market, "size": to_str(p.size), "entry_price": to_str(p.entry_price), "mark": to_str(p.mark),
         "unrealized_pnl": to_str(p.size * (p.mark - p.entry_price))}
        for p in view.positions
    ]


def _shown(event: ev.EngineEvent) -> dict[str, Any]:
    """The event's fields as JSON (a whole close's ``required_qty`` written as ``liquidations`` writes it)."""
    shown = to_json_object(event)
    if isinstance(event, ev.Liquidation) and event.required_qty is None:
        shown["required_qty"] = ev.REQUIRED_QTY_WHOLE
    return shown


def _deleveraging(store: CachedLog, seq: int, event: ev.AutoDeleverage) -> dict[str, Any]:
    """Why an auto-deleveraging filled whom: the residual and the haircut per unit, the policy and its params, every
    eligible counterparty as the policy saw it (its scope equity, and the most it could take: floor_lot(E / h)), and
    each fill. The state is the replay just before it (after the bankruptcy and any earlier market's fills)."""
    bankrupt = store.get(event.bankruptcy)
    assert bankrupt is not None, "an auto-deleveraging follows its bankruptcy"
    account = bankrupt.event_as(ev.Bankruptcy).account
    close = store.get(f"{event.trigger}{ev.LIQUIDATION_ID_MARK}{account}/{event.market}")
    assert close is not None, "the bankrupt scope was closed in the market it deleverages"
    long_bankrupt = close.event_as(ev.Liquidation).side == "sell"
    before = load.state_at(store, seq - 1)
    found = counterparties(before, event.market, long_bankrupt, excluded=account)
    h = Fraction(event.residual) / Fraction(event.closed)
    with arithmetic():
        per_unit = event.residual / event.closed
        queue = [{"account": p.account, "margin": f"isolated {p.scope}" if p.scope else "cross", "size": to_str(p.size),
                  "entry_price": to_str(p.entry), "equity": to_str(p.equity),
                  "most": to_str(floor_to(Fraction(p.equity) / h, p.lot))} for p in found]
    return {
        "seq": seq,
        "event": to_json_object(event),
        "bankruptcy": {"id": event.bankruptcy, "account": account, "side": "long" if long_bankrupt else "short"},
        "policy": {"version": event.policy, "params": thaw(event.params)},
        "figures": {"residual": to_str(event.residual), "closed": to_str(event.closed), "mark": to_str(event.mark),
                    "haircut_per_unit": to_str(per_unit), "unfilled": to_str(event.unfilled),
                    "socialized": to_str(event.socialized)},
        "counterparties": queue,
    }


def explain(store: CachedLog, event_id: str) -> dict[str, Any]:
    """A JSON-ready explanation of one engine event (liquidation or bankruptcy)."""
    row = store.get(event_id)
    if row is None:
        raise InvalidEvent("no such event", where=f"event {event_id}")
    event = row.event()
    if event.TYPE not in ev.ENGINE_TYPES:
        raise InvalidEvent(f"a {event.TYPE} is not an engine decision; explain takes a liquidation, bankruptcy or "
                           "auto-deleveraging id", where=f"event {event_id}")
    if isinstance(event, ev.AutoDeleverage):
        return _deleveraging(store, row.seq, event)
    assert isinstance(event, (ev.Liquidation, ev.Bankruptcy)), "the engine records liquidations and bankruptcies"
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
            "event": _shown(event),
            "seq": row.seq,
            "trigger": {"id": event.trigger, "seq": mark_row.seq if mark_row else None,
                        "at": mark_row.at if mark_row else None, **(to_json_object(mark_row.event()) if mark_row else {})},
            "rule": rule,
            "account_before": account_before,
        }
        if isinstance(event, ev.Liquidation):
            out["formula"] = version.explain(view, params, event.close)  # the version's own formula and figures
            out["after"] = {"equity": to_str(event.equity_after), "maintenance_margin": to_str(event.maintenance_after),
                            "target": to_str(event.target_after)}
    return out
