"""The report's loss-allocation section: the policies side by side on the same crash (``report --loss-allocation``).

A risk team choosing between socializing a loss and deleveraging traders
(ranked or pro-rata) wants to see, on one history, how each policy paid the
bankruptcies' deficit and whom it made pay. Per settle asset, one chart
stacks each world's deficit into what the insurance fund paid, what
auto-deleveraging took from counterparties and what was socialized; the
tables beside it give the exact figures (at the asset's display scale) and
the accounts that paid most in each world. The words above them are
``summary.loss_allocation_summary``.
"""

from __future__ import annotations

import html
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.domain.scales import Figures
from ledger.reports.comparison_tables import LOSS_COLUMNS, PAYER_COLUMNS, loss_allocation_rows, payer_rows
from ledger.reports.plotting import plt, ticker
from ledger.reports.summary import loss_allocation_summary

__all__ = ["allocation_section", "SHARES"]

SHARES = (("insurance_fund_used", "insurance fund", "tab:blue"), ("adl_covered", "auto-deleveraging", "tab:orange"),
          ("socialized_loss", "socialized", "tab:red"))
"""How a deficit is paid, in the order the chart stacks it: (figure, legend, colour)."""


def _world_names(data: dict[str, Any]) -> list[str]:
    """The worlds as the chart names them: the actual one with the policies that allocated in it."""
    return [f"actual ({', '.join(found['policies']) or 'none'})" if world == "actual" else world
            for world, found in data["loss_allocation"].items()]


def _chart(data: dict[str, Any], asset: str, path: Path) -> None:
    """Left: one bar per world, its deficit stacked into the three ways it was paid. Right: what the accounts that
    paid most (in any world) paid in each world, one bar per world."""
    worlds, names = list(data["loss_allocation"]), _world_names(data)
    fig, (paid, whom) = plt.subplots(1, 2, figsize=(13, 1.8 + 0.9 * len(worlds)))
    left = [Decimal(0)] * len(worlds)
    for figure, legend, colour in SHARES:
        widths = [Decimal(data["loss_allocation"][w][figure].get(asset, "0")) for w in worlds]
        paid.barh(names, widths, left=left, color=colour, label=legend)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    paid.invert_yaxis()  # the actual world first, as in the tables
    paid.set_xlabel(f"deficit of the bankruptcies ({asset})")
    paid.set_title(f"How each world paid its bankruptcies ({asset})")
    paid.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3)
    _payers(data, asset, worlds, names, whom)
    for ax in (paid, whom):
        ax.xaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))  # tick labels only: the table has figures
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


_MOST = 6
"""Accounts the who-paid panel shows: those that paid most in any world."""


def _payers(data: dict[str, Any], asset: str, worlds: list[str], names: list[str], ax: Any) -> None:
    paid = {w: {p["account"]: Decimal(p["haircut"]) for p in data["loss_allocation"][w].get("paid_by", [])
                if p["asset"] == asset} for w in worlds}
    largest: dict[str, Decimal] = {}
    for amounts in paid.values():
        for account, haircut in amounts.items():
            largest[account] = max(largest.get(account, Decimal(0)), haircut)
    accounts = sorted(largest, key=lambda a: (-largest[a], a))[:_MOST]
    height = 0.8 / max(len(worlds), 1)
    for n, (world, name) in enumerate(zip(worlds, names, strict=True)):
        ys = [k + n * height for k in range(len(accounts))]
        ax.barh(ys, [paid[world].get(a, Decimal(0)) for a in accounts], height=height, label=name)
    ax.set_yticks([k + 0.4 - height / 2 for k in range(len(accounts))], accounts)
    ax.invert_yaxis()
    ax.set_xlabel(f"haircut paid ({asset})")
    ax.set_title("Who paid: the largest haircuts in any world")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(len(worlds), 3))


def allocation_section(data: dict[str, Any], out: Path, figures: Figures, table: Any) -> list[str]:
    """The section's HTML parts for a comparison of policies (``Comparison.to_json`` with ``loss_allocation``);
    ``table`` renders rows as an HTML table (the report's own)."""
    parts = ["<h2>Loss allocation: policies side by side</h2>",
             ("<p>Each world replays the same history under the rules in force, allocating what the insurance fund "
              "cannot cover with its own loss-allocation policy (<code>actual</code>: the policies in force).</p>")]
    words = loss_allocation_summary(data)
    if words:
        parts.append(f"<p class='summary'>{html.escape(' '.join(words))}</p>")
    assets = sorted({asset for found in data["loss_allocation"].values() for asset in found.get("deficit", {})})
    for number, asset in enumerate(assets):
        image = f"allocation-{number}.png"
        _chart(data, asset, out / image)
        parts += [f"<h3>{html.escape(asset)}</h3>",
                  f"<img src='{image}' alt='how each world paid its bankruptcies in {html.escape(asset)}'>"]
    parts.append(table(loss_allocation_rows(data, figures), LOSS_COLUMNS))
    payers = payer_rows(data, figures, most=10)
    if payers:
        parts += ["<h3>Who paid: the largest haircuts of each world (at most 10)</h3>", table(payers, PAYER_COLUMNS)]
    return parts
