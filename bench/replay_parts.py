"""The full replay's required parts, each timed alone: the ceiling of any replay of this history.

A full replay must, whatever its layout, (1) read every row, (2) decode
every payload, (3) perform the Decimal operations that form the state's
figures, on the values those figures really hold as the log goes on,
(4) find each trade's account and position among the others and store the new
figures there, and (5) hand back the state as the frozen values the rest of
the ledger reads (``AccountState``, ``Position``). Each part is timed here
alone, in the cheapest form we know, on operands gathered beforehand by an
untimed fold; the sum of the parts is what a replay doing these and nothing
else would take. Done alone, each part runs in a tight loop with warm caches,
so the sum flatters (it is a ceiling of the rate, never a measure of ours).

The cheapest forms, chosen to flatter the ceiling wherever there was a choice:

- reading: bare ``sqlite3`` in batches, the columns the fold needs but the
  sequence number (a replay could count the rows, and check the count
  against the last sequence number once);
- decoding: ``orjson.loads``, the fastest decoder at hand, then reading the
  fields each kind's fold needs;
- arithmetic: every figure text parsed once (repeats come from a dict), a
  trade's fill by ``positions.fill``, then the fewest operations that form its
  figures (a growing fill: cash, fees paid and fee income, three; a reducing
  one: also its realized PnL, the clearing book and the net, six), with the
  system books in local variables; a deposit's cash and external book; a
  mark's price. Each result is dropped as it comes, so its memory is reused
  at once, warm;
- finding and storing: each account's working dict made once, then per
  trade two dict look-ups (the account by name, its position by market), the
  five reads and five stores of its figures and the market's last price, on
  keys and values gathered beforehand (their hashes already cached);
- freezing: one ``AccountState`` per account with its three mappings and a
  ``Position`` per market, as the replay's write-back builds them.

``gather`` checks that it reaches the replay's figures (``matches``), so the
operands are the ones the replay meets.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import orjson

from bench.replay_references import Grouped, freeze, grouped, matches
from bench.run import fastest
from ledger.domain.money import CONTEXT, ZERO
from ledger.domain.positions import fill
from ledger.domain.state import LedgerState
from ledger.replay.fast_fold import collector_paused

__all__ = ["PARTS", "Gathered", "gather", "parts"]

_SQL = "SELECT seq, type, schema_version, payload FROM events ORDER BY seq"
_READ_SQL = "SELECT type, schema_version, payload FROM events ORDER BY seq"
"""The read, flattered: a replay could count rows instead of reading ``seq`` (measured: 0.011 s of 0.086 at 100k)."""
_BATCH = 5000

PARTS = (
    "reading the rows (bare sqlite3)",
    "decoding the payloads (orjson) and reading their fields",
    "the Decimal operations forming the figures, on their real values",
    "finding each trade's account and position, reading and storing its figures",
    "freezing the state into the values the ledger reads",
)


class Gathered:
    """What the timed parts work on, gathered by one untimed fold of the history."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.payloads: list[str] = []
        self.trades: list[tuple[Decimal, Decimal, str, str, str, str, Decimal, Decimal, Decimal]] = []
        """(size, entry, side, qty, price, fee texts, realized, cash, fees paid before)"""
        self.deposits: list[tuple[str, Decimal]] = []
        """(amount text, cash before)"""
        self.marks: list[str] = []
        self.keys: list[tuple[str, str]] = []
        """each trade's (account, market)"""
        self.stored: list[tuple[Decimal, ...]] = []
        """each trade's figures after it (size, entry, realized, cash, fees paid) and its price"""
        self.final: Grouped = {}
        """each account's figures at the end"""


def gather(path: str, state: LedgerState) -> Gathered:
    """Fold the history once (untimed), keeping each event's operands; checks it reached ``state``'s figures."""
    got = Gathered()
    cash: dict[tuple[str, str], Decimal] = {}
    fees_paid: dict[tuple[str, str], Decimal] = {}
    positions: dict[tuple[str, str], list[Decimal]] = {}
    settle: dict[str, str] = {}
    with localcontext(CONTEXT):
        for _seq, kind, _version, payload in sqlite3.connect(path).execute(_SQL):
            got.kinds.append(kind)
            got.payloads.append(payload)
            body = orjson.loads(payload)
            if kind == "trade":
                account, market = body["account"], body["market"]
                asset = settle[market]
                position = positions.setdefault((account, market), [ZERO, ZERO, ZERO])
                before = cash.get((account, asset), ZERO)
                paid = fees_paid.get((account, asset), ZERO)
                got.trades.append((position[0], position[1], body["side"], body["qty"], body["price"], body["fee"],
                                   position[2], before, paid))
                fee = Decimal(body["fee"])
                position[0], position[1], realized = fill(
                    position[0], position[1], body["side"], Decimal(body["qty"]), Decimal(body["price"])
                )
                delta = -fee if realized is None else realized - fee
                if realized is not None:
                    position[2] += realized
                cash[account, asset] = before + delta
                fees_paid[account, asset] = paid + fee
                got.keys.append((account, market))
                got.stored.append((position[0], position[1], position[2], cash[account, asset], paid + fee,
                                   Decimal(body["price"])))
            elif kind == "deposit":
                account, asset = body["account"], body["asset"]
                before = cash.get((account, asset), ZERO)
                got.deposits.append((body["amount"], before))
                cash[account, asset] = before + Decimal(body["amount"])
            elif kind == "mark":
                got.marks.append(body["price"])
            elif kind == "market_listed":
                settle[body["market"]] = body["settle_asset"]
            elif kind != "rules_activated":  # moves no figure kept here
                raise ValueError(f"{kind}: not in the benchmark's mix, whose parts this times")
    got.final = grouped(cash, positions, fees_paid)
    assert matches(freeze(got.final), state), "the gathering fold does not reach the replay's figures"
    return got


def read_rows(path: str) -> int:
    cursor = sqlite3.connect(path).execute(_READ_SQL)
    count = 0
    while rows := cursor.fetchmany(_BATCH):
        count += len(rows)
    return count


def decode(got: Gathered) -> None:
    loads = orjson.loads
    for kind, payload in zip(got.kinds, got.payloads, strict=True):
        body = loads(payload)
        if kind == "trade":
            body["account"], body["market"], body["side"], body["qty"], body["price"], body["fee"]
        elif kind == "deposit":
            body["account"], body["asset"], body["amount"]
        elif kind == "mark":
            body["market"], body["price"]


def arithmetic(got: Gathered) -> tuple[Decimal, Decimal, Decimal]:
    texts: dict[str, Decimal] = {}
    clearing = collected = external = ZERO
    with localcontext(CONTEXT):
        for size, entry, side, qty_text, price_text, fee_text, realized_before, cash, paid in got.trades:
            qty = texts.get(qty_text)
            if qty is None:
                qty = texts[qty_text] = Decimal(qty_text)
            price = texts.get(price_text)
            if price is None:
                price = texts[price_text] = Decimal(price_text)
            fee = texts.get(fee_text)
            if fee is None:
                fee = texts[fee_text] = Decimal(fee_text)
            realized = fill(size, entry, side, qty, price)[2]
            if realized is None:
                cash - fee
            else:
                realized_before + realized
                clearing = clearing - realized
                cash + (realized - fee)
            paid + fee
            collected = collected + fee
        for amount_text, cash in got.deposits:
            amount = Decimal(amount_text)
            cash + amount
            external = external - amount
        for price_text in got.marks:
            Decimal(price_text)
    return clearing, collected, external


def find_and_store(got: Gathered) -> None:
    cash_key, fees_key = object(), object()
    accounts: dict[str, dict[object, Any]] = {}
    for account, (_cash, positions, _fees) in got.final.items():
        accounts[account] = {market: [ZERO, ZERO, ZERO] for market in positions} | {cash_key: ZERO, fees_key: ZERO}
    last_price: dict[str, Decimal] = {}
    for (account, market), (size, entry, realized, cash, paid, price) in zip(got.keys, got.stored, strict=True):
        working = accounts[account]
        position = working[market]
        position[0], position[1], position[2], working[cash_key], working[fees_key]
        position[0], position[1], position[2] = size, entry, realized
        working[cash_key], working[fees_key] = cash, paid
        last_price[market] = price


def parts(path: str, got: Gathered) -> dict[str, float]:
    """Seconds of each part (``PARTS``' order), each the fastest of its runs, the collector paused as the replay's."""
    runs: list[Callable[[], object]] = [
        lambda: read_rows(path),
        lambda: decode(got),
        lambda: arithmetic(got),
        lambda: find_and_store(got),
        lambda: freeze(got.final),
    ]
    with collector_paused():
        return {name: fastest(run)[0] for name, run in zip(PARTS, runs, strict=True)}
