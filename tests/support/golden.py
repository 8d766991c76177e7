"""Fixed inputs for every released rule version, and what the version answers on them (its golden vectors).

Rule versions share maths (``rules/flat.py``, ``walk.py``, ``tiers.py``, ...)
that may be edited after a version built on it was released. A released
version must then still decide, bound and explain exactly as it did: its
answers on these inputs are stored once in ``tests/golden/VERSION.json``, and
``tests/test_golden_rules.py`` compares every later run with them.

The inputs: one long, one short and a two-market cross account, each at
several marks and cash balances (safe, distressed, bankrupt), under two
parameter sets per version, with an insurance fund that covers everything or
nothing, and (for versions with a cooldown) a partial close just before.
Everything is kept as text, exactly (``to_str``).

A new version gets its file with ``python -m tests.support.golden VERSION``;
a released version's file is never rewritten (the command refuses).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.domain.money import arithmetic, to_str
from rules import registry
from rules.base import AccountView, DecisionContext, PositionView

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

_FLAT = {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
         "ETH-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"}}
_TIERS = {
    "BTC-PERP": {"tiers": [
        {"max_notional": "20000", "maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
        {"max_notional": "100000", "maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
        {"maintenance_margin_rate": "0.025", "initial_margin_rate": "0.05"}]},
    "ETH-PERP": {"tiers": [
        {"max_notional": "10000", "maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
        {"maintenance_margin_rate": "0.02", "initial_margin_rate": "0.04"}]},
}
PARAMS: dict[str, list[dict[str, Any]]] = {
    "partial-v1": [{"liquidation_fee_rate": "0.002", "target_buffer": "0.25", "markets": _FLAT},
                   {"liquidation_fee_rate": "0.01", "target_buffer": "1", "markets": _FLAT}],
    "full-v1": [{"liquidation_fee_rate": "0.002", "markets": _FLAT},
                {"liquidation_fee_rate": "0", "markets": _FLAT}],
    "tiered-v1": [{"liquidation_fee_rate": "0.002", "target_buffer": "0.25", "markets": _TIERS},
                  {"liquidation_fee_rate": "0.005", "target_buffer": "1", "markets": _TIERS}],
    "stepped-v1": [{"liquidation_fee_rate": "0.001", "partial_threshold_notional": "20000", "step_fraction": "0.2",
                    "cooldown_seconds": "30", "backstop_ratio": "0.6667", "markets": _FLAT},
                   {"liquidation_fee_rate": "0", "partial_threshold_notional": "1000000", "step_fraction": "0.5",
                    "cooldown_seconds": "0", "backstop_ratio": "0.5", "markets": _FLAT}],
}
"""Two parameter sets per released version (a new version adds its own)."""

AT = datetime(2024, 8, 5, 12, 0, tzinfo=UTC)
LOTS = {"BTC-PERP": Decimal("0.001"), "ETH-PERP": Decimal("0.01")}


def _views() -> list[AccountView]:
    views = []
    for cash in ("300", "1500", "4000", "12000"):  # each with a mark just past maintenance, short of the backstop
        for mark in ("61000", "60050", "59250", "59000", "57580", "57500", "56000", "52200", "52000"):
            views.append(AccountView("long", "USD", Decimal(cash), (
                PositionView("BTC-PERP", Decimal("1.5"), Decimal("60000"), Decimal(mark), LOTS["BTC-PERP"]),)))
            short_mark = str(120000 - int(mark))
            views.append(AccountView("short", "USD", Decimal(cash), (
                PositionView("BTC-PERP", Decimal("-1.5"), Decimal("60000"), Decimal(short_mark), LOTS["BTC-PERP"]),)))
        views.extend(AccountView("cross", "USD", Decimal(cash), (
            PositionView("BTC-PERP", Decimal("0.8"), Decimal("60000"), Decimal("58500"), LOTS["BTC-PERP"]),
            PositionView("ETH-PERP", Decimal("-12"), Decimal("3000"), Decimal(eth), LOTS["ETH-PERP"]),
        )) for eth in ("3000", "3150", "3400"))
    return views


def _attrs(value: Any) -> dict[str, str | None]:
    import attrs

    return {f.name: (None if (v := getattr(value, f.name)) is None else v if isinstance(v, str) else to_str(v))
            for f in attrs.fields(type(value))}


def outputs(version: str) -> list[dict[str, Any]]:
    """The version's answers on every fixed input: margins, distress, target, triggers, liquidation prices, and for a
    distressed account each decision (closes, bankruptcy) with each close's explanation."""
    rule = registry.get(version)
    out = []
    for number, raw in enumerate(PARAMS[version]):
        params = rule.parse_params(raw)
        for view in _views():
            with arithmetic():
                case: dict[str, Any] = {
                    "params": number, "account": view.account, "cash": to_str(view.cash),
                    "marks": {p.market: to_str(p.mark) for p in view.positions},
                    "maintenance": to_str(rule.maintenance(view, params)), "initial": to_str(rule.initial(view, params)),
                    "target": to_str(rule.target(view, params)),
                    "distressed": rule.is_distressed(view, params),
                    "liquidation_prices": {p.market: None if (price := rule.liquidation_price(view, p.market, params))
                                           is None else to_str(price) for p in view.positions},
                }
                if not case["distressed"]:
                    case["triggers"] = [[t.market, t.long, to_str(t.price)] for t in rule.triggers(view, params)]
                else:
                    case["decisions"] = {}
                    for name, context in _contexts():
                        decision = rule.decide(view, params, context)
                        case["decisions"][name] = {
                            "closes": [{**_attrs(c), "explanation": rule.explain(view, params, c)} for c in decision.closes],
                            "bankruptcy": None if decision.bankruptcy is None else _attrs(decision.bankruptcy),
                        }
            out.append(case)
    return out


def _contexts() -> list[tuple[str, DecisionContext]]:
    return [
        ("fund covers all", DecisionContext(AT, Decimal("1000000"), None)),
        ("empty fund", DecisionContext(AT, Decimal("0"), None)),
        ("partial close 10 s before", DecisionContext(AT, Decimal("500"), AT - timedelta(seconds=10))),
    ]


def path_of(version: str) -> Path:
    return GOLDEN / f"{version}.json"


def write(version: str) -> Path:
    """Store a new version's golden vectors; refuses to rewrite a released version's."""
    path = path_of(version)
    if path.exists():
        raise SystemExit(f"{path} exists: a released version's golden vectors are never rewritten")
    cases = [json.dumps(case, sort_keys=True, ensure_ascii=False) for case in outputs(version)]
    path.write_text("[\n" + ",\n".join(cases) + "\n]\n", encoding="utf-8")  # one case a line: a change reads as one
    return path


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(write(name))
