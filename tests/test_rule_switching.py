"""A history that switches between all four versions: each decides under its own margin model, the audit agrees.

Every activation takes effect at its place in the log; each liquidation is
re-decided by the audit with the version then in force (its params, its
margin model, its memory of earlier partial closes); the stored log is the
same byte for byte on SQLite, PostgreSQL and the in-memory store.
"""

from __future__ import annotations

from ledger import Ledger
from tests.conftest import fixed_clock
from tests.support.builders import deposit, mark, rules, stepped, tiered, trade, two_markets


def switching_history():
    """partial-v1, tiered-v1, full-v1, then stepped-v1, each deciding a liquidation of its own."""
    return [
        *two_markets(), rules(t=0.5),
        deposit("alice", "1000", t=1), trade("alice", "buy", "0.5", "60000", t=2), mark("58200", t=3),
        tiered(t=4, id="r-2"),
        deposit("bob", "1000", t=5), trade("bob", "buy", "1", "58200", t=6), mark("57500", t=7),
        rules(version="full-v1", t=8, id="r-3"),
        deposit("carol", "500", t=9), trade("carol", "sell", "0.2", "57500", t=10), mark("60000", t=11),
        stepped(t=12, id="r-4"),
        deposit("dan", "700", t=13), trade("dan", "buy", "2.5", "60000", fee="0", t=14), mark("60000", t=15),
        mark("59950", t=15.25, id="k-late"),
    ]


def test_the_audit_passes_on_a_history_switching_all_four_versions(ledger):
    """A history switching through all four versions has each liquidate under its own rules; the audit re-derives every one."""
    ledger.append(switching_history())
    versions = [liq.rule_version for _, liq in ledger.liquidations()]
    assert set(versions) == {e.version for e in switching_history() if e.TYPE == "rules_activated"}
    assert [liq.reason.split(":")[0] for _, liq in ledger.liquidations() if liq.account == "dan"] == ["step", "whole"]
    report = ledger.audit()
    assert report.ok, report.discrepancies
    assert report.liquidations_checked == len(versions)


def test_the_log_is_the_same_on_every_backend(ledger):
    """The same history leaves the same stored payloads and hashes on the database backend and in the in-memory store."""
    ledger.append(switching_history())
    with Ledger.open("memory://", clock=fixed_clock) as twin:
        twin.init()
        twin.append(switching_history())
        assert [(r.payload, r.hash) for r in twin.events()] == [(r.payload, r.hash) for r in ledger.events()]


def test_the_audit_catches_a_stepped_decision_that_ignored_the_cooldown(sqlite_ledger):
    """Tampered: the late mark's whole close (the account was cooling down) rewritten as a 0.4 step."""
    from tests.support.tampering import tamper

    sqlite_ledger.append(switching_history())
    [late] = [liq for _, liq in sqlite_ledger.liquidations() if liq.trigger == "k-late"]
    assert late.qty == 2  # dan's rest, closed whole while cooling down
    stored = f'"qty":"{late.qty}"'
    tamper(sqlite_ledger.store, f"UPDATE events SET payload = replace(payload, '{stored}', '\"qty\":\"0.4\"') "
                                f"WHERE event_id = '{late.id}'")
    report = sqlite_ledger.audit()
    mismatch = [d for d in report.discrepancies if d.kind == "liquidation_mismatch"]
    assert [d.event_id for d in mismatch] == [late.id] and f"qty stored 0.4, rule decides {late.qty}" in mismatch[0].detail
