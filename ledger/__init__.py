"""An event-sourced ledger for leveraged trading accounts.

The public surface: ``Ledger`` (open, init, ingest, append, state as of,
verify, audit, reports), the events, and the errors. See
``docs/architecture.md``.

Names are resolved on first use (module ``__getattr__``), so importing a part
of the package (``ledger.domain.fold``, or ``rules``, which imports the domain)
does not load the facade and, with it, SQLAlchemy and the store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.app.ledger import DEFAULT_URL, AppendResult, Ledger
    from ledger.domain.events import (
        Bankruptcy,
        Deposit,
        Event,
        Funding,
        IsolatedMargin,
        Liquidation,
        MarginMode,
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

_HOMES = {
    "ledger.app.ledger": ("Ledger", "AppendResult", "DEFAULT_URL"),
    "ledger.domain.events": (
        "Event", "MarketListed", "Deposit", "Withdrawal", "Trade", "Mark", "RulesActivated", "Funding", "MarginMode",
        "IsolatedMargin", "Liquidation", "Bankruptcy",
    ),
    "ledger.errors": (
        "LedgerError", "InvalidEvent", "InvalidBatch", "ConcurrencyConflict", "DuplicateEventConflict",
        "UnknownRuleVersion", "InvalidRuleParams", "NotInitialised", "UnsupportedDatabase",
    ),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [name for names in _HOMES.values() for name in names]


def __getattr__(name: str) -> Any:
    """``ledger.Ledger`` and friends, imported from their home module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
