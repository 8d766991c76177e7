"""Times: the stored text (``ledger.domain.timefmt``) and what an event's ``at`` may hold.

Every append writes each event's business time with ``format_time``; it
formats the fields itself rather than asking ``isoformat`` and cutting its
offset off (half the cost), so it is held here to ``isoformat``'s text over
the whole range of times, at the edges of the year's width included. An
event's ``at`` is a UTC time; its validator answers the usual one (``UTC``
itself) without asking for the offset, and still refuses every other.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.events import Mark
from ledger.domain.timefmt import format_time, parse_time

_ZONES = st.one_of(st.just(UTC), st.builds(lambda minutes: timezone(timedelta(minutes=minutes)),
                                            st.integers(min_value=-23 * 60, max_value=23 * 60)))


_WHOLE_RANGE = {"min_value": datetime(1, 1, 2, tzinfo=UTC).replace(tzinfo=None),
                "max_value": datetime(9999, 12, 30, tzinfo=UTC).replace(tzinfo=None)}
"""Every year from 1 to 9,999 (a day off each end, so the time in UTC stays in range whatever the drawn zone);
naive, as hypothesis takes its bounds (each is read in the drawn zone)."""


@given(st.datetimes(**_WHOLE_RANGE, timezones=_ZONES))
def test_a_time_is_written_as_isoformat_writes_it_in_utc_with_z(value):
    """Any aware time: its UTC instant as ``isoformat(timespec="microseconds")`` writes it, ``Z`` for the offset,
    27 characters wide, and read back to the same instant."""
    text = format_time(value)
    in_utc = value.astimezone(UTC)
    assert text == in_utc.isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"
    assert len(text) == 27
    assert parse_time(text) == value


def test_the_edges_of_the_year_s_width():
    """Years below 1,000 are zero-padded to four digits, as ``isoformat`` pads them (sorting as time does)."""
    assert format_time(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000000Z"
    assert format_time(datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "0999-12-31T23:59:59.999999Z"
    assert format_time(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "9999-12-31T23:59:59.999999Z"


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(0)), timezone(timedelta(0), "UTC+0")])
def test_an_event_holds_any_time_in_utc(zone):
    """``UTC`` itself, and any other zone at offset zero, is a UTC time."""
    mark = Mark(id="k-1", at=datetime(2024, 1, 1, tzinfo=zone), market="BTC-PERP", price=Decimal("1"))
    assert mark.at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("at", [
    datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None),  # naive
    datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1))),
    datetime(2024, 1, 1, tzinfo=timezone(timedelta(microseconds=-1))),
    date(2024, 1, 1),
    "2024-01-01T00:00:00Z",
])
def test_an_event_refuses_a_time_that_is_not_utc(at):
    """A naive time, another offset (by a microsecond too), a date or text: refused, naming the field."""
    with pytest.raises(TypeError, match="at must be a UTC datetime"):
        Mark(id="k-1", at=at, market="BTC-PERP", price=Decimal("1"))
