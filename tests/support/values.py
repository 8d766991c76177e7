"""Comparing figures as numbers: decimal strings read back as ``Decimal`` so that "0.0" equals "0"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["decimals", "own_figures"]


def decimals(value: Any) -> Any:
    """Decimal strings to Decimals, recursively, so "0.0" equals "0"."""
    if isinstance(value, dict):
        return {k: decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimals(v) for v in value]
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def own_figures(account_report: dict[str, Any] | None) -> dict[str, Any] | None:
    """An account's balances report without its ADL quantile: that figure ranks the account against every holder of
    its side, which a one-account or narrowed state does not hold (``Ledger.account_balances`` reads it from the
    whole ledger; ``test_loss_allocation.py`` checks it there)."""
    for position in (account_report or {}).get("positions", {}).values():
        position.pop("adl_quantile", None)
    return account_report
