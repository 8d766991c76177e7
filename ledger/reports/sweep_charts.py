"""Heatmaps of a rule sweep (``ledger sweep --format json``): one per figure, over the grid's first two parameters.

A risk team reads a sweep as a surface: where penalties rise, where
bankruptcies start, where accounts are wiped out. Each figure gets its own
heatmap per version and settle asset: rows are the first varied parameter's
values, columns the second's (a one-parameter sweep is a single row), every
cell annotated with its exact figure rounded for display. A heatmap has two
axes: each value of every further varied parameter (or loss-allocation
policy) gets heatmaps of its own, titled with the values it holds.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy

from ledger.domain.scales import Figures
from ledger.reports.plotting import plt

__all__ = ["sweep_section", "varied_keys", "FIGURES"]

FIGURES = ("liquidations", "closed_notional", "penalties", "bankruptcies", "socialized_loss", "insurance_fund_end",
           "accounts_wiped_out")
_STEPS = 1000
"""Colour steps between a heatmap's lowest and highest figure."""
_FIXED = {"candidate", "version", "asset", "refused_events", *FIGURES, "adl_fills", "adl_notional", "accounts_hit",
          "losing_positions_hit", "largest_haircut_share"}
"""A row's columns that are not the grid's parameters (its figures, a loss-allocation policy's included)."""


def varied_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The grid's parameters, in the rows' order (every key a sweep row has beyond its fixed columns)."""
    return [key for key in rows[0] if key not in _FIXED] if rows else []


def _order(value: str) -> tuple[int, Decimal, str]:
    """Figures in numeric order, then names (a loss-allocation policy) in text order."""
    try:
        return 0, Decimal(value), ""
    except InvalidOperation:
        return 1, Decimal(0), value


def _sorted_values(rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    return sorted({row[key] for row in rows}, key=_order)


def _heatmap(rows: Sequence[dict[str, Any]], figure: str, y_key: str, x_key: str | None, title: str, path: Path,
             figures: Figures) -> None:
    ys = _sorted_values(rows, y_key)
    xs = _sorted_values(rows, x_key) if x_key else [""]
    cells = {(row[y_key], row[x_key] if x_key else ""): Decimal(row[figure]) for row in rows}
    grid = [[cells.get((y, x)) for x in xs] for y in ys]
    # The colour of a cell is its place between the lowest and the highest figure, in whole steps of 1/1000 (no float
    # touches a figure); the colour bar is labelled with the figures themselves, and every cell with its own.
    present = [v for line in grid for v in line if v is not None]
    low, high = min(present), max(present)
    span = high - low

    def step(value: Decimal | None) -> int:
        if value is None:
            return -1
        return 0 if span == 0 else int((value - low) * _STEPS / span)

    shade = numpy.ma.masked_less([[step(v) for v in line] for line in grid], 0)
    fig, ax = plt.subplots(figsize=(1.6 * len(xs) + 3, 0.7 * len(ys) + 2))
    image = ax.imshow(shade, cmap="viridis", aspect="auto", vmin=0, vmax=_STEPS)
    bar = fig.colorbar(image, ax=ax, ticks=[0, _STEPS])
    asset = rows[0]["asset"]
    counts = figure in ("liquidations", "bankruptcies", "accounts_wiped_out")
    bar.ax.set_yticklabels([str(v) if counts else figures.money(v, asset) for v in (low, high)])
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(x_key or "")
    ax.set_ylabel(y_key)
    ax.set_title(title, fontsize=10)
    for i, line in enumerate(grid):
        for j, value in enumerate(line):
            if value is not None:
                text = str(value) if counts else figures.money(value, asset)
                ax.text(j, i, text, ha="center", va="center", color="white", fontsize=8,
                        bbox={"facecolor": "black", "alpha": 0.35, "pad": 1, "linewidth": 0})
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def sweep_section(rows: Sequence[dict[str, Any]], out: Path, figures: Figures) -> list[str]:
    """The report's HTML for a sweep: a heatmap per figure, version and asset (images written into ``out``)."""
    keys = varied_keys(rows)
    if not rows or not keys:
        return ["<h2>Rule sweep</h2>", "<p>The sweep has no rows, or varied no parameter.</p>"]
    y_key, x_key, further = keys[0], keys[1] if len(keys) > 1 else None, keys[2:]
    parts = ["<h2>Rule sweep</h2>",
             f"<p>{len({r['candidate'] for r in rows})} candidates; rows: {html.escape(y_key)}"
             + (f", columns: {html.escape(x_key)}" if x_key else "")
             + (f"; one set of heatmaps for each value of {html.escape(', '.join(further))} (every slice)"
                if further else "")
             + ".</p>"]
    groups: dict[tuple[str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for row in rows:  # a heatmap has two axes: every further parameter's value is a slice of its own, none left out
        groups.setdefault((row["version"], row["asset"], tuple(row[k] for k in further)), []).append(row)
    for (version, asset, held), group in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1],
                                                                                 [_order(v) for v in g[0][2]])):
        label = ", ".join([version, asset, *(f"{k}={v}" for k, v in zip(further, held, strict=True))])
        parts.append(f"<h3>{html.escape(label)}</h3>")
        for figure in FIGURES:
            image = f"sweep-{len(parts)}.png"
            _heatmap(group, figure, y_key, x_key, f"{figure} ({label})", out / image, figures)
            parts.append(f"<img src='{image}' alt='{html.escape(figure)} heatmap, {html.escape(label)}'>")
    return parts
