"""What ``verify`` proves about a stored log, and the anchor that lets an outsider check it later.

In order, stopping at the first problem (its sequence number and event named):

1. the hash chain: every row fits its content and the row before it;
2. with a key: the seals follow each other from event 1 without a gap, each
   signature verifies, each names the hash its last event carries, and the
   last one reaches the head (rows after it were written without the key:
   forged, or by a ledger not given the key);
3. the evidence the log leaves behind: no seal and no snapshot may point past
   the head (events removed from the tail), no snapshot may name a hash its
   event does not carry, and with a key every sealed snapshot's seal must
   verify, and every snapshot from the first keyed append on must be sealed
   (a forged one is never used; unsealed ones from before the key are
   ignored by a keyed ledger);
4. an anchor kept outside the database (``anchor``): the log must still hold
   its event with its hash (truncation or rewriting behind a published head).

Without a key the report says plainly what the chain is then worth: proof
against careless edits, not against anyone who can write to the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ledger.domain.words import counted
from ledger.errors import UnsealedLog
from ledger.store import ProvenLog, VerifyReport
from ledger.store.key_schedule import KeySchedule
from ledger.store.snapshots import LEDGER_SCOPE, snapshot_digest

__all__ = ["verify", "anchor", "NO_KEY"]

NO_KEY = ("no key configured (--key or $LEDGER_KEY): the hash chain shows careless edits, but anyone who can write "
          "to the database can extend or rewrite it undetected; configure a key (`ledger keygen`) to seal the log")


def _broken(report: VerifyReport, seq: int | None, event_id: str | None, problem: str) -> VerifyReport:
    return attrs.evolve(report, first_bad_seq=seq, first_bad_event=event_id, problem=problem)


def verify(store: ProvenLog, anchor_record: Mapping[str, Any] | None = None) -> VerifyReport:
    seals = store.seals() if store.keyring is not None else []
    points = store.snapshots.points()
    # every event the seals and snapshots name is read in the chain's own pass, not looked up one by one
    report = store.verify(keep={seal[1] for seal in seals} | set(points))
    if not report.ok:
        return report
    head = report.events_checked
    found = _seals(store, report, head, seals) if store.keyring is not None else None
    if isinstance(found, VerifyReport):
        return found
    report = attrs.evolve(report, seals_checked=found[0] if found else 0,
                          notes=report.notes + (found[1] if found else (NO_KEY,)))
    report = _snapshots(store, report, head, points, seals, found[2] if found else None)
    if not report.ok:
        return report
    if anchor_record is not None:
        return _anchor(store, report, head, anchor_record)
    return report


def _at(report: VerifyReport, seq: int) -> tuple[str | None, str | None]:
    """(event id, hash) of event ``seq`` as the chain's pass read it; (None, None) past the head."""
    return report.at_points.get(seq, (None, None))


def _seals(
    store: ProvenLog, report: VerifyReport, head: int, seals: list[tuple[int, int, str, str, str]],
) -> VerifyReport | tuple[int, tuple[str, ...], KeySchedule]:
    """Every seal in order, each with the key in force for its events; (the number checked, notes on the keys, the
    keys followed), or the report of the first problem."""
    try:
        schedule = store.key_schedule()
    except UnsealedLog as exc:
        return _broken(report, None, None, str(exc))
    assert schedule is not None
    expected_from = 1
    for seq_from, seq_to, head_hash, key_id, signature in seals:
        if seq_to > head:
            return _broken(report, head + 1, None, f"a seal covers events up to #{seq_to}, past the head #{head}: "
                           f"events after #{head} were removed")
        event_id, event_hash = _at(report, seq_to)
        if seq_from != expected_from:
            return _broken(report, expected_from, None, f"the seals jump from #{expected_from - 1} to #{seq_from}: "
                           "a seal is missing")
        if not schedule.seal_verifies(seq_from, seq_to, head_hash, signature):
            in_force = schedule.key_for(seq_from).key_id
            why = (f"sealed with another key ({key_id}), not {in_force}, the key in force there" if key_id != in_force
                   else "its signature does not verify, or it names another ledger")
            return _broken(report, seq_from, None, f"the seal of events #{seq_from} to #{seq_to} is not this "
                           f"key's: {why}")
        if event_hash != head_hash:
            return _broken(report, seq_to, event_id,
                           f"event #{seq_to} does not carry the hash its seal names: the log was rewritten")
        expected_from = seq_to + 1
    if expected_from <= head:
        row = store.row_at(expected_from)
        return _broken(report, expected_from, row.event_id if row else None,
                       f"events #{expected_from} to #{head} are not sealed: written without the key (or forged)")
    return len(seals), _key_notes(schedule), schedule


def _key_notes(schedule: KeySchedule) -> tuple[str, ...]:
    """What verify says of the keys it followed: each rotation, and a retired key at hand."""
    notes = [f"key {old.key_id} handed over to key {new.key_id} after event #{start - 1} (signed by both)"
             for old, new, start in zip(schedule.keys, schedule.keys[1:], schedule.starts[1:], strict=False)]
    if schedule.retired_at is not None:
        notes.append(f"the key at hand ({schedule.current.key_id}) was retired after event #{schedule.retired_at}: "
                     f"it verifies, the newest key ({schedule.newest.key_id}) seals")
    return tuple(notes)


def _snapshots(
    store: ProvenLog, report: VerifyReport, head: int, points: Mapping[int, tuple[str, set[str]]],
    seals: list[tuple[int, int, str, str, str]], schedule: KeySchedule | None,
) -> VerifyReport:
    """Every snapshot at a point the log still holds, and every whole-ledger one as the log binds it (a forged one
    breaks the report; one never bound is a note); with a key, every one sealed as it must be."""
    for seq, (scope, hashes) in sorted(points.items()):
        if seq > head:
            return _broken(report, head + 1, None, f"the snapshot cache holds a snapshot of {scope} after event #{seq}, "
                           f"past the head #{head}: events after #{head} were removed")
        event_id, event_hash = _at(report, seq)
        if {event_hash} != hashes:
            return _broken(report, seq, event_id,
                           f"a snapshot of {scope} after event #{seq} names a hash that event does not carry: "
                           "the event was rewritten (with the chain recomputed) or the snapshot forged")
    every = store.snapshots.sealed()
    bound = store.snapshots.bindings([seq for scope, seq, *_ in every if scope == LEDGER_SCOPE])
    unbound: list[int] = []
    for scope, seq, _, fmt, state, _ in every:
        if scope != LEDGER_SCOPE:
            continue
        if seq not in bound:
            unbound.append(seq)
        elif bound[seq] != snapshot_digest(scope, seq, fmt, state):
            return _broken(report, seq, _at(report, seq)[0],
                           f"the snapshot of {scope} after event #{seq} is not the one the log binds there (its digest "
                           "differs from the one stored with the event): forged (never used)")
    if schedule is None:
        return attrs.evolve(report, notes=(*report.notes, _unbound(unbound))) if unbound else report
    sealing_since = seals[0][1] if seals else None  # the first keyed append: every snapshot from there on is sealed
    for scope, seq, event_hash, fmt, state, seal in every:
        unsealed_in_sealed_era = seal is None and sealing_since is not None and seq >= sealing_since
        if unsealed_in_sealed_era or (seal is not None and not schedule.snapshot_verifies(scope, seq, event_hash, fmt, state,
                                                                                          seal)):
            return _broken(report, seq, _at(report, seq)[0],
                           f"the snapshot of {scope} after event #{seq} does not match its seal: forged (never used)")
    return report


def _unbound(seqs: list[int]) -> str:
    points = ", ".join(f"#{seq}" for seq in sorted(set(seqs))[:5]) + (", ..." if len(set(seqs)) > 5 else "")
    return (f"{counted(len(seqs), 'whole-ledger snapshot')} ({points}) not bound in the log (taken before "
            "the log held digests, by `ledger snapshot`, or forged): never used without a key")


def _anchor(store: ProvenLog, report: VerifyReport, head: int, record: Mapping[str, Any]) -> VerifyReport:
    try:
        seq, expected = int(record["seq"]), str(record["hash"])
    except (KeyError, TypeError, ValueError):
        return _broken(report, None, None, "the anchor is not a record of seq and hash (`ledger anchor` writes one)")
    if seq > head:
        return _broken(report, head + 1, None, f"the anchor names event #{seq}, past the head #{head}: "
                       f"events after #{head} were removed")
    row = store.row_at(seq)
    if row is None or row.hash != expected:
        return _broken(report, seq, row.event_id if row else None,
                       f"event #{seq} does not carry the anchor's hash: the log was rewritten behind the anchor")
    return attrs.evolve(report, notes=(*report.notes, f"the anchor at #{seq} holds"))


def anchor(store: ProvenLog) -> dict[str, Any]:
    """The head (sequence number, chain hash) and, with a key, the seal that covers it."""
    seq, head_hash = store.head()
    record: dict[str, Any] = {"seq": seq, "hash": head_hash}
    last = next((s for s in reversed(store.seals()) if s[1] == seq), None)
    if last is not None:
        record.update(seal={"seq_from": last[0], "key_id": last[3], "signature": last[4]})
    return record
