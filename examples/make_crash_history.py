"""A deterministic history with a sharp price crash, for the main job and tests.

Forty traders (longs and shorts, 5x to 60x) face a market maker on BTC-PERP
and ETH-PERP under partial-v1; four of them fence their position off with
isolated margin (``ISOLATED``: most of their collateral moved in, the rest
left as cross cash). Marks every ten seconds walk quietly, then BTC
flash-crashes by about 8.5% over a few minutes and recovers most of it; ETH
follows. Then hourly marks for the rest of the day, and funding every 8 hours
(08:00, 16:00 and 00:00 UTC; negative after the crash, when shorts crowd in).
Every figure is a decimal string computed from integers: the same file every
run.

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
ISOLATED = {3: Decimal("0.8"), 7: Decimal("0.7"), 14: Decimal("0.9"), 22: Decimal("0.75")}
"""trader number -> the share of its collateral moved into isolated margin for its one position"""
FUNDING = [(8 * 60, "0.0001", "0.00012"), (16 * 60, "-0.0003", "-0.0002"), (24 * 60, "0.0001", "0.0001")]
"""(minute, BTC-PERP rate, ETH-PERP rate): every 8 hours"""
WICK = [(20 * 60 + 5, -1500), (20 * 60 + 6, -600)]
"""(minute, ETH-PERP move from the open): a second, deeper crash, one mark gapping past every highly leveraged ETH
long's bankruptcy price; the insurance fund runs dry and the loss-allocation policy decides who pays the rest"""
LOSS_ALLOCATION = (12 * 60, "adl-ranked-v1", {"cash_quantum": "0.01"})
"""(minute, policy, params): the venue moves from socializing losses to a ranked ADL queue at noon"""
HOURLY_BP = {"BTC-PERP": [-190, -170, -160, -120, -90, -100, -60, -40], "ETH-PERP": [-170, -150, -150, -110, -80, -90, -50, -30]}
"""after the crash, an hourly mark cycling through these moves from the open"""
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
        if i in ISOLATED:
            out.append({"type": "margin_mode", "id": f"mm-{name}", "at": stamp(t), "account": name, "market": market,
                        "mode": "isolated"})
            out.append({"type": "isolated_margin", "id": f"im-{name}", "at": stamp(t), "account": name, "market": market,
                        "amount": str(collateral * ISOLATED[i])})
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
    funding = iter(FUNDING)
    due = next(funding)
    for hour in range(1, 25):
        for market, base in (("BTC-PERP", 60000), ("ETH-PERP", 3000)):
            path = HOURLY_BP[market]
            out.append({"type": "mark", "id": f"k-{market[:3].lower()}-h{hour:02d}", "at": stamp(hour * 60),
                        "market": market, "price": priced(base, path[hour % len(path)])})
        if hour * 60 == LOSS_ALLOCATION[0]:
            out.append({"type": "loss_allocation_activated", "id": "la-ranked", "at": stamp(hour * 60),
                        "version": LOSS_ALLOCATION[1], "params": LOSS_ALLOCATION[2]})
        for minute, bp in WICK if hour == WICK[0][0] // 60 else []:
            out.append({"type": "mark", "id": f"k-eth-wick-{minute}", "at": stamp(minute), "market": "ETH-PERP",
                        "price": priced(3000, bp)})
        if due is not None and hour * 60 == due[0]:
            for market, rate in (("BTC-PERP", due[1]), ("ETH-PERP", due[2])):
                out.append({"type": "funding", "id": f"f-{market[:3].lower()}-{hour:02d}h", "at": stamp(hour * 60),
                            "market": market, "rate": rate})
            due = next(funding, None)
    return out


def main() -> None:
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        for record in history():
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
