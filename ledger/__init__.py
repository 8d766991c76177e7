"""An event-sourced ledger for leveraged trading accounts.

The public surface: ``Ledger`` (open, init, ingest, append, state as of,
verify), the events, and the errors. See ``docs/architecture.md``.
"""

from ledger.domain.events import (
    Bankruptcy,
    Deposit,
    Event,
    Liquidation,
    Mark,
    MarketListed,
    RulesActivated,
    Trade,
    Withdrawal,
)
from ledger.errors import (
    ConcurrencyConflict,
    DuplicateEventConflict,
    InvalidBatch,
    InvalidEvent,
    InvalidRuleParams,
    LedgerError,
    NotInitialised,
    UnknownRuleVersion,
    UnsupportedDatabase,
)
from ledger.services.ledger import DEFAULT_URL, AppendResult, Ledger

__all__ = [
    "Ledger",
    "AppendResult",
    "DEFAULT_URL",
    "Event",
    "MarketListed",
    "Deposit",
    "Withdrawal",
    "Trade",
    "Mark",
    "RulesActivated",
    "Liquidation",
    "Bankruptcy",
    "LedgerError",
    "InvalidEvent",
    "InvalidBatch",
    "ConcurrencyConflict",
    "DuplicateEventConflict",
    "UnknownRuleVersion",
    "InvalidRuleParams",
    "NotInitialised",
    "UnsupportedDatabase",
]
