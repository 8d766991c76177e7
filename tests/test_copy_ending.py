"""PostgreSQL's ``COPY`` ends on its own thread: the writer waits for that end before anything else it does.

An append's ``COPY`` hands its last rows to the server and returns; the
server's end of it (inserting and indexing them) runs while the caller goes
on, on a thread that only waits for the server's answer
(``store.sql._CopyEnding``). These tests hold each thread back *after* its
``COPY`` has ended (so psycopg's own connection lock, released by then, does
not do the waiting for the writer) and check that every later step of the
writer waits for the thread itself: a look-up, the next insert, the commit,
and the rollback after a failure or an interrupt, even one that cut a wait
short. Whether a refusal met there is raised at the right step is in
``test_store_contract.py`` (every backend).
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
    """Every ``COPY``'s thread held back ``SLOW`` seconds after its ``COPY`` ended; the names of the threads, each
    added as its thread finishes."""
    finished: list[str] = []
    end = sql._CopyEnding._end

    def held_back(self) -> None:
        end(self)
        time.sleep(SLOW)
        finished.append(threading.current_thread().name)

    monkeypatch.setattr(sql._CopyEnding, "_end", held_back)
    return finished


def deposits(first: int, count: int) -> list:
    return [deposit(f"acct{i}", "5", t=1, id=f"d-{i}") for i in range(first, first + count)]


def copy_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "ledger-copy-end"]


def test_a_lookup_the_next_insert_and_the_commit_wait_for_the_copy_still_ending(store, slow_ends):
    """Two batches in one transaction, each ``COPY``'s thread finishing late: the look-up between them waits for the
    first thread and finds the first batch's rows, the second batch takes the next versions and sequence numbers,
    the commit waits for the second thread and holds both, and the chain verifies."""
    with store.writer() as writer:
        writer.append_new(deposits(0, 300), RECORDED)
        assert slow_ends == [] and len(copy_threads()) == 1, "the first COPY is still ending while the caller goes on"
        found = writer.existing([f"d-{i}" for i in (0, 150, 299, 300)])
        assert slow_ends == ["ledger-copy-end"], "the look-up waited for the thread"
        assert sorted(found) == ["d-0", "d-150", "d-299"]
        writer.append_new([*deposits(300, 300), deposit("acct0", "1", t=2, id="again-0")], RECORDED)
        assert len(slow_ends) == 1
    assert slow_ends == ["ledger-copy-end", "ledger-copy-end"], "the commit waited for the thread"
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
    assert slow_ends == ["ledger-copy-end"] and copy_threads() == [], "the rollback waited for the thread"
    assert list(store.read()) == []
    store.append(deposits(0, 3), RECORDED)
    assert [r.event_id for r in store.read()] == ["d-0", "d-1", "d-2"] and store.verify().ok


def test_an_interrupt_that_cuts_a_wait_short_is_waited_out_before_the_rollback(store, slow_ends, monkeypatch):
    """Ctrl-C arrives while the writer waits for a ``COPY``'s thread (its look-up's wait cut short): the insert is
    still ending, so the rollback waits for it again before it runs; nothing is stored and no thread is left."""
    wait = sql._CopyEnding.wait
    cut_short: list[bool] = []

    def interrupted_once(self) -> None:
        if not cut_short:
            cut_short.append(True)
            raise KeyboardInterrupt
        wait(self)

    monkeypatch.setattr(sql._CopyEnding, "wait", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        with store.writer() as writer:
            writer.append_new(deposits(0, 200), RECORDED)
            writer.existing(["d-0"])
    assert cut_short == [True]
    assert slow_ends == ["ledger-copy-end"] and copy_threads() == [], "the rollback waited for the thread"
    assert list(store.read()) == []
    store.append(deposits(0, 2), RECORDED)
    assert store.verify().ok


def test_a_failure_in_the_caller_while_a_copy_ends_is_the_error_told(store, slow_ends):
    """A failure of the caller's own while a ``COPY`` ends, with that end refused too (a stale view of a stream):
    the caller's error is the one raised, not the refusal behind it, and nothing is stored."""
    store.append(deposits(0, 1), RECORDED)
    with pytest.raises(RuntimeError, match="the caller's own failure"):
        with store.writer() as writer:
            writer._versions["account:acct0"] = 0  # as if another writer's append were unseen
            writer.append_new([deposit("acct0", "1", t=2, id="stale")], RECORDED)
            raise RuntimeError("the caller's own failure")
    assert slow_ends == ["ledger-copy-end"] * 2 and copy_threads() == []  # the first append's, then this one's
    assert [r.event_id for r in store.read()] == ["d-0"] and store.verify().ok
