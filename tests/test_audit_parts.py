"""The audit in parts side by side reports exactly what the one-pass audit reports, discrepancy for discrepancy.

Every cut of the sample history (honest and tampered four ways, with snapshots
of the ledger and of each account before and after the cut) and of generated
histories with liquidations, bankruptcies and deleveraging is audited in
parts, in turn in this process, and compared with the one pass; the parts in
their own processes are compared on SQLite and PostgreSQL, and a failed join
falls back to the one pass's report.
"""

from __future__ import annotations

import gc
import weakref

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Ledger
from ledger.compliance import audit_parts
from ledger.compliance.audit import AuditReport, audit
from ledger.compliance.audit_parts import audit_in_parts, audit_in_turn, cut_points
from ledger.domain.events import ENGINE_TYPES
from ledger.replay import fast_fold
from tests.conftest import ROOT, fixed_clock
from tests.support.builders import deposit, listed, mark, rules, trade
from tests.support.cli import run
from tests.support.histories import activations, generated_ledger, policies, steps
from tests.support.tampering import rechain, tamper

SAMPLE = ROOT / "examples" / "sample-history.jsonl"

TAMPERINGS = {
    "honest": (),
    "payload": ("UPDATE events SET payload = replace(payload, '\"5000\"', '\"50000\"') WHERE event_id = 'd-alice'",),
    "deleted row": ("DELETE FROM events WHERE event_id = 'w-1'",),
    "liquidation quantity": (("UPDATE events SET payload = replace(payload, '\"qty\":\"1.452\"', '\"qty\":\"1.5\"') "
                              "WHERE event_id = 'k-btc-4/liq/alice/BTC-PERP'"),),
    "missing liquidation": ("DELETE FROM events WHERE event_id = 'k-btc-3/liq/dave/BTC-PERP'",),
    "a row that does not decode": ("UPDATE events SET payload = 'not json' WHERE event_id = 'k-eth-3'",),
}


def snapshotted_sample(ledger: Ledger, tmp_path) -> Ledger:
    """The sample history with snapshots (the ledger's and each account's) after its first 30 lines and at its head."""
    lines = SAMPLE.read_text().splitlines(keepends=True)
    first, rest = tmp_path / "first.jsonl", tmp_path / "rest.jsonl"
    first.write_text("".join(lines[:30]))
    rest.write_text("".join(lines[30:]))
    ledger.ingest_file(first)
    assert ledger.snapshot()
    ledger.ingest_file(rest)
    assert ledger.snapshot()
    return ledger


def every_cut(ledger: Ledger) -> list[int]:
    """Every place a part may end: before each ingested event but the first."""
    return [row.seq - 1 for row in ledger.store.read() if row.type not in ENGINE_TYPES and row.seq > 1]


@pytest.mark.parametrize("tampering", TAMPERINGS)
@pytest.mark.parametrize("rechained", [False, True])
@pytest.mark.parametrize("exhaustive", [False, True])
def test_parts_in_turn_report_what_one_pass_reports_at_every_cut(sqlite_ledger, tmp_path, tampering, rechained,
                                                                 exhaustive):
    """At every cut (and every pair of cuts) of the sample, honest or tampered (its chain broken, or recomputed so
    that it verifies and only the re-derivations catch the rewrite), the parts' report is the one pass's."""
    ledger = snapshotted_sample(sqlite_ledger, tmp_path)
    accounts = len(ledger.state().accounts)
    for statement in TAMPERINGS[tampering]:
        tamper(ledger.store, statement)
    if rechained:
        rechain(ledger.store)
    one = audit(ledger.store, exhaustive=exhaustive)
    stopped = any(d.kind == "undecodable" for d in one.discrepancies)  # before the snapshots
    assert one.ok == (tampering == "honest") and (one.snapshots_checked > accounts or stopped)
    deleted = any(statement.startswith("DELETE") for statement in TAMPERINGS[tampering])  # a gap stays a gap
    broken = bool(TAMPERINGS[tampering]) and (not rechained or deleted)
    assert any(d.kind == "hash_chain" for d in one.discrepancies) == broken
    cuts = every_cut(ledger)
    for cut in cuts:
        assert audit_in_turn(ledger.store, [cut], exhaustive=exhaustive) == one, f"cut after #{cut}"
    for first, second in zip(cuts[::3], cuts[1::3], strict=False):
        assert audit_in_turn(ledger.store, [first, second], exhaustive=exhaustive) == one, f"cuts {first}, {second}"


@pytest.mark.parametrize("undecodable", [False, True])
def test_a_mark_whose_liquidation_is_missing_is_named_where_the_one_pass_names_it(sqlite_ledger, undecodable):
    """A writer that bypassed the engine (the chain holds): its mark's liquidation is missing. A cut right after the
    mark leaves it open; it is named at the next row, as the one pass names it, or not at all when that row does not
    decode (the one pass stops there first)."""
    ledger = sqlite_ledger
    ledger.append([listed("BTC-PERP"), listed("ETH-PERP", "0.01"), rules(), deposit("alice", "1000"),
                   deposit("bob", "1000"), trade("alice", "buy", "0.5", "60000")])
    ledger.store.append([mark("58200", t=3, id="k-bypass")], "2026-01-01T00:00:00.000000Z")
    ledger.store.append([deposit("bob", "5", t=4, id="d-after"), deposit("carol", "5", t=5, id="d-later")],
                        "2026-01-01T00:00:00.000000Z")
    if undecodable:
        tamper(ledger.store, "UPDATE events SET payload = 'not json' WHERE event_id = 'd-after'")
        rechain(ledger.store)
    one = audit(ledger.store)
    assert ledger.verify().ok
    missed = [(d.kind, d.seq) for d in one.discrepancies if d.kind == "missed_liquidation"]
    assert missed == ([] if undecodable else [("missed_liquidation", ledger.head_seq() - 1)])
    cut_after_mark = ledger.head_seq() - 2
    assert cut_after_mark in every_cut(ledger)
    for cut in every_cut(ledger):
        assert audit_in_turn(ledger.store, [cut]) == one, f"cut after #{cut}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activation=activations, policy=policies, history=st.lists(steps(), min_size=5, max_size=60))
def test_parts_in_turn_report_what_one_pass_reports_on_generated_histories(activation, policy, history):
    """Generated histories (every version and loss-allocation policy; liquidations, bankruptcies, deleveraging): the
    parts' report equals the one pass's at every cut."""
    ledger = generated_ledger(activation, policy, history)
    one = audit(ledger.store)
    assert one.ok
    for cut in every_cut(ledger):
        assert audit_in_turn(ledger.store, [cut]) == one, f"cut after #{cut}"


def test_a_join_that_fails_falls_back_to_the_one_pass(sqlite_ledger, tmp_path, monkeypatch):
    """Where the fast path's state at a cut differs from the reference fold's, the part after it is not trusted: the
    log is audited in one pass, and the report is the one pass's (the drift named at the head)."""
    ledger = snapshotted_sample(sqlite_ledger, tmp_path)

    def off_by_a_cent(size, entry, side, qty, price):
        size, entry, realized = fast_fold_fill(size, entry, side, qty, price)
        return size, entry + 1 if entry else entry, realized

    fast_fold_fill = fast_fold.fill
    monkeypatch.setattr(fast_fold, "fill", off_by_a_cent)
    fallbacks = []
    monkeypatch.setattr(audit_parts, "audit", lambda *args, **kwargs: fallbacks.append(1) or audit(*args, **kwargs))
    one = audit(ledger.store)
    assert [d.kind for d in one.discrepancies] == ["projection"]
    cut = every_cut(ledger)[len(every_cut(ledger)) // 2]
    assert audit_in_turn(ledger.store, [cut]) == one
    assert fallbacks == [1], "the join failed, and the log was audited in one pass"


def test_parts_in_their_own_processes_report_what_one_pass_reports(ledger, tmp_path):
    """Three processes on each backend: the same report as the one pass, honest and with a liquidation rewritten
    under a recomputed chain, and the progress counts every event once."""
    ledger = snapshotted_sample(ledger, tmp_path)
    counted = []
    parted = audit_in_parts(ledger.store, counted.append, parts=3, split_from=0)
    assert parted == audit(ledger.store) and parted.ok
    assert sum(counted) == ledger.head_seq()
    assert len(cut_points(ledger.store, ledger.head_seq(), 3)) == 2
    tamper(ledger.store, TAMPERINGS["liquidation quantity"][0])
    rechain(ledger.store)  # the chain holds: the parts run, and the re-derivations find the rewrite
    tampered = audit_in_parts(ledger.store, parts=3, split_from=0)
    assert tampered == audit(ledger.store) and not tampered.ok


def test_a_store_no_other_process_opens_is_audited_in_one_pass(monkeypatch):
    """An in-memory log cannot be opened by another process: it is audited in one pass, whatever the parts asked."""
    ledger = Ledger.open("memory://", clock=fixed_clock)
    ledger.init()
    ledger.ingest_file(SAMPLE)
    def no_process(*args):
        raise AssertionError("a process was started for a log no other process can open")

    monkeypatch.setattr(audit_parts.multiprocessing, "get_context", no_process)
    assert ledger.store.address() is None
    assert audit_in_parts(ledger.store, parts=4, split_from=0) == audit(ledger.store)


def test_a_part_that_fails_is_warned_about_and_the_log_audited_in_one_pass(sqlite_ledger, tmp_path, monkeypatch):
    """A part whose process cannot do its work is never read as a pass: the audit warns and audits the log in one
    pass, whose report it gives; its progress counts every event once (the one pass's rows shown only past those
    the first part showed), never past the log's length."""
    ledger = snapshotted_sample(sqlite_ledger, tmp_path)
    head = ledger.head_seq()
    nowhere = f"sqlite:///{tmp_path / 'no such folder' / 'ledger.db'}"
    monkeypatch.setattr(ledger.store, "address", lambda: nowhere)  # the parts open the log at its address: gone
    counted: list[int] = []
    with pytest.warns(RuntimeWarning, match="an audit part failed"):
        report = audit_in_parts(ledger.store, counted.append, parts=2, split_from=head)
    assert report == audit(ledger.store) and report.ok
    assert sum(counted) == head and min(counted) > 0


def test_a_join_that_fails_after_parts_were_joined_gives_the_one_pass_report_once(sqlite_ledger, tmp_path):
    """Three parts, the second join failing: what the parts before it found is not kept twice; the report is the one
    pass's."""
    ledger = snapshotted_sample(sqlite_ledger, tmp_path)
    tamper(ledger.store, TAMPERINGS["missing liquidation"][0])
    rechain(ledger.store)  # the chain holds: the parts run
    one = audit(ledger.store)
    assert not one.ok
    cuts = every_cut(ledger)
    first_cut, second_cut = cuts[len(cuts) // 3], cuts[2 * len(cuts) // 3]
    head = ledger.head_seq()
    report = AuditReport()
    audit_parts.check_chain(ledger.store, report)
    first = audit_parts.audit_span(ledger.store, report, upto_seq=first_cut, to_head=False)
    assert first.state is not None
    results = [audit_parts.run_part(ledger.store, first_cut, second_cut, False, False),
               attrs.evolve(audit_parts.run_part(ledger.store, second_cut, head, True, False), start="not this one")]
    assert not audit_parts.join_parts(ledger.store, report, results, [first_cut, second_cut],
                                      audit_parts.FastPath(ledger.store, head), first_end=audit_parts.digest(first.state),
                                      first_missed=first.missed)
    rest = audit(ledger.store)  # what audit_in_parts gives then
    assert rest == one and len(rest.discrepancies) == len(one.discrepancies)
    assert report.events_checked == first_cut  # rolled back to the first part's findings


def test_the_first_parts_state_is_let_go_before_the_fast_path_folds_the_log(sqlite_ledger, tmp_path, monkeypatch):
    """This process holds one state at a time: the first part's reference state is digested and let go before the
    fast path folds the whole log to the head (held together, the two doubled the audit's peak memory)."""
    ledger = snapshotted_sample(sqlite_ledger, tmp_path)
    first_states, alive = [], []
    span, fast_path = audit_parts.audit_span, audit_parts.FastPath

    def watched_span(*args, **kwargs):
        end = span(*args, **kwargs)
        first_states.append(weakref.ref(end.state))
        return end

    def watched_fast_path(*args):
        alive.append(first_states[0]() is not None)  # freed by its last reference going, not by a collection
        return fast_path(*args)

    monkeypatch.setattr(audit_parts, "audit_span", watched_span)
    monkeypatch.setattr(audit_parts, "FastPath", watched_fast_path)
    cuts = every_cut(ledger)
    gc.disable()  # a state kept alive by a reference cycle would still be there: the test would see it
    try:
        parted = audit_in_turn(ledger.store, [cuts[len(cuts) // 2]])
    finally:
        gc.enable()
    assert parted == audit(ledger.store)
    assert alive == [False], "the first part's state was still held while the fast path folded"


def test_by_default_one_part_per_core_but_never_more_than_a_few(sqlite_ledger, tmp_path, monkeypatch):
    """Each part holds a state of its own: the default takes one part per usable core, up to ``MOST_PARTS``, so a
    many-core machine does not hold dozens of states at once; ``--parts N`` asks for N."""
    from ledger.app import ledger as app

    ledger = snapshotted_sample(sqlite_ledger, tmp_path)
    asked = []
    monkeypatch.setattr(audit_parts, "audit_in_parts", lambda store, progress, **kwargs: asked.append(kwargs["parts"])
                        or audit(store))
    for cores, default in ((1, 1), (2, 2), (audit_parts.MOST_PARTS, audit_parts.MOST_PARTS),
                           (64, audit_parts.MOST_PARTS)):
        monkeypatch.setattr(app.os, "sched_getaffinity", lambda pid, cores=cores: set(range(cores)), raising=False)
        ledger.audit()
        assert asked.pop() == default, f"{cores} cores"
    ledger.audit(parts=64)
    assert asked == [64]
    from ledger.cli.compliance_commands import audit as audit_command

    helped = next(option.help for option in audit_command.params if option.name == "parts")
    assert f"at most {audit_parts.MOST_PARTS}" in (helped or ""), "the help names the cap"


def test_the_audit_command_in_parts_prints_what_one_pass_prints(sqlite_ledger, tmp_path, monkeypatch):
    """``ledger audit --parts 3`` (split even for a short log) prints exactly what ``--parts 1`` prints."""
    ledger = snapshotted_sample(sqlite_ledger, tmp_path)
    monkeypatch.setattr(audit_parts, "SPLIT_FROM", 0)
    one = run(ledger.url, "audit", "--parts", "1", "--format", "json")
    three = run(ledger.url, "audit", "--parts", "3", "--format", "json")
    assert one == three and one[0] == 0
    assert run(ledger.url, "audit", "--parts", "0")[0] == 2


def test_the_report_compares_whole():
    """``AuditReport`` equality, which the tests above lean on, compares every count and every discrepancy."""
    a, b = AuditReport(), AuditReport()
    assert a == b
    b.add("projection", 1, "x", "y")
    assert a != b
    assert a != attrs.evolve(a, marks_rederived=1)
