"""The main job's last words: what happened, and what partial liquidation saved or cost against full, in sentences.

Reads the JSON of ``ledger whatif --rules full-v1 ... --format json`` (the
history as it happened under the rules in force, against the same history
under full-v1) on standard input and prints a short summary: how many
closes, how much notional and how many penalties each rule took, which
accounts ended better off under each and by how much, and the trade-off
behind it. Figures are read as decimals from the JSON's strings.

Usage: ledger whatif --rules full-v1 --params P.json --format json | python examples/summarize.py [REPORT]
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal


def _equity(text: str) -> Decimal:
    """``"USD 123.4"`` -> 123.4 (an account in one settle asset)."""
    return Decimal(text.split()[-1]) if text else Decimal(0)


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _pair(figures: dict, metric: str) -> tuple[Decimal, Decimal]:
    """(actual, alternative) of one metric."""
    return Decimal(figures[metric]["actual"]), Decimal(figures[metric]["alternative"])


def summary(data: dict, report: str | None) -> list[str]:
    actual = ", ".join(data["actual_versions"]) or "no rule"
    other = data["alternative_version"]
    lines = []
    for asset, figures in data["summary"].items():
        closes, notional, penalties, bankrupt = (
            _pair(figures, m) for m in ("liquidations", "notional_liquidated", "penalties", "bankruptcies"))
        lines.append(
            f"In {asset}, {actual} made {closes[0]} closes of {_money(notional[0])} notional with "
            f"{_money(penalties[0])} in penalties; {other} would have made {closes[1]} closes of "
            f"{_money(notional[1])} with {_money(penalties[1])} in penalties "
            f"({bankrupt[0]} and {bankrupt[1]} bankruptcies)."
        )
    better = [(a["account"], _equity(a["equity_actual"]) - _equity(a["equity_alternative"])) for a in data["accounts"]]
    gained = sorted((d, n) for n, d in better if d > 0)
    lost = sorted((d, n) for n, d in better if d < 0)
    if gained:
        lines.append(f"{len(gained)} accounts ended better off under {actual} (together {_money(sum(d for d, _ in gained))} "
                     f"more equity; most: {gained[-1][1]}, +{_money(gained[-1][0])}): a partial close left them a "
                     "position that recovered with the price.")
    if lost:
        lines.append(f"{len(lost)} accounts ended worse off under {actual} (together {_money(-sum(d for d, _ in lost))} "
                     f"less; most: {lost[0][1]}, {_money(lost[0][0])}): the position a partial close kept open was hit "
                     "again as the price moved further against it, and each close paid its penalty, where one full close "
                     "at the first breach would have kept what was left.")
    if report:
        lines.append(f"The report with the charts is {report}.")
    return lines


def main() -> None:
    data = json.load(sys.stdin)
    print("\n".join(summary(data, sys.argv[1] if len(sys.argv) > 1 else None)))


if __name__ == "__main__":
    main()
