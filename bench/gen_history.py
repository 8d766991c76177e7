"""Deterministic synthetic histories for benchmarks and long tests.

A realistic mix: a few markets, many accounts depositing, trading both sides
of each fill, and marks on a seeded random walk. Written as contract JSON
Lines. Usage: python bench/gen_history.py N_EVENTS OUT.jsonl [--accounts K] [--seed S] [--thin T] [--switch-at F]
[--drift D]
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta

MARKETS = {"BTC-PERP": ("0.001", 60000), "ETH-PERP": ("0.01", 3000), "SOL-PERP": ("0.1", 150)}
RATES = {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}


SWITCHED = {"liquidation_fee_rate": "0.0025", "target_buffer": "0.3"}
"""The partial-v1 parameters a rule change mid-history (``switch_at``) activates (the markets' rates kept)."""


def generate(n_events: int, accounts: int = 1000, seed: int = 7, rules: bool = True, thin: float = 0.0,
             switch_at: float | None = None, drift: float = 0.0):
    """The history's records. ``thin``: the share of accounts that open with 3,000 USD instead of 1,000,000 (drawn
    with a generator of their own, so the rest of the history is the same): their positions can be liquidated
    under stricter rates, as the sweep benchmark's candidates need. ``switch_at``: the share of the events after
    which a rule change activates partial-v1 with other parameters (``SWITCHED``; the issue 28 history). ``drift``:
    added to every mark's relative move (a falling market at -0.0001: the thin longs are liquidated under the
    history's own rules, so a benchmark history has engine events to decide and outputs to compare; 0 draws the
    same history as before the option existed)."""
    switch = None if switch_at is None or not rules else int(n_events * switch_at)
    rng = random.Random(seed)
    thin_rng = random.Random(seed + 1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    tick = 0

    def at() -> str:
        return (start + timedelta(milliseconds=tick)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    for market, (lot, _) in MARKETS.items():
        yield {"type": "market_listed", "id": f"m-{market}", "at": at(), "market": market, "settle_asset": "USD", "lot_size": lot}
    if rules:
        yield {"type": "rules_activated", "id": "r-1", "at": at(), "version": "partial-v1",
               "params": {"liquidation_fee_rate": "0.002", "target_buffer": "0.25", "markets": dict.fromkeys(MARKETS, RATES)}}
    produced = len(MARKETS) + int(rules)
    for a in range(accounts):
        if produced >= n_events:
            return
        amount = "3000" if thin and thin_rng.random() < thin else "1000000"
        yield {"type": "deposit", "id": f"d-{a}", "at": at(), "account": f"acct{a:06d}", "asset": "USD", "amount": amount}
        produced += 1
    prices = {m: float(p) for m, (_, p) in MARKETS.items()}
    n = 0
    while produced < n_events:
        tick += 1
        n += 1
        if switch is not None and produced >= switch:
            switch = None
            yield {"type": "rules_activated", "id": "r-2", "at": at(), "version": "partial-v1",
                   "params": {**SWITCHED, "markets": dict.fromkeys(MARKETS, RATES)}}
            produced += 1
            continue
        roll = rng.random()
        market = rng.choice(list(MARKETS))
        lot, _ = MARKETS[market]
        if roll < 0.15:
            prices[market] *= 1 + rng.uniform(-0.002, 0.002) + drift
            yield {"type": "mark", "id": f"k-{n}", "at": at(), "market": market, "price": f"{prices[market]:.2f}"}
            produced += 1
        elif roll < 0.20:
            account = f"acct{rng.randrange(accounts):06d}"
            yield {"type": "deposit", "id": f"d-x{n}", "at": at(), "account": account, "asset": "USD",
                   "amount": f"{rng.randint(10, 5000)}"}
            produced += 1
        else:
            buyer, seller = rng.sample(range(accounts), 2)
            qty = f"{rng.randint(1, 50) * float(lot):.{len(lot.split('.')[1])}f}"
            price = f"{prices[market] * (1 + rng.uniform(-0.001, 0.001)):.2f}"
            for side, who in (("buy", buyer), ("sell", seller)):
                if produced >= n_events:
                    return
                yield {"type": "trade", "id": f"t-{n}-{side}", "at": at(), "account": f"acct{who:06d}", "market": market,
                       "side": side, "qty": qty, "price": price, "fee": "0.01"}
                produced += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n_events", type=int)
    parser.add_argument("out")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--thin", type=float, default=0.0, help="share of accounts opening with 3,000 USD")
    parser.add_argument("--switch-at", type=float, default=None,
                        help="share of the events after which a rule change activates other partial-v1 parameters")
    parser.add_argument("--drift", type=float, default=0.0, help="added to every mark's relative move (-0.0001: a fall)")
    args = parser.parse_args()
    if not -0.002 < args.drift < 0.002:
        parser.error("--drift must lie within (-0.002, 0.002): a mark's own move is at most 0.2%")
    with open(args.out, "w") as handle:
        for record in generate(args.n_events, args.accounts, args.seed, thin=args.thin, switch_at=args.switch_at,
                               drift=args.drift):
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
