"""PostgreSQL's ``COPY`` ends on its own thread: the writer waits for that end before anything else it does.

An append's ``COPY`` hands its last rows to the server and returns; the
server's end of it (inserting and indexing them) runs while the caller goes
on, on a thread that only waits for the server's answer
(``store.sql._CopyEnding``). These tests slow that end down on purpose and
check that every later step waits for it: a look-up sees the rows, the
commit holds every batch, an interrupt or a failure meanwhile rolls the
whole transaction back and leaves the store usable, and no thread outlives
its writer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ledger.store import sql
from ledger.store.sql import SqlEventStore
from tests.support.builders import deposit

RECORDED = "2026-01-01T00:00:00.000000Z"
SLOW = 0.3
"""Seconds each ``COPY``'s end is held back: long enough that a step not waiting for it would run first."""


@pytest.fixture
def store(pg_url) -> Iterator[SqlEventStore]:
    opened = SqlEventStore.open(pg_url)
    opened.initialise()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def slow_ends(monkeypatch) -> list[str]:
    """Every ``COPY``'s end held back by ``SLOW`` seconds; the names of the threads the ends ran on."""
    ran_on: list[str] = []
    end = sql._CopyEnding._end

    def held_back(self) -> None:
        ran_on.append(threading.current_thread().name)
        time.sleep(SLOW)
        end(self)

    monkeypatch.setattr(sql._CopyEnding, "_end", held_back)
    return ran_on


def deposits(first: int, count: int) -> list:
    return [deposit(f"acct{i}", "5", t=1, id=f"d-{i}") for i in range(first, first + count)]


def copy_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ledger-copy-end"]


def test_a_lookup_and_the_commit_wait_for_the_copy_still_ending(store, slow_ends):
    """Two batches in one transaction, each ``COPY`` ending late on its own thread: a look-up between them finds the
    first batch's rows, the second takes the next versions and sequence numbers, the commit holds both, and the
    chain verifies."""
    with store.writer() as writer:
        writer.append_new(deposits(0, 300), RECORDED)
        assert len(copy_threads()) == 1, "the first COPY is still ending while the caller goes on"
        assert sorted(writer.existing([f"d-{i}" for i in (0, 150, 299, 300)])) == ["d-0", "d-150", "d-299"]
        writer.append_new([*deposits(300, 300), deposit("acct0", "1", t=2, id="again-0")], RECORDED)
    assert slow_ends == ["ledger-copy-end", "ledger-copy-end"]
    assert copy_threads() == []
    rows = list(store.read())
    assert [r.seq for r in rows] == list(range(1, 602))
    assert (rows[-1].stream, rows[-1].stream_version) == ("account:acct0", 2)
    assert store.verify().ok


def test_an_interrupt_while_a_copy_ends_stores_nothing_and_leaves_the_store_usable(store, slow_ends):
    """Ctrl-C (``KeyboardInterrupt``) while the first batch's ``COPY`` is still ending: the writer waits for that end
    before the rollback, nothing is stored, no thread is left, and the next append on the same store commits."""
    with pytest.raises(KeyboardInterrupt):
        with store.writer() as writer:
            writer.append_new(deposits(0, 200), RECORDED)
            raise KeyboardInterrupt
    assert copy_threads() == []
    assert list(store.read()) == []
    store.append(deposits(0, 3), RECORDED)
    assert [r.event_id for r in store.read()] == ["d-0", "d-1", "d-2"] and store.verify().ok


def test_a_failure_in_the_caller_while_a_copy_ends_is_the_error_told(store, slow_ends):
    """A failure of the caller's own while a ``COPY`` ends, with that end refused too (a stale view of a stream):
    the caller's error is the one raised, not the refusal behind it, and nothing is stored."""
    store.append(deposits(0, 1), RECORDED)
    with pytest.raises(RuntimeError, match="the caller's own failure"):
        with store.writer() as writer:
            writer._versions["account:acct0"] = 0  # as if another writer's append were unseen
            writer.append_new([deposit("acct0", "1", t=2, id="stale")], RECORDED)
            raise RuntimeError("the caller's own failure")
    assert copy_threads() == []
    assert [r.event_id for r in store.read()] == ["d-0"] and store.verify().ok
