"""A ``LedgerState`` (or one account of it) as JSON and back, so a replay can start from a snapshot.

A snapshot is a cache of a fold, never truth: it records the sequence number
and hash of the last event it covers, and the loader refuses it unless that
event is still in the log with that hash. ``SNAPSHOT_FORMAT`` changes whenever
the state's shape does; older snapshots are then ignored and rebuilt.
Account snapshots (``dump_account``) hold one account and the version of its
stream, so replaying a single account starts from them.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson

from ledger.domain.events import freeze, thaw
from ledger.domain.jsontext import canonical_json, canonical_json_of_plain, canonical_object
from ledger.domain.money import to_str
from ledger.domain.state import AccountState, LedgerState, MarketState, Position, RulesInForce
from ledger.domain.timefmt import format_time, parse_time

__all__ = ["SNAPSHOT_FORMAT", "ACCOUNT_SNAPSHOT_FORMAT", "SNAPSHOT_CARRIES", "dump_state", "load_state", "dump_account",
           "load_account"]

SNAPSHOT_CARRIES = {
    "market_listed": "markets (settle asset, lot, listing id)",
    "deposit": "account cash; system external",
    "withdrawal": "account cash; system external",
    "trade": "positions (size, entry, realized, funding paid), cash, isolated margins; market last trade price; system "
             "clearing and fees",
    "mark": "market mark price",
    "rules_activated": "the rules in force (version, params, activation id and time)",
    "funding": "account cash and isolated margins, positions' funding paid; system funding",
    "margin_mode": "account isolated margins (a market in isolated mode)",
    "isolated_margin": "account cash and isolated margins",
    "liquidation": "positions, cash, isolated margins; partial-close memory per margin scope; system clearing, insurance "
                   "fund",
    "bankruptcy": "account cash or isolated margin; system insurance fund, socialized loss and liquidation inventory",
    "loss_allocation_activated": "the loss-allocation policies in force (written only once there is one)",
    "auto_deleverage": "the filled positions (size, realized), cash and isolated margins; system liquidation inventory",
}
"""The part of the state each event type changes, all of which the snapshot format must carry: a new type that
changes something else needs a new ``SNAPSHOT_FORMAT`` (``tests/test_event_types.py`` holds the keys to
``EVENT_TYPES``, and a state holding every type round-trips through ``dump_state`` and ``dump_account``)."""

SNAPSHOT_FORMAT = 3
"""3: positions carry funding paid, accounts their isolated margins, partial-close memory is per margin scope, and the
system has a funding account (2: partial-close memory per account and version; 1: none)."""
ACCOUNT_SNAPSHOT_FORMAT = 2
"""2: positions carry funding paid and accounts their isolated margins."""


def _d(value: Decimal | None) -> str | None:
    return None if value is None else to_str(value)


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _rules(rules: RulesInForce) -> dict[str, Any]:
    return {"version": rules.version, "params": thaw(rules.params), "event_id": rules.event_id, "at": format_time(rules.at)}


def _unrules(data: dict[str, Any]) -> RulesInForce:
    return RulesInForce(data["version"], freeze(data["params"]), data["event_id"], parse_time(data["at"]))


def _account_data(acct: AccountState) -> dict[str, Any]:
    # every figure of an account is a decimal, never None: ``to_str`` itself (a snapshot of 100,000 accounts writes
    # about 1.3 million of them)
    return {
        "cash": {a: to_str(v) for a, v in acct.cash.items()},
        "fees": {a: to_str(v) for a, v in acct.fees_paid.items()},
        "positions": {m: [to_str(p.size), to_str(p.entry_price), to_str(p.realized_pnl), to_str(p.funding_paid)]
                      for m, p in acct.positions.items()},
        "isolated": {m: to_str(v) for m, v in acct.isolated.items()},
    }


def _account_from(name: str, data: dict[str, Any]) -> AccountState:
    return AccountState(
        name,
        MappingProxyType({a: Decimal(v) for a, v in data["cash"].items()}),
        MappingProxyType({m: Position(*map(Decimal, p)) for m, p in data["positions"].items()}),
        MappingProxyType({a: Decimal(v) for a, v in data["fees"].items()}),
        MappingProxyType({m: Decimal(v) for m, v in data["isolated"].items()}),
    )


def dump_account(acct: AccountState, stream_version: int) -> str:
    """One account's state after the ``stream_version``-th event of its stream."""
    return canonical_json({"format": ACCOUNT_SNAPSHOT_FORMAT, "account": acct.name, "stream_version": stream_version,
                           **_account_data(acct)})


def load_account(text: str) -> tuple[AccountState, int]:
    """(account state, version of its stream) from ``dump_account``'s text."""
    data = orjson.loads(text)
    if data.get("format") != ACCOUNT_SNAPSHOT_FORMAT:
        raise ValueError(f"account snapshot format {data.get('format')} is not {ACCOUNT_SNAPSHOT_FORMAT}")
    return _account_from(data["account"], data), data["stream_version"]


_ANY_SHAPE = frozenset({"rules_history", "loss_allocation_history"})
"""The members of a whole-ledger snapshot that hold rules' params."""


def dump_state(state: LedgerState) -> str:
    data = {
        "format": SNAPSHOT_FORMAT,
        "seq": state.seq,
        "last_at": format_time(state.last_at) if state.last_at else None,
        "last_event_id": state.last_event_id,
        "events_applied": state.events_applied,
        "markets": {
            name: [m.settle_asset, _d(m.lot_size), m.listed_by, _d(m.mark_price), _d(m.last_trade_price)]
            for name, m in state.markets.items()
        },
        "system": {name: {a: _d(v) for a, v in balances.items()} for name, balances in state.system.items()},
        "rules_history": [_rules(r) for r in state.rules_history],
        "partial_closes": [
            [account, scope, version, format_time(latest), format_time(previous) if previous else None]
            for (account, scope, version), (latest, previous) in sorted(state.partial_closes.items())
        ],
    }
    if state.loss_allocation_history:  # only then: a ledger without one writes the snapshot it always wrote
        data["loss_allocation_history"] = [_rules(r) for r in state.loss_allocation_history]
    # the rules' params are a developer's object, of any shape: the reference writer's. The rest is figures as
    # strings, names, integers and None, which orjson writes as the reference does (``canonical_json_of_plain``); the
    # accounts one at a time, each one's dict let go once written
    members = {key: canonical_json(value) if key in _ANY_SHAPE else canonical_json_of_plain(value)
               for key, value in data.items()}
    members["accounts"] = canonical_object(
        {name: canonical_json_of_plain(_account_data(acct)) for name, acct in state.accounts.items()})
    return canonical_object(members)


def load_state(text: str) -> LedgerState:
    data = orjson.loads(text)  # a snapshot is canonical JSON of strings and integers; orjson reads it ~3x faster
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"snapshot format {data.get('format')} is not {SNAPSHOT_FORMAT}")
    state = LedgerState()
    state.seq = data["seq"]
    state.last_at = parse_time(data["last_at"]) if data["last_at"] else None
    state.last_event_id = data["last_event_id"]
    state.events_applied = data["events_applied"]
    for name, (settle, lot, listed_by, mark, last) in data["markets"].items():
        state.markets[name] = MarketState(name, settle, Decimal(lot), listed_by, _decimal_or_none(mark), _decimal_or_none(last))
    for name, acct in data["accounts"].items():
        state.accounts[name] = _account_from(name, acct)
    for name, balances in data["system"].items():
        state.system[name] = {a: Decimal(v) for a, v in balances.items()}
    state.rules_history = [_unrules(r) for r in data["rules_history"]]
    state.rules = state.rules_history[-1] if state.rules_history else None
    for account, scope, version, latest, previous in data["partial_closes"]:
        state.partial_closes[account, scope, version] = (parse_time(latest), parse_time(previous) if previous else None)
    state.loss_allocation_history = [_unrules(r) for r in data.get("loss_allocation_history", [])]
    return state
