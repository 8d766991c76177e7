"""What-if, comparison and sweep results as table rows: money at its asset's display scale.

The results (``ledger.compliance.whatif``, ``ledger.compliance.sweep``) are
exact JSON-ready data; a table for people shows money at its asset's scale
and leaves counts and quantities exact. JSON and CSV print the results as
they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.domain.scales import Figures

__all__ = ["MONEY_METRICS", "summary_table_rows", "account_table_rows", "sweep_table_rows", "loss_allocation_rows", "payer_rows",
           "LOSS_COLUMNS", "PAYER_COLUMNS"]

SweepRow = dict[str, Any]

MONEY_METRICS = {"notional_liquidated", "penalties", "insurance_fund_used", "socialized_loss", "insurance_fund_end"}
"""Metrics that are money of their asset (the rest are counts, or quantities summed over markets, shown exactly)."""


def summary_table_rows(data: dict[str, Any], figures: Figures) -> list[dict[str, str]]:
    """The JSON's ``summary`` (of a what-if or a comparison) as table rows: money at its asset's display scale."""
    rows = []
    for asset, metrics in data["summary"].items():
        for metric, values in metrics.items():
            shown = {k: figures.money(v, asset) for k, v in values.items()} if metric in MONEY_METRICS else values
            rows.append({"asset": asset, "metric": metric, **shown})
    return rows


def account_table_rows(data: dict[str, Any], figures: Figures) -> list[dict[str, str]]:
    """The JSON's ``accounts`` as table rows: each equity cell (``USD 123.45 ...``) at its asset's scale, and an
    account's notional and penalties at its settle asset's when it has one (summed over assets they stay exact)."""
    rows = []
    for account in data["accounts"]:
        row = dict(account)
        assets = set()
        for key, value in account.items():
            if key.startswith("equity_") and value:
                pairs = value.split()
                assets |= set(pairs[0::2])
                row[key] = " ".join(f"{a} {figures.money(v, a)}" for a, v in zip(pairs[0::2], pairs[1::2], strict=True))
        if len(assets) == 1:
            (asset,) = assets
            row.update({k: figures.money(v, asset) for k, v in account.items()
                        if k.startswith(("notional_", "penalties_"))})
        rows.append(row)
    return rows


_MONEY = ("closed_notional", "penalties", "socialized_loss", "insurance_fund_end")


def sweep_table_rows(rows: Sequence[SweepRow], figures: Figures) -> list[SweepRow]:
    """Sweep rows for a table: money at its asset's display scale (JSON and CSV keep it exact)."""
    return [{**row, **{k: figures.money(row[k], row["asset"]) for k in _MONEY}} for row in rows]


_ALLOCATION_MONEY = ("deficit", "insurance_fund_used", "adl_covered", "socialized_loss", "adl_notional")

LOSS_COLUMNS = ["world", "asset", "deficit", "insurance_fund_used", "adl_covered", "socialized_loss", "adl_fills",
                "adl_notional", "accounts_hit", "losing_positions_hit", "largest_haircut_share"]
"""A loss-allocation row's columns: how each world paid its bankruptcies' deficit, and what its deleveraging did."""


def loss_allocation_rows(data: dict[str, Any], figures: Figures) -> list[dict[str, Any]]:
    """The JSON's ``loss_allocation`` as rows, one per world and settle asset: money at its asset's display scale.

    A comparison's worlds carry how the deficit was paid and the deleveraging figures; a single what-if's
    (``actual`` and ``alternative``) carry the deleveraging figures only, and leave the other cells empty."""
    rows: list[dict[str, Any]] = []
    for world, found in data["loss_allocation"].items():
        deleveraging = found.get("deleveraging", found)
        paid = {figure: found.get(figure, {}) for figure in ("deficit", "insurance_fund_used", "adl_covered",
                                                             "socialized_loss")}
        assets = sorted(set(deleveraging) | {asset for values in paid.values() for asset in values})
        for asset in assets:
            row = {"world": world, "asset": asset, **{figure: values.get(asset) for figure, values in paid.items()},
                   **deleveraging.get(asset, {"adl_fills": "0"})}
            rows.append({k: figures.money(v, asset) if k in _ALLOCATION_MONEY and v is not None else v
                         for k, v in row.items()})
    return rows


PAYER_COLUMNS = ["world", "account", "asset", "fills", "qty", "haircut"]


def payer_rows(data: dict[str, Any], figures: Figures, most: int | None = None) -> list[dict[str, Any]]:
    """Who paid in each world of a comparison (``paid_by``): one row per account and asset, largest haircut first,
    at most ``most`` per world."""
    return [{"world": world, **payer, "haircut": figures.money(payer["haircut"], payer["asset"])}
            for world, found in data["loss_allocation"].items() for payer in found.get("paid_by", [])[:most]]
