"""#15 point 7: ``history --known-at T`` gives the same answer during and after a long concurrent ingest.

The attack: an append takes its recording time when it starts, but its rows
become visible when it commits. A query for a T between the two, asked while
the append runs, did not see the rows; asked again after the commit, it did:
the same question about the past, two answers. Now a known-at query first
waits for any append in flight (the log's write lock), and refuses a T that is
not yet past; so its answer is final.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from ledger import InvalidEvent, Ledger
from tests.support.builders import deposit, listed

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_known_at_answer_is_the_same_during_and_after_a_long_append(db_url):
    """A ``known_at`` history asked while an append is in flight waits for it, and answers as it does after the commit."""
    with Ledger.open(db_url, clock=lambda: T0) as writer:
        writer.init()
        writer.append([listed(), deposit("alice", "100", t=1, id="first")])
    big = [deposit("alice", "1", t=2, id=f"late-{n}") for n in range(6_000)]  # recorded at T0, committed seconds later
    asked = T0 + timedelta(seconds=1)
    with Ledger.open(db_url, clock=lambda: T0) as writer, Ledger.open(db_url, clock=lambda: T0 + timedelta(hours=1)) as reader:
        started, reader_waits, waited = threading.Event(), threading.Event(), []
        unit = writer._unit
        real_appending, real_settled = unit.appending, reader.store.settled

        def slow_writing():  # the append holds the lock until the reader has come to wait for it: no wall-clock window
            context = real_appending()
            state = context.__enter__()
            started.set()
            waited.append(reader_waits.wait(60))
            return _Resume(context, state)

        def settled():  # the reader's own sign that it is inside the wait for the append in flight
            reader_waits.set()
            return real_settled()

        unit.appending = slow_writing  # type: ignore[method-assign]
        reader.store.settled = settled  # type: ignore[method-assign]
        appending = threading.Thread(target=writer.append, args=(big,))
        appending.start()
        assert started.wait(30)
        during = reader.history("alice", known_at=asked)  # waits for the append in flight
        appending.join(60)
        after = reader.history("alice", known_at=asked)
    assert waited == [True], "the reader never came to wait while the append was in flight: the test proved nothing"
    assert [r["id"] for r in during] == [r["id"] for r in after]
    assert len(after) == 1 + len(big), "the append recorded at T0 is known at T0 + 1s, during as after"


class _Resume:
    """A started ``appending`` context handed back to ``append`` (which enters it again: a no-op here)."""

    def __init__(self, context, state) -> None:
        self.context, self.state = context, state

    def __enter__(self):
        return self.state

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


def test_a_known_at_time_not_yet_past_is_refused(ledger):
    """A ``known_at`` time that is not yet in the past is refused."""
    ledger.append([listed(), deposit("alice", "100", t=1)])
    with pytest.raises(InvalidEvent, match="is not in the past"):
        ledger.history("alice", known_at=datetime(2099, 1, 1, tzinfo=UTC))
