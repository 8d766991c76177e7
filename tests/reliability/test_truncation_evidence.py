"""#15 point 4: events removed from the tail leave evidence that ``verify`` reports.

The attack: with the append-only triggers dropped (DDL), delete the last
events. The chain of what is left still verifies (a prefix of a chain is a
chain), and the audit replays it happily; but the snapshot cache still holds
a snapshot taken after the removed events. ``verify`` now names it. A
snapshot that names a hash its event does not carry (a rewritten event with
the chain recomputed, or a forged snapshot) is reported the same way.
"""

from __future__ import annotations

from ledger import Ledger
from tests.conftest import fixed_clock
from tests.support.builders import deposit, listed, mark, trade
from tests.support.tampering import tamper


def _ledger_with_a_snapshot(url: str) -> Ledger:
    ledger = Ledger.open(url, clock=fixed_clock)
    ledger.init()
    ledger.append([listed(), deposit("alice", "1000", t=1), deposit("bob", "1000", t=1),
                   trade("alice", "buy", "0.01", "60000", t=2), trade("bob", "sell", "0.01", "60000", t=2)])
    assert ledger.snapshot()
    ledger.append([mark("59000", t=3)])
    return ledger


def test_tail_truncation_behind_a_snapshot_is_reported_by_verify(db_url):
    """Events removed from the tail behind a snapshot are reported by verify, naming the first removed sequence number."""
    with _ledger_with_a_snapshot(db_url) as ledger:
        assert ledger.verify().ok
        tamper(ledger.store, "DELETE FROM events WHERE seq > 3")
        report = ledger.verify()
        assert not report.ok and report.first_bad_seq == 4
        assert "past the head #3: events after #3 were removed" in report.problem


def test_a_snapshot_naming_a_hash_its_event_does_not_carry_is_reported(db_url):
    """A snapshot naming a hash its event does not carry is reported by verify at that event."""
    with _ledger_with_a_snapshot(db_url) as ledger:
        tamper(ledger.store, "UPDATE snapshots SET event_hash = 'x' || substr(event_hash, 2)")
        report = ledger.verify()
        assert not report.ok and report.first_bad_seq == 5
        assert "names a hash that event does not carry" in report.problem
