"""The worked figures of loss allocation (issue 25, section 5) as a history, for the tests that allocate on it.

Market X (lot 0.1, USD); an earlier liquidation in market Y leaves 20 in
the insurance fund; B, long 10 @ 120 with 150 cash, is closed whole at the
mark 100 by full-v1 with no fee: deficit 50, the fund covers 20, and R = 30
goes to the policy in force. The counterparties (short size @ entry, cash):
S1 4 @ 130, 60; S2 6 @ 110, 30; S3 6 @ 95, 100; S4 4 @ 105, 10.
"""

from __future__ import annotations

from ledger.domain import events as ev
from tests.support.builders import deposit, listed, mark, rules, trade

__all__ = ["MARKETS", "SHORTS", "history"]

MARKETS = {"X": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"},
           "Y": {"maintenance_margin_rate": "0.06", "initial_margin_rate": "0.1"}}
SHORTS = {"S1": ("4", "130", "60"), "S2": ("6", "110", "30"), "S3": ("6", "95", "100"), "S4": ("4", "105", "10")}


def history(policy: ev.Event | None, shorts=SHORTS, fund: bool = True) -> list[ev.Event]:
    """The issue's market, with the fund seeded to exactly 20 by C's liquidation in Y (its penalty is capped at the
    20 of equity it has left), then the crash of X to 100."""
    events = [listed("X", lot="0.1"), listed("Y", lot="0.1"), rules("full-v1", fee="0.1", buffer=None, markets=MARKETS),
              mark("120", market="X", t=0.7), mark("100", market="Y", t=0.7)]
    if policy is not None:
        events.append(policy)
    events += [deposit(name, cash, t=1) for name, (_, _, cash) in sorted(shorts.items())]
    events += [deposit("B", "150", t=1), trade("B", "buy", "10", "120", market="X", t=2)]
    events += [trade(name, "sell", size, entry, market="X", t=2 + n / 10)
               for n, (name, (size, entry, _)) in enumerate(sorted(shorts.items()))]
    if fund:
        events += [deposit("C", "40", t=2.8), trade("C", "buy", "10", "100", market="Y", t=2.9),
                   mark("98", market="Y", t=3)]
    events += [rules("full-v1", fee="0", buffer=None, markets=MARKETS, t=3.5, id="r-2"), mark("100", market="X", t=4)]
    return events
