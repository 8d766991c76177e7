"""Double entry: every event moves money only as balanced postings.

A posting credits or debits one book (a user account's cross cash, one of its
isolated margins, or a system account) in one asset. The postings of each event sum to zero per asset, which the fold
asserts before applying them; since every cash change goes through postings,
the trial balance (the sum of every book, per asset) is zero after every event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from attrs import frozen

from ledger.domain.money import ZERO, arithmetic
from ledger.domain.state import LedgerState

__all__ = ["Posting", "user", "isolated", "system", "assert_balanced", "trial_balance", "UnbalancedPostings"]


class UnbalancedPostings(AssertionError):
    """An invariant broke: an event's postings do not sum to zero. A bug, never input."""


@frozen
class Posting:
    """``amount`` (signed) to ``account`` of ``book`` ('user', 'isolated' or 'system') in ``asset``.

    An 'isolated' posting books to the isolated margin of ``account`` in ``market``.
    """

    book: str
    account: str
    asset: str
    amount: Decimal
    market: str | None = None


def user(account: str, asset: str, amount: Decimal) -> Posting:
    return Posting("user", account, asset, amount)


def isolated(account: str, market: str, asset: str, amount: Decimal) -> Posting:
    return Posting("isolated", account, asset, amount, market)


def system(account: str, asset: str, amount: Decimal) -> Posting:
    return Posting("system", account, asset, amount)


def assert_balanced(postings: Iterable[Posting], event_id: str) -> None:
    totals: dict[str, Decimal] = {}
    for posting in postings:
        totals[posting.asset] = totals.get(posting.asset, ZERO) + posting.amount
    broken = {asset: total for asset, total in totals.items() if total != 0}
    if broken:
        raise UnbalancedPostings(f"event {event_id}: postings do not balance: {broken}")


def trial_balance(state: LedgerState) -> dict[str, Decimal]:
    """Sum of every user (cross and isolated) and system book per asset; zero everywhere when sound.

    Summed in the ledger's exact context: in Python's default (28 digits) a sum of wide figures would round.
    """
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    with arithmetic():
        for account in state.accounts.values():
            for asset, amount in account.cash.items():
                totals[asset] += amount
            for market, amount in account.isolated.items():
                totals[state.markets[market].settle_asset] += amount
        for balances in state.system.values():
            for asset, amount in balances.items():
                totals[asset] += amount
    return dict(totals)
