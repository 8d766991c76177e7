"""socialize-v1: what the insurance fund cannot cover is a socialized loss, as the ledger always booked it.

Rule: the residual R of a bankruptcy (its deficit less what the fund covered)
is recorded against the socialized-loss system account; no counterparty is
deleveraged. In force before any ``loss_allocation_activated`` event, so a
log written before loss allocation existed replays and audits unchanged.

Parameters: none (``{}``).

Source: the ledger's behaviour since release 1; issue 25 names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rules.allocation.base import SOCIALIZE, Allocation, Counterparty, PolicyDoc, check_policy_keys

__all__ = ["POLICY"]


class SocializeV1:
    name = "socialize-v1"
    summary = "book the residual as a socialized loss; deleverage no one"
    kind = SOCIALIZE
    parameters: tuple[PolicyDoc, ...] = ()

    def parse_params(self, raw: Mapping[str, Any]) -> None:
        check_policy_keys(raw, set(), set())

    def allocate(self, residual: Decimal, closed: Decimal, mark: Decimal, counterparties: Sequence[Counterparty],
                 params: Any) -> Allocation:
        return Allocation((), closed, residual)

    def quantiles(self, mark: Decimal, positions: Sequence[Counterparty], params: Any) -> dict[tuple[str, str], int]:
        return {}


POLICY = SocializeV1()
