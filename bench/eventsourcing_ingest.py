"""The ingest baseline of issue 28: the same JSON Lines ingested by an application written with ``eventsourcing``.

    python -m bench.eventsourcing_ingest HISTORY.jsonl sqlite:///PATH.db
    python -m bench.eventsourcing_ingest HISTORY.jsonl postgresql://user@host/db

As that library's users write an ingest: one ``Application`` with an
``Account`` aggregate per account and a ``Market`` aggregate per market; each
line is parsed, its aggregate fetched (kept in memory once met, as a batch
job keeps them) and its command method called, which triggers a decorated
event; the aggregates changed are saved once per 1,000 lines (``SAVE_EVERY``),
one transaction each. Money is ``Decimal`` (the library's ``DecimalAsStr``
transcoding), fills keep a size and an average entry and realize PnL as ours
do, and a withdrawal past the cash is refused. What it does *not* do, and our
``ledger ingest`` does: strict validation naming a bad line, a hash chain, the
liquidation engine and its index, margin checks, snapshots, idempotent
resends. So the ratio is conservative for us.

Prints one JSON object: events, seconds (reading the file to the last save,
inside this process: no start-up), events per second.
"""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

SAVE_EVERY = 1_000
"""Lines per ``Application.save`` (one transaction)."""


def _configure(url: str) -> dict[str, str]:
    """The library's environment settings for ``url`` (its persistence module reads them)."""
    if url.startswith("sqlite:///"):
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": url[len("sqlite:///"):]}
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": parsed.database or "",
        "POSTGRES_HOST": parsed.host or "localhost", "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": parsed.username or "", "POSTGRES_PASSWORD": parsed.password or "",
        "POSTGRES_SCHEMA": "public", "CREATE_TABLE": "y",
    }


def build_app(url: str) -> Any:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        @staticmethod
        def create_id(name: str) -> UUID:
            return uuid5(NAMESPACE_URL, f"/accounts/{name}")

        @event("Opened")
        def __init__(self, name: str) -> None:
            self.name = name
            self.cash: dict[str, Decimal] = {}
            self.positions: dict[str, list[Decimal]] = {}

        @event("Deposited")
        def deposit(self, event_id: str, at: str, asset: str, amount: Decimal) -> None:
            self.cash[asset] = self.cash.get(asset, Decimal(0)) + amount

        def withdraw(self, event_id: str, at: str, asset: str, amount: Decimal) -> None:
            if self.cash.get(asset, Decimal(0)) < amount:
                raise ValueError(f"{event_id}: withdrawal past the cash")
            self._withdrawn(event_id, at, asset, amount)

        @event("Withdrawn")
        def _withdrawn(self, event_id: str, at: str, asset: str, amount: Decimal) -> None:
            self.cash[asset] -= amount

        @event("Traded")
        def trade(self, event_id: str, at: str, market: str, asset: str, side: str, qty: Decimal, price: Decimal,
                  fee: Decimal) -> None:
            size, entry = self.positions.get(market, (Decimal(0), Decimal(0)))
            signed = qty if side == "buy" else -qty
            realized = Decimal(0)
            if size == 0 or (size > 0) == (signed > 0):  # opens or grows: average the entry
                entry = (size * entry + signed * price) / (size + signed)
            else:  # reduces, closes or flips
                closed = min(abs(size), qty)
                realized = closed * (price - entry) * (1 if size > 0 else -1)
                if qty > abs(size):
                    entry = price
            size += signed
            self.positions[market] = [size, entry if size else Decimal(0)]
            self.cash[asset] = self.cash.get(asset, Decimal(0)) + realized - fee

    class Market(Aggregate):
        @staticmethod
        def create_id(name: str) -> UUID:
            return uuid5(NAMESPACE_URL, f"/markets/{name}")

        @event("Listed")
        def __init__(self, name: str, settle_asset: str, lot_size: Decimal) -> None:
            self.name, self.settle_asset, self.lot_size, self.mark = name, settle_asset, lot_size, None

        @event("Marked")
        def marked(self, event_id: str, at: str, price: Decimal) -> None:
            self.mark = price

        @event("RulesNoted")
        def rules(self, event_id: str, at: str, version: str, params: str) -> None:
            self.version = version

    class Ingest(Application):
        pass

    os.environ.update(_configure(url))
    return Ingest(), Account, Market


def ingest(path: Path, url: str) -> dict[str, float]:
    app, account_type, market_type = build_app(url)
    accounts: dict[str, Any] = {}
    markets: dict[str, Any] = {}
    pending: dict[int, Any] = {}

    def account(name: str) -> Any:
        found = accounts.get(name)
        if found is None:
            found = accounts[name] = account_type(name)
        return found

    count = 0
    start = time.perf_counter()
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            record = json.loads(line)
            kind, event_id, at = record["type"], record["id"], record["at"]
            if kind == "deposit":
                target = account(record["account"])
                target.deposit(event_id, at, record["asset"], Decimal(record["amount"]))
            elif kind == "withdrawal":
                target = account(record["account"])
                target.withdraw(event_id, at, record["asset"], Decimal(record["amount"]))
            elif kind == "trade":
                target = account(record["account"])
                market = markets[record["market"]]
                target.trade(event_id, at, market.name, market.settle_asset, record["side"], Decimal(record["qty"]),
                             Decimal(record["price"]), Decimal(record["fee"]))
            elif kind == "mark":
                target = markets[record["market"]]
                target.marked(event_id, at, Decimal(record["price"]))
            elif kind == "market_listed":
                target = markets[record["market"]] = market_type(record["market"], record["settle_asset"],
                                                                 Decimal(record["lot_size"]))
            elif kind == "rules_activated":
                target = next(iter(markets.values()))
                target.rules(event_id, at, record["version"], json.dumps(record["params"]))
            else:
                raise ValueError(f"{path}:{number}: no handler for {kind!r} in this baseline")
            pending[id(target)] = target
            count += 1
            if number % SAVE_EVERY == 0:
                app.save(*pending.values())
                pending.clear()
    if pending:
        app.save(*pending.values())
    seconds = time.perf_counter() - start
    app.close()
    return {"events": count, "seconds": seconds, "events_per_s": count / seconds}


if __name__ == "__main__":
    print(json.dumps(ingest(Path(sys.argv[1]), sys.argv[2])))
