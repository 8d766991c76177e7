"""A deterministic history with a sharp price crash, for the main job and tests.

Forty traders (longs and shorts, 5x to 60x) face a market maker on BTC-PERP
and ETH-PERP under partial-v1. Marks every ten seconds walk quietly, then BTC
flash-crashes by about 8.5% over a few minutes and recovers most of it; ETH
follows. Every
figure is a decimal string computed from integers: the same file every run.

Usage: python examples/make_crash_history.py OUT.jsonl
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

START = datetime(2024, 8, 5, tzinfo=UTC)
RATES = {
    "BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
    "ETH-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"},
}
LOTS = {"BTC-PERP": Decimal("0.001"), "ETH-PERP": Decimal("0.01")}
BTC_PATH_BP = [0, 10, -15, 5, -40, -150, -350, -600, -850, -700, -450, -300, -250, -280, -240, -200]
ETH_PATH_BP = [0, 5, -10, 0, -30, -100, -250, -450, -650, -550, -380, -260, -220, -240, -210, -180]


def stamp(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def priced(base: int, bp: int) -> str:
    return str((Decimal(base) * (10000 + bp) / 10000).quantize(Decimal("0.01")))


def _fine(path_bp: list[int], steps: int = 6) -> list[int]:
    """Marks every 10 seconds: each minute of the path split into ``steps`` even moves."""
    out = []
    for a, b in itertools.pairwise(path_bp):
        out += [a + (b - a) * k // steps for k in range(steps)]
    return out + path_bp[-1:]


def history() -> list[dict]:
    rng = random.Random(20240805)
    out: list[dict] = []
    for market, lot in LOTS.items():
        out.append({"type": "market_listed", "id": f"m-{market}", "at": stamp(0), "market": market,
                    "settle_asset": "USD", "lot_size": str(lot)})
    out.append({"type": "rules_activated", "id": "r-partial-v1", "at": stamp(0), "version": "partial-v1",
                "params": {"liquidation_fee_rate": "0.002", "target_buffer": "1", "markets": RATES}})
    out.append({"type": "deposit", "id": "d-mm", "at": stamp(1), "account": "market-maker", "asset": "USD",
                "amount": "5000000"})
    t = 1.0
    for i in range(40):
        name = f"trader-{i:02d}"
        collateral = rng.randrange(2_000, 20_000, 500)
        leverage = rng.choice([3, 5, 8, 10, 15, 20, 25])
        market = "BTC-PERP" if i % 3 else "ETH-PERP"
        side = "buy" if i % 4 else "sell"
        price = Decimal(60000 if market == "BTC-PERP" else 3000)
        qty = (Decimal(collateral * leverage) / price // LOTS[market]) * LOTS[market]
        t += 0.05
        out.append({"type": "deposit", "id": f"d-{name}", "at": stamp(t), "account": name, "asset": "USD",
                    "amount": str(collateral)})
        fee = (qty * price * Decimal("0.0005")).quantize(Decimal("0.01"))
        out.append({"type": "trade", "id": f"t-{name}", "at": stamp(t), "account": name, "market": market,
                    "side": side, "qty": str(qty), "price": str(price), "fee": str(fee)})
        out.append({"type": "trade", "id": f"t-mm-{name}", "at": stamp(t), "account": "market-maker", "market": market,
                    "side": "sell" if side == "buy" else "buy", "qty": str(qty), "price": str(price), "fee": "0"})
    for step, (btc, eth) in enumerate(zip(_fine(BTC_PATH_BP), _fine(ETH_PATH_BP), strict=True)):
        minute = 10 + step / 6
        out.append({"type": "mark", "id": f"k-btc-{step:02d}", "at": stamp(minute), "market": "BTC-PERP",
                    "price": priced(60000, btc)})
        out.append({"type": "mark", "id": f"k-eth-{step:02d}", "at": stamp(minute + 1 / 12), "market": "ETH-PERP",
                    "price": priced(3000, eth)})
    return out


def main() -> None:
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        for record in history():
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
