"""#27 point 10: the recording time comes from the database, and never goes back along the log.

A writer one hour behind made ``--known-at`` answers change and
``recorded_at`` go backwards; one a year ahead blocked every honest writer
(its far-future recording time widened the future tolerance for its own
events, and its events then stood in the log ahead of everyone). Now an
append records the database's time, read under the log's lock (PostgreSQL's
server clock; an embedded SQLite file's clock is this machine's), and never
a time before the head's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve
from freezegun import freeze_time
from sqlalchemy import text

from ledger import InvalidBatch, Ledger
from ledger.domain.timefmt import format_time, parse_time
from tests.support.builders import deposit, listed


def _server_now(ledger: Ledger) -> datetime:
    with ledger.store.engine.connect() as conn:
        return conn.execute(text("SELECT clock_timestamp()")).scalar().astimezone(UTC)


def _recorded(ledger: Ledger) -> list[str]:
    return [row.recorded_at for row in ledger.events()]


@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(days=365)], ids=["an-hour-behind", "a-year-ahead"])
def test_a_writer_with_a_wrong_clock_records_the_servers_time(pg_url, skew):
    """On PostgreSQL a writer whose own clock is an hour behind or a year ahead records the server's time, and the
    future tolerance is counted from it: an event 1 minute past the server's time is taken, one a day past refused
    naming its line, whatever the writer's clock says."""
    ledger = Ledger.open(pg_url)
    ledger.init()
    server = _server_now(ledger)
    with freeze_time(server + skew):
        ledger.append([listed(), evolve(deposit("alice", "10", id="soon"), at=server + timedelta(minutes=1))])
        with pytest.raises(InvalidBatch, match="event late"):
            ledger.append([evolve(deposit("alice", "5", id="late"), at=server + timedelta(days=1))])
    after = _server_now(ledger)
    recorded = _recorded(ledger)
    assert len(recorded) == 2 and all(format_time(server) <= r <= format_time(after) for r in recorded), recorded
    ledger.close()


def test_recorded_at_never_goes_back_along_the_log(db_url):
    """On both backends: after an append recorded at T, one whose clock says an hour earlier records T again (not
    earlier), so every known-at answer before T stays what it was."""
    times = iter([datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 11, tzinfo=UTC),
                  datetime(2026, 1, 1, 13, tzinfo=UTC)])
    ledger = Ledger.open(db_url, clock=lambda: next(times))
    ledger.init()
    ledger.append([listed(), deposit("alice", "10", t=1)])
    ledger.append([deposit("alice", "5", t=2)])
    ledger.append([deposit("alice", "1", t=3)])
    recorded = _recorded(ledger)
    assert recorded == sorted(recorded), recorded
    assert [parse_time(r).hour for r in recorded] == [12, 12, 12, 13], "the second append recorded 12:00, not 11:00"
    ledger.close()


def test_known_at_is_checked_against_the_servers_clock(pg_url):
    """On PostgreSQL a known-at time is 'not yet past' by the server's clock, not the asking process's: a process a
    year ahead cannot ask what the ledger will have known tomorrow."""
    ledger = Ledger.open(pg_url)
    ledger.init()
    ledger.append([listed(), deposit("alice", "10", t=1)])
    server = _server_now(ledger)
    with freeze_time(server + timedelta(days=365)), pytest.raises(Exception, match="is not in the past"):
        ledger.history("alice", known_at=server + timedelta(days=1))
    ledger.close()
