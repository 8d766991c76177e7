"""Balances as plain data (dicts of decimal strings), shaped by the contract.

``balances`` is the JSON that ``ledger balances --format json`` prints; the
table and CSV renderings in the CLI are built from the same rows
(``balance_rows``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger.domain.money import ZERO, arithmetic, to_str
from ledger.domain.positions import unrealized_pnl
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.domain.valuation import equity_by_asset

__all__ = ["balances", "balance_rows"]


def _account(state: LedgerState, name: str) -> dict[str, Any]:
    acct = state.accounts[name]
    positions = {}
    for market in sorted(acct.positions):
        position, info = acct.positions[market], state.markets[market]
        positions[market] = {
            "size": to_str(position.size),
            "entry_price": to_str(position.entry_price),
            "mark_price": to_str(info.price) if info.price is not None else None,
            "unrealized_pnl": to_str(unrealized_pnl(position, info.price)),
            "realized_pnl": to_str(position.realized_pnl),
        }
    equities = equity_by_asset(state, acct)
    primary = next(iter(equities.values()), ZERO) if len(equities) <= 1 else None
    out: dict[str, Any] = {
        "cash": {asset: to_str(amount) for asset, amount in sorted(acct.cash.items())},
        "positions": positions,
        "equity": to_str(primary) if primary is not None else None,
        "equity_by_asset": {asset: to_str(value) for asset, value in equities.items()},
        "fees_paid": {asset: to_str(value) for asset, value in sorted(acct.fees_paid.items())},
    }
    return out


def balances(
    state: LedgerState, account: str | None = None, *, system: bool = True, as_of: datetime | None = None
) -> dict[str, Any]:
    """``{"as_of", "seq", "accounts": {...}, "system": {...}}`` per the contract.

    ``system=False`` leaves the system balances out, for a state that holds one
    account only (``Ledger.account``) and so cannot know them. ``as_of``: the
    time asked for, when the state was cut there (else the last event's time).
    """
    names = sorted(state.accounts) if account is None else [a for a in [account] if a in state.accounts]
    with arithmetic():
        accounts = {name: _account(state, name) for name in names}
    report: dict[str, Any] = {
        "as_of": format_time(as_of) if as_of else format_time(state.last_at) if state.last_at else None,
        "seq": state.seq,
        "accounts": accounts,
    }
    if system:
        report["system"] = {
            name: {asset: to_str(amount) for asset, amount in sorted(balances.items())}
            for name, balances in sorted(state.system.items())
        }
    return report


def balance_rows(report: dict[str, Any]) -> list[dict[str, str]]:
    """Flat rows (one per account, asset or market) for tables and CSV."""
    rows = []
    for name, acct in report["accounts"].items():
        for asset, amount in acct["cash"].items():
            rows.append({"book": "user", "account": name, "item": f"cash {asset}", "amount": amount, "detail": ""})
        for market, p in acct["positions"].items():
            detail = f"entry {p['entry_price']} mark {p['mark_price']} upnl {p['unrealized_pnl']} rpnl {p['realized_pnl']}"
            rows.append({"book": "user", "account": name, "item": f"position {market}", "amount": p["size"], "detail": detail})
        for asset, value in acct["equity_by_asset"].items():
            rows.append({"book": "user", "account": name, "item": f"equity {asset}", "amount": value, "detail": ""})
    for name, balances_ in report.get("system", {}).items():
        for asset, amount in balances_.items():
            rows.append({"book": "system", "account": name, "item": f"cash {asset}", "amount": amount, "detail": ""})
    return rows
