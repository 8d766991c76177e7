"""A child process for crash and concurrency tests.

``python -m tests.support.appender batches URL FIRST`` appends batch after
batch (``BATCH_SIZE`` deposits each, ids ``bN-J``) starting at batch FIRST; it
prints ``appending N`` as it starts each append and ``committed N`` after it
returns — until it is killed.

``python -m tests.support.appender contend URL NAME ROUNDS`` appends
ROUNDS deposits to the shared stream ``account:shared`` with optimistic
concurrency (read the version, append expecting it, retry on conflict) and
ROUNDS to its own stream; prints counts of conflicts as JSON at the end.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ledger import ConcurrencyConflict, Deposit, Ledger

BATCH_SIZE = 5
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def batch(n: int) -> list[Deposit]:
    return [
        Deposit(id=f"b{n}-{j}", at=T0 + timedelta(seconds=n), account=f"acct{j}", asset="USD", amount=Decimal(n + 1))
        for j in range(BATCH_SIZE)
    ]


def batches(url: str, first: int) -> None:
    with Ledger.open(url) as ledger:
        n = first
        while True:
            print(f"appending {n}", flush=True)  # the parent kills only once this is said: inside the write
            ledger.append(batch(n))
            print(f"committed {n}", flush=True)
            n += 1


def contend(url: str, name: str, rounds: int) -> None:
    conflicts = 0
    with Ledger.open(url) as ledger:
        for i in range(rounds):
            while True:
                version = ledger.store.stream_version("account:shared")
                event = Deposit(id=f"{name}-shared-{i}", at=T0, account="shared", asset="USD", amount=Decimal(1))
                try:
                    ledger.append([event], expected_versions={"account:shared": version})
                    break
                except ConcurrencyConflict:
                    conflicts += 1
            ledger.append([Deposit(id=f"{name}-own-{i}", at=T0, account=name, asset="USD", amount=Decimal(1))])
    print(json.dumps({"conflicts": conflicts}), flush=True)


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "batches":
        batches(url, int(sys.argv[3]))
    else:
        contend(url, sys.argv[3], int(sys.argv[4]))
