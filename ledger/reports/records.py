"""The engine's records and the rules' history as plain data, shaped by the contract.

``liquidation_record`` and ``bankruptcy_record`` are the objects that
``ledger liquidations`` / ``bankruptcies --format json`` print (and the HTML
report tabulates): the decision and the figures that justify it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from ledger.domain import events as ev
from ledger.domain.events import thaw
from ledger.domain.money import to_str
from ledger.domain.scales import Figures, Scales, scales_of
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.store import LogReader, StoredEvent, StreamReader
from rules import registry
from rules.allocation import registry as allocation_registry
from rules.allocation.base import rounded, terminating

__all__ = ["engine_events", "listed_scales", "liquidation_record", "bankruptcy_record", "deleverage_records",
           "rules_report", "record_table_rows"]


def engine_events(
    log: LogReader, account: str | None = None, types: Sequence[str] = tuple(sorted(ev.ENGINE_TYPES)),
) -> list[tuple[StoredEvent, ev.EngineEvent]]:
    """The liquidation engine's events (of ``types``), oldest first, optionally for one account (through the log's
    index of its rare rows: no scan of the everyday ones)."""
    rows = []
    for row in log.read(types=list(types)):
        event = row.event()
        assert isinstance(event, ev.EngineEvent), "only the engine's kinds are read here"
        if account is None or account in ev.accounts_of(event):
            rows.append((row, event))
    return rows


def listed_scales(streams: StreamReader, overrides: Mapping[str, int] | None = None) -> Scales:
    """The display scales of the listed markets and their assets (``ledger.domain.scales``): each market's stream
    opens with its listing, so one index read per market, never a scan of the log by type."""
    firsts = (streams.stream_row(stream, 1) for stream in streams.stream_names(ev.MARKET_STREAM_PREFIX))
    listed = [row.event_as(ev.MarketListed) for row in firsts if row is not None and row.type == ev.MarketListed.TYPE]
    return scales_of(((m.market, m.settle_asset, m.lot_size) for m in listed), overrides)


def _engine_envelope(row: StoredEvent, event: ev.Liquidation | ev.Bankruptcy) -> dict[str, Any]:
    """What every engine record starts with: which event, where in the log, when, for whom."""
    return {"id": event.id, "seq": row.seq, "at": format_time(event.at), "account": event.account}


def liquidation_record(row: StoredEvent, event: ev.Liquidation) -> dict[str, Any]:
    """One liquidation as the contract prints it, with its justifying figures."""
    return {
        **_engine_envelope(row, event),
        "market": event.market,
        "side": event.side,
        "qty": to_str(event.qty),
        "price": to_str(event.price),
        "penalty": to_str(event.penalty),
        "rule_version": event.rule_version,
        "trigger": event.trigger,
        "reason": event.reason,
        "equity_before": to_str(event.equity_before),
        "maintenance_before": to_str(event.maintenance_before),
        "target_before": to_str(event.target_before),
        "equity_after": to_str(event.equity_after),
        "maintenance_after": to_str(event.maintenance_after),
        "target_after": to_str(event.target_after),
        "required_qty": ev.REQUIRED_QTY_WHOLE if event.required_qty is None else to_str(event.required_qty),
    }


def bankruptcy_record(row: StoredEvent, event: ev.Bankruptcy) -> dict[str, Any]:
    """One bankruptcy with its numbers: deficit, fund before, what it covered, what was socialized; ``market`` names
    the isolated position whose margin went bankrupt (null for the account's cross cash)."""
    return {
        **_engine_envelope(row, event),
        "asset": event.asset,
        "deficit": to_str(event.deficit),
        "fund_before": to_str(event.fund_before),
        "insurance_covered": to_str(event.insurance_covered),
        "socialized_loss": to_str(event.socialized_loss),
        "rule_version": event.rule_version,
        "trigger": event.trigger,
        "market": event.market,
        "adl_covered": to_str(event.adl_covered),
    }


ADL_PRICE_PLACES = 12
"""The ADL price (mark ± residual / closed) is shown to 12 places, half-even: exact whenever it terminates by then."""


def deleverage_records(row: StoredEvent, event: ev.AutoDeleverage) -> list[dict[str, Any]]:
    """One record per fill of an auto-deleveraging: who closed how much at the mark, the haircut it paid, and the
    ADL price (the mark moved against it by the haircut per unit of the bankruptcy, ``residual / closed``)."""
    sign = 1 if event.fills and event.fills[0].side == "buy" else -1  # the counterparties buy back against a long
    # a quotient: exact as a fraction, shown exactly when it terminates within 12 places, else half-even at 12
    exact = Fraction(event.mark) + sign * Fraction(event.residual) / Fraction(event.closed)
    within = (exact * 10**ADL_PRICE_PLACES).denominator == 1
    adl_price = to_str(terminating(exact)) if within else rounded(exact, ADL_PRICE_PLACES)
    return [
        {"id": event.id, "seq": row.seq, "at": format_time(event.at), "account": fill.account, "margin": fill.margin,
         "market": event.market, "side": fill.side, "qty": to_str(fill.qty), "mark": to_str(event.mark),
         "haircut": to_str(fill.haircut), "adl_price": adl_price, "bankruptcy": event.bankruptcy,
         "rank": fill.rank, "basis": fill.basis, "policy": event.policy, "asset": event.asset}
        for fill in event.fills
    ]


def rules_report(state: LedgerState) -> dict[str, Any]:
    """The registered versions (summary and parameter docs) and the activation history of ``state``."""
    return {
        "versions": [
            {"version": name, "summary": rule.summary,
             "parameters": [{"name": p.name, "meaning": p.meaning, "range": p.range} for p in rule.parameters]}
            for name, rule in sorted(registry.REGISTRY.items())
        ],
        "activations": [
            {"event_id": r.event_id, "at": format_time(r.at), "version": r.version}
            for r in state.rules_history
        ],
        "in_force": state.rules.version if state.rules else None,
        "loss_allocation": {
            "policies": [
                {"version": name, "summary": policy.summary,
                 "parameters": [{"name": p.name, "meaning": p.meaning, "range": p.range} for p in policy.parameters]}
                for name, policy in sorted(allocation_registry.POLICIES.items())
            ],
            "activations": [
                {"event_id": r.event_id, "at": format_time(r.at), "version": r.version, "params": thaw(r.params)}
                for r in state.loss_allocation_history
            ],
            "in_force": state.loss_allocation.version if state.loss_allocation else allocation_registry.DEFAULT,
        },
    }


_LIQUIDATION_MONEY = ("penalty", "equity_before", "maintenance_before", "target_before", "equity_after",
                      "maintenance_after", "target_after")
_BANKRUPTCY_MONEY = ("deficit", "fund_before", "insurance_covered", "socialized_loss")


def record_table_rows(records: list[dict[str, Any]], figures: Figures) -> list[dict[str, Any]]:
    """Liquidation or bankruptcy records for a table: quantities at the lot's scale, prices and money at the settle
    asset's (the records themselves, and so JSON and CSV, stay exact)."""
    rows = []
    for record in records:
        row = dict(record)
        if "qty" in record:
            market = record["market"]
            row["qty"] = figures.quantity(record["qty"], market)
            row["price"] = figures.price(record["price"], market)
            row.update({k: figures.market_money(record[k], market) for k in _LIQUIDATION_MONEY if record.get(k) is not None})
        else:
            row.update({k: figures.money(record[k], record["asset"]) for k in _BANKRUPTCY_MONEY if record.get(k) is not None})
        rows.append(row)
    return rows
