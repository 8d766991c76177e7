"""A business time from the far future cannot block the ledger (reliability issue, point 6).

The attack: one event stamped 9999-12-31T23:59:59Z was accepted, and every
real event after it was refused as going backwards, permanently. An ingested
event's business time may now be at most its recording time plus a tolerance
(5 minutes by default; ``--future-tolerance`` / ``$LEDGER_FUTURE_TOLERANCE``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ledger import InvalidBatch, Ledger
from ledger.domain import events as ev
from tests.conftest import fixed_clock
from tests.support.cli import run

FAR_FUTURE = '{"type": "deposit", "id": "d-future", "at": "9999-12-31T23:59:59Z", "account": "mallory", "asset": "USD", "amount": "1"}\n'
NOW_ISH = '{"type": "deposit", "id": "d-now", "at": "2024-08-05T00:00:00Z", "account": "alice", "asset": "USD", "amount": "1"}\n'


def test_an_event_from_the_far_future_is_refused_naming_its_line_and_real_events_still_ingest(db_url, tmp_path):
    """An event dated beyond the recording time's tolerance is refused naming its line, and real events still ingest after it."""
    future, real = tmp_path / "future.jsonl", tmp_path / "real.jsonl"
    future.write_text(NOW_ISH.replace("d-now", "d-0") + FAR_FUTURE)
    real.write_text(NOW_ISH)
    assert run(db_url, "init")[0] == 0
    code, _, err = run(db_url, "ingest", str(future))
    assert code == 2 and f"{future}:2: business time 9999-12-31T23:59:59.000000Z is later than the recording time" in err
    code, out, _ = run(db_url, "ingest", str(real))
    assert code == 0 and "1 appended" in out


def deposit_at(when: datetime, id: str) -> ev.Deposit:
    return ev.Deposit(id=id, at=when, account="alice", asset="USD", amount=Decimal("1"))


@pytest.mark.parametrize(("ahead", "accepted"), [(timedelta(minutes=5), True), (timedelta(minutes=5, microseconds=1), False)])
def test_the_default_tolerance_is_five_minutes_past_the_recording_time(ahead, accepted):
    """By default a business time up to five minutes past the recording time is accepted; a microsecond more stores nothing."""
    with Ledger.open("memory://", clock=fixed_clock) as ledger:
        ledger.init()
        event = deposit_at(fixed_clock() + ahead, "d-1")
        if accepted:
            assert ledger.append([event]).appended == 1
        else:
            with pytest.raises(InvalidBatch, match=r"event d-1: business time 2026-01-01T00:05:00\.000001Z is later"):
                ledger.append([event])
            assert ledger.head_seq() == 0


def test_the_tolerance_is_configured(tmp_path):
    """The future tolerance is configurable: an event an hour ahead is refused by default, accepted with a two-hour tolerance."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    soon = datetime.now(UTC) + timedelta(hours=1)
    line = NOW_ISH.replace("2024-08-05T00:00:00Z", soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    (tmp_path / "soon.jsonl").write_text(line)
    assert run(url, "init")[0] == 0
    assert run(url, "ingest", str(tmp_path / "soon.jsonl"))[0] == 2
    assert run(url, "--future-tolerance", "7200", "ingest", str(tmp_path / "soon.jsonl"))[0] == 0
