"""``report``: an HTML report for compliance, with charts (matplotlib).

One chart per distressed account (every account the engine ever liquidated or
declared bankrupt): equity and maintenance margin over time, liquidation
points marked. Tables of liquidations, bankruptcies and the open positions
at the head (margin mode, isolated margin, funding paid, liquidation price).
The page is self-contained: every chart is inlined as a data URI (the
PNG files are written beside it too). Optionally a what-if
section: actual against alternative outcomes, as a chart and a table.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.domain import events as ev
from ledger.domain.scales import EXACT, Figures
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import parse_time
from ledger.replay import load
from ledger.reports import records
from ledger.reports.balances import balances, position_rows
from ledger.reports.comparison_tables import MONEY_METRICS, account_table_rows, summary_table_rows
from ledger.reports.plotting import mdates, plt, ticker
from ledger.reports.provenance import Provenance, provenance_section
from ledger.reports.summary import comparison_summary
from ledger.reports.timeline import Series, account_series
from ledger.store import ProvenLog

__all__ = ["write_report", "open_positions"]


def _times(values: list[str]) -> list[datetime]:
    return [parse_time(v) for v in values]


def _chart(series: Series, path: Path, unit: str) -> None:
    """Equity, maintenance margin and the target a partial close restores, over the whole history; and, beside it,
    the same around the liquidations (the crash is minutes in a day: the whole-history panel squeezes it)."""
    times = _times(series.times)
    liquidated = _times([t for t, _, _ in series.liquidations])
    panels = 2 if liquidated else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels + 3, 4), squeeze=False)
    for number, ax in enumerate(axes[0]):
        # Decimals go to matplotlib as they are: only the drawing converts them to screen coordinates.
        ax.step(times, series.equity, where="post", label="equity")
        ax.step(times, series.maintenance, where="post", label="maintenance margin")
        ax.step(times, series.target, where="post", linestyle="--", label="partial-liquidation target")
        if liquidated:
            ax.scatter(liquidated, [e for _, e, _ in series.liquidations], color="red", zorder=3, label="liquidation")
        if number == 1:  # around the liquidations: from a little before the first to a little after the last
            margin = max((liquidated[-1] - liquidated[0]) / 4, timedelta(minutes=2))
            ax.set_xlim(liquidated[0] - margin, liquidated[-1] + margin)
            ax.set_title("around the liquidations")
        else:
            ax.set_title(f"{series.account}: equity, maintenance margin and target")
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]  # as above
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel(unit)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _whatif_chart(comparison: dict[str, Any], path: Path) -> None:
    """Small multiples: one pair of bars per metric (their scales differ wildly)."""
    asset, figures = next(iter(comparison["summary"].items()))
    fig, axes = plt.subplots(2, 4, figsize=(12, 5))
    labels = [f"actual\n{', '.join(comparison['actual_versions'])}", f"what-if\n{comparison['alternative_version']}"]
    for ax, metric in zip(axes.flat, figures, strict=True):
        ax.bar(labels, [Decimal(figures[metric]["actual"]), Decimal(figures[metric]["alternative"])],
               color=["tab:blue", "tab:orange"])
        unit = f" ({asset})" if metric in MONEY_METRICS else ""
        ax.set_title(metric.replace("_", " ") + unit, fontsize=10)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"What-if comparison ({asset})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cumulative_chart(comparison: dict[str, Any], path: Path) -> None:
    """One figure: the closed notional accumulating over time, one step line per world (actual and each version)."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    curves = comparison["cumulative_notional"]
    every_time = sorted(at for points in curves.values() for at, _, _ in points)
    for world, points in curves.items():
        if not points:
            continue
        times = _times([every_time[0]] + [at for at, _, _ in points] + [every_time[-1]])
        totals = [Decimal(0)] + [Decimal(total) for _, _, total in points]
        label = f"actual ({', '.join(comparison['actual_versions'])})" if world == "actual" else world
        # from zero at the first close of any world to the last one: every line spans the same window
        ax.step(times, [*totals, totals[-1]], where="post", label=label)  # type: ignore[arg-type]  # it takes datetimes too
    ax.set_title("Cumulative closed notional over time, per rule version")
    assets = sorted({asset for points in curves.values() for _, asset, _ in points})
    ax.set_ylabel(f"closed notional ({', '.join(assets) or 'settle asset'})")
    ax.set_xlabel("time (UTC)")
    ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:,.0f}"))  # tick labels only: the figures are in the table
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]  # matplotlib leaves it unannotated
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]  # as above
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _versions_section(data: dict[str, Any], out: Path, figures: Figures) -> list[str]:
    """Several versions side by side (``Comparison.to_json``): the cumulative chart, then the figures per asset, at
    each asset's display scale."""
    worlds = ["actual", *data["versions"]]
    _cumulative_chart(data, out / "versions.png")
    parts = ["<h2>What-if: rule versions side by side</h2>",
             "<img src='versions.png' alt='cumulative closed notional over time per rule version'>"]
    for asset in data["summary"]:
        rows = [row for row in summary_table_rows(data, figures) if row["asset"] == asset]
        parts += [f"<h3>{html.escape(asset)}</h3>", _table(rows, ["metric", *worlds])]
    parts.append(_table(account_table_rows(data, figures), ["account", *(f"equity_{w}" for w in worlds)]))
    return parts


def _whatif_section(data: dict[str, Any], out: Path, figures: Figures) -> list[str]:
    """One alternative against what happened (``WhatIf.to_json``): the chart, then per asset the figures at its
    display scale, as the CLI's tables print them, then each account's."""
    parts: list[str] = []
    if data["summary"]:
        _whatif_chart(data, out / "whatif.png")
        parts += ["<h2>What-if: actual against alternative</h2>", "<img src='whatif.png' alt='what-if comparison'>"]
    for asset in data["summary"]:
        rows = [row for row in summary_table_rows(data, figures) if row["asset"] == asset]
        parts += [f"<h3>{html.escape(asset)}</h3>", _table(rows, ["metric", "actual", "alternative", "difference"])]
    parts.append(_table(account_table_rows(data, figures), list(data["accounts"][0]) if data["accounts"] else ["account"]))
    return parts


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows
    )
    # a table wider than the page scrolls in its own box: the page itself never grows wider than the window
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def open_positions(state: LedgerState, figures: Figures) -> list[dict[str, Any]]:
    """One row per open position, from the balances report, at the display scales a table uses."""
    report = balances(state)
    return [{**row, "isolated_margin": row.get("isolated_margin") or ""} for row in position_rows(report, figures)
            if Decimal(report["accounts"][row["account"]]["positions"][row["market"]]["size"]) != 0]


def write_report(store: ProvenLog, out: Path, comparison: dict[str, Any] | None = None,
                 progress: Callable[[int], None] | None = None, figures: Figures = EXACT,
                 sweep_rows: list[dict[str, Any]] | None = None, allocation: dict[str, Any] | None = None,
                 provenance: Provenance | None = None) -> Path:
    """The report's page (and its charts, inlined): figures in its tables at ``figures``' display scales; with
    ``comparison`` a what-if section, with ``allocation`` the loss-allocation policies side by side, with
    ``sweep_rows`` a sweep's heatmaps."""
    out.mkdir(parents=True, exist_ok=True)
    head = load.state_at(store)
    engine_rows = records.engine_events(store, types=["bankruptcy", "liquidation"])
    accounts = sorted({name for _, e in engine_rows for name in ev.accounts_of(e)})
    series = account_series(store, accounts, progress)
    sections: list[str] = []
    settle = sorted({market.settle_asset for market in head.markets.values()})
    unit = settle[0] if len(settle) == 1 else "settle asset"
    for name in accounts:
        image = f"account-{len(sections)}.png"
        _chart(series[name], out / image, unit)
        sections.append(f"<h3>{html.escape(name)}</h3><img src='{image}' alt='equity and maintenance of {html.escape(name)}'>")
    liquidations = records.record_table_rows(
        [records.liquidation_record(row, e) for row, e in engine_rows if isinstance(e, ev.Liquidation)], figures)
    bankruptcies = records.record_table_rows(
        [records.bankruptcy_record(row, e) for row, e in engine_rows if isinstance(e, ev.Bankruptcy)], figures)
    words = comparison_summary(comparison) if comparison is not None else []
    head_hash = store.verify().head_hash
    parts = [
        "<h1>Liquidation report</h1>",
        *(provenance_section(provenance, head, head_hash, _table) if provenance is not None else []),
        (f"<p>{len(liquidations)} liquidations, {len(bankruptcies)} bankruptcies, {len(accounts)} distressed accounts. "
        f"Hash chain head: <code>{head_hash}</code>.</p>"),
        *(f"<p class='summary'>{html.escape(line)}</p>" for line in words),  # a paragraph per asset, per world
        "<h2>Distressed accounts</h2>", *sections,
        "<h2>Liquidations</h2>",
        _table(liquidations, ["id", "at", "account", "market", "side", "qty", "price", "penalty", "rule_version",
                              "trigger", "equity_before", "maintenance_before", "target_before", "equity_after"]),
        "<h2>Bankruptcies</h2>",
        _table(bankruptcies, ["id", "at", "account", "market", "deficit", "insurance_covered", "socialized_loss"]),
        "<h2>Open positions</h2>",
        ("<p>At the head of the log. The liquidation price is the mark at which the rules in force would first find the "
         "account (cross) or the position (isolated) distressed, every other mark unchanged; shown at the price scale, "
         "rounded toward the side that liquidates earlier. Figures are shown at each asset's and lot's scale; "
         "<code>ledger balances --format json</code> has them exactly.</p>"),
        _table(open_positions(head, figures), ["account", "market", "size", "entry_price", "mark_price",
                                                      "margin_mode", "isolated_margin", "funding_paid", "liquidation_price"]),
    ]
    if comparison is not None and "versions" in comparison:  # several versions (``Comparison.to_json``)
        parts += _versions_section(comparison, out, figures)
    elif comparison is not None:  # one what-if's JSON (``WhatIf.to_json``): metrics in their order, per asset
        parts += _whatif_section(comparison, out, figures)
    if allocation is not None:  # the loss-allocation policies side by side (``Comparison.to_json``)
        from ledger.reports.allocation_charts import allocation_section

        parts += allocation_section(allocation, out, figures, _table)
    if sweep_rows is not None:
        from ledger.reports.sweep_charts import sweep_section

        parts += sweep_section(sweep_rows, out, figures)
    style = ("body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;margin:1em 0} "
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px} td{text-align:right} "
             "img{max-width:100%;height:auto} dt{font-weight:bold} dd{margin:0 0 .4em 1em} "
             "dd code,code{overflow-wrap:anywhere} .wide{overflow-x:auto;max-width:100%}")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>Liquidation report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    index = out / "index.html"
    index.write_text(_embedded(page, out), encoding="utf-8")
    return index


_IMAGE = re.compile(r"<img src='([^'/]+\.png)'")


def _embedded(page: str, out: Path) -> str:
    """Every chart inlined as a data URI: the page alone is the whole report (mail it, open it offline).

    The PNG files stay beside it for whoever wants them one by one.
    """
    def inline(found: re.Match[str]) -> str:
        data = base64.b64encode((out / found.group(1)).read_bytes()).decode("ascii")
        return f"<img data-file='{found.group(1)}' src='data:image/png;base64,{data}'"

    return _IMAGE.sub(inline, page)
