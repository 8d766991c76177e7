"""A history on real prices: an exchange's OHLC bars turned into marks, with traders exposed to them.

Reads one bar series (the layouts of ``../shared/data``, see its README):

- Binance's public kline dump, or the 1-minute file there:
  ``open_time,open,high,low,close[,...]`` with ``open_time`` in epoch
  milliseconds, oldest first (a header row is optional);
- CryptoDataDownload's hourly files: ``unix,date,symbol,open,high,low,close,...``
  with ``unix`` in epoch seconds, newest first.

Each bar becomes marks inside it, so the engine sees the worst price of the
bar and not only its close: for a down bar (close < open) the high, then the
low; for an up bar the low, then the high; then the close at the bar's end
(its close is known only then). Prices are read as decimal text, never
through float. Forty traders (longs and shorts, 3x to 25x, four of them
isolated) face a market maker from the first bar's open under partial-v1,
and funding is paid at 00:00, 08:00 and 16:00 UTC inside the series. The
same input gives the same file.

Usage: python examples/real_history.py BARS.csv OUT.jsonl [--market BTC-PERP]   (prints the market it used;
by default the file's: ETH bars make ETH-PERP)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

RATES = {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}
LOT = Decimal("0.001")
ISOLATED = {3: Decimal("0.8"), 7: Decimal("0.7"), 14: Decimal("0.9"), 22: Decimal("0.75")}
FUNDING_HOURS = (0, 8, 16)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_bars(path: Path) -> list[tuple[datetime, timedelta, Decimal, Decimal, Decimal, Decimal]]:
    """(open time, bar length, open, high, low, close), oldest first, from either layout."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and not rows[0][0].replace(".", "").isdigit():  # a header
        header, rows = [h.strip().lower() for h in rows[0]], rows[1:]
    else:
        header = ["open_time", "open", "high", "low", "close"]
    if header[0] == "unix":  # CryptoDataDownload: epoch seconds, newest first
        bars = [(datetime.fromtimestamp(int(Decimal(r[0])), UTC), *(Decimal(r[i]) for i in (3, 4, 5, 6))) for r in rows]
    else:  # Binance klines: epoch milliseconds
        bars = [(datetime.fromtimestamp(int(r[0]) // 1000, UTC), *(Decimal(r[i]) for i in (1, 2, 3, 4))) for r in rows]
    bars.sort(key=lambda bar: bar[0])
    length = bars[1][0] - bars[0][0] if len(bars) > 1 else timedelta(minutes=1)
    return [(at, length, o, h, low, c) for at, o, h, low, c in bars]


def history(bars: list, market: str) -> list[dict]:
    rng = random.Random(20200312)
    start, first_open = bars[0][0], bars[0][2]
    at = start - timedelta(minutes=10)  # the book is opened before the first bar
    out: list[dict] = [
        {"type": "market_listed", "id": f"m-{market}", "at": stamp(at), "market": market, "settle_asset": "USD",
         "lot_size": str(LOT)},
        {"type": "rules_activated", "id": "r-partial-v1", "at": stamp(at), "version": "partial-v1",
         "params": {"liquidation_fee_rate": "0.002", "target_buffer": "1", "markets": {market: RATES}}},
        {"type": "deposit", "id": "d-mm", "at": stamp(at), "account": "market-maker", "asset": "USD", "amount": "50000000"},
    ]
    for i in range(40):
        name = f"trader-{i:02d}"
        collateral = rng.randrange(2_000, 20_000, 500)
        leverage = rng.choice([3, 5, 8, 10, 15, 20, 25])
        side = "buy" if i % 4 else "sell"
        qty = (Decimal(collateral * leverage) / first_open // LOT) * LOT
        out.append({"type": "deposit", "id": f"d-{name}", "at": stamp(at), "account": name, "asset": "USD",
                    "amount": str(collateral)})
        if i in ISOLATED:
            out.append({"type": "margin_mode", "id": f"mm-{name}", "at": stamp(at), "account": name, "market": market,
                        "mode": "isolated"})
            out.append({"type": "isolated_margin", "id": f"im-{name}", "at": stamp(at), "account": name,
                        "market": market, "amount": str(collateral * ISOLATED[i])})
        fee = (qty * first_open * Decimal("0.0004")).quantize(Decimal("0.01"))
        out.append({"type": "trade", "id": f"t-{name}", "at": stamp(at), "account": name, "market": market,
                    "side": side, "qty": str(qty), "price": str(first_open), "fee": str(fee)})
        out.append({"type": "trade", "id": f"t-mm-{name}", "at": stamp(at), "account": "market-maker", "market": market,
                    "side": "sell" if side == "buy" else "buy", "qty": str(qty), "price": str(first_open), "fee": "0"})
    for n, (opened, length, o, h, low, c) in enumerate(bars):
        extremes = (h, low) if c < o else (low, h)
        for k, price in enumerate(extremes, start=1):
            out.append({"type": "mark", "id": f"k-{n:05d}-{k}", "at": stamp(opened + length * k / 3), "market": market,
                        "price": str(price)})
        closed = opened + length
        out.append({"type": "mark", "id": f"k-{n:05d}-c", "at": stamp(closed), "market": market, "price": str(c)})
        if closed.minute == 0 and closed.second == 0 and closed.hour in FUNDING_HOURS:
            rate = "-0.0003" if c < bars[0][2] else "0.0001"  # shorts crowd in after a fall: negative funding
            out.append({"type": "funding", "id": f"f-{stamp(closed)}", "at": stamp(closed), "market": market, "rate": rate})
    return out


def market_of(path: Path) -> str | None:
    """The perpetual the bars price: ``ETH/USDT`` in a CryptoDataDownload file's ``symbol`` column, or ``ETHUSDT`` in
    a Binance dump's name, gives ``ETH-PERP`` (ETH prices are never traded as BTC-PERP); None if neither says."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(2), csv.reader(handle), strict=False)]
    if len(rows) == 2 and "symbol" in [h.strip().lower() for h in rows[0]]:
        symbol = rows[1][[h.strip().lower() for h in rows[0]].index("symbol")]
        return f"{symbol.split('/')[0].strip().upper()}-PERP"
    found = re.search(r"([A-Z]{2,10})USDT?", path.name)
    return f"{found.group(1)}-PERP" if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bars", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--market", help="default: from the file (its symbol column, or its name)")
    args = parser.parse_args()
    market = args.market or market_of(args.bars)
    if market is None:
        parser.error(f"cannot tell which market {args.bars} prices: give --market (e.g. BTC-PERP)")
    with args.out.open("w", encoding="utf-8") as handle:
        for record in history(read_bars(args.bars), market):
            handle.write(json.dumps(record) + "\n")
    print(market)


if __name__ == "__main__":
    main()
