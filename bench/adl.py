"""Benchmark: a bankruptcy whose residual is auto-deleveraged against N opposite positions in one market.

For N = 10,000 and 100,000 shorts in market X (each 1 lot above the mark's
entry, so every one is profitable and eligible) and one long B whose crash
leaves a residual far beyond the insurance fund: the mark that bankrupts B,
decided through the engine session with its liquidation index, under
``socialize-v1`` (the baseline: what a bankruptcy cost before loss
allocation), ``adl-ranked-v1`` and ``adl-prorata-v1``; and a mark with nobody
distressed under each, which loss allocation must leave unchanged (it runs
only after a bankruptcy). Each figure is the best of ``--repeat`` runs on a
fresh copy of the same state.

    .venv/bin/python -m bench.adl                 # 10,000 and 100,000
    .venv/bin/python -m bench.adl --sizes 10000
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ledger.domain import events as ev
from ledger.domain.state import LedgerState, clone
from ledger.engine.candidates import LiquidationIndex
from ledger.engine.session import EngineSession

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RATES = {"X": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}
POLICIES = {
    "socialize-v1": {},
    "adl-ranked-v1": {"cash_quantum": "0.00000001"},
    "adl-prorata-v1": {"cash_quantum": "0.00000001", "weight": "notional"},
}


def _at(n: int) -> datetime:
    return T0 + timedelta(milliseconds=n)


def book(shorts: int, policy: str) -> EngineSession:
    """X listed and marked at 100, full-v1 with no fee, the policy in force, ``shorts`` shorts of 1 @ 101 with 50 cash,
    and B long 1000 @ 100 with 1,000 cash (bankrupt below 99, with a residual of about 1,000 per point)."""
    setup: list[ev.Event] = [
        ev.MarketListed(id="m-X", at=_at(0), market="X", settle_asset="USD", lot_size=Decimal("0.1")),
        ev.RulesActivated(id="r-1", at=_at(0), version="full-v1", params={"liquidation_fee_rate": "0", "markets": RATES}),
        ev.LossAllocationActivated(id="la-1", at=_at(0), version=policy, params=POLICIES[policy]),
        ev.Mark(id="k-0", at=_at(1), market="X", price=Decimal(100)),
        ev.Deposit(id="d-B", at=_at(1), account="B", asset="USD", amount=Decimal(1000)),
        ev.Trade(id="t-B", at=_at(1), account="B", market="X", side="buy", qty=Decimal(1000), price=Decimal(100),
                 fee=Decimal(0)),
    ]
    for n in range(shorts):
        name = f"s{n:06d}"
        setup += [ev.Deposit(id=f"d-{name}", at=_at(2), account=name, asset="USD", amount=Decimal(50)),
                  ev.Trade(id=f"t-{name}", at=_at(2), account=name, market="X", side="sell", qty=Decimal(1),
                           price=Decimal(101), fee=Decimal(0))]
    session = EngineSession.indexed(LedgerState())
    session.fold([(e.id, e) for e in setup])
    return session


def timed(session: EngineSession, mark: ev.Mark, repeat: int) -> tuple[float, int]:
    """Best of ``repeat`` decisions of ``mark`` on fresh copies of the session (index rebuilt before timing)."""
    best, made = float("inf"), 0
    for _ in range(repeat):
        copy = EngineSession(clone(session.state), index=LiquidationIndex())
        copy.index.rebuild(copy.state)  # type: ignore[union-attr]
        started = time.perf_counter()
        outcome = copy.fold([(mark.id, mark)])
        best = min(best, time.perf_counter() - started)
        made = sum(len(e.fills) for e in outcome.to_append if isinstance(e, ev.AutoDeleverage))
    return best, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    quiet = ev.Mark(id="k-quiet", at=_at(3), market="X", price=Decimal("99.9"))
    crash = ev.Mark(id="k-crash", at=_at(3), market="X", price=Decimal(95))
    print(f"{'opposite positions':>18} {'policy':>15} {'quiet mark ms':>14} {'crash mark ms':>14} {'fills':>8}")
    for size in args.sizes:
        for policy in POLICIES:
            session = book(size, policy)
            quiet_s, _ = timed(session, quiet, args.repeat)
            crash_s, fills = timed(session, crash, args.repeat)
            print(f"{size:>18,} {policy:>15} {quiet_s * 1000:>14.2f} {crash_s * 1000:>14.2f} {fills:>8,}")


if __name__ == "__main__":
    main()
