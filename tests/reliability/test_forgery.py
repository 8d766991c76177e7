"""#15 points 1 and 2: a log that forgery cannot fool.

Attacks first, as a database user would run them with the ledger's own
privileges (INSERT on events; DELETE and INSERT on snapshots, which pruning
needs):

- point 2: a row appended at the tail with a correctly computed hash passes
  the unkeyed chain; with a key, ``verify`` names it as unsealed and a keyed
  ledger refuses to build on it;
- point 1: a forged whole-ledger snapshot (alice +1,000,000) used to let a
  500,000 withdrawal against 999 through; now no decision rests on a snapshot
  whose content is not proven (sealed with the key, or bound in the log by the
  digest its append stored, #30), so the withdrawal is refused, and
  ``verify`` names the forged snapshot;
- anchors: a head published outside the database catches truncation even
  when the attacker also removes the evidence the database held.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from ledger import InvalidBatch, Ledger
from ledger.domain.snapshot import SNAPSHOT_FORMAT, dump_state, load_state
from ledger.errors import KeyUnusable, UnsealedLog
from tests.reliability.conftest import opened
from tests.support.builders import deposit, listed, withdrawal
from tests.support.cli import run
from tests.support.tampering import insert_tail_deposit, tamper


def _forge_tail_row(ledger: Ledger) -> None:
    """INSERT only: one more deposit, numbered, versioned and chained exactly as the ledger would have."""
    insert_tail_deposit(ledger.store, "forged", "mallory", "1000000")


def test_the_attack_a_forged_tail_row_passes_an_unkeyed_chain(db_url):
    """Without a key, a correctly chained forged tail row passes verify and the audit, and verify's notes warn of this plainly."""
    ledger = opened(db_url)
    ledger.append([listed(), deposit("alice", "999", t=1)])
    _forge_tail_row(ledger)
    report = ledger.verify()
    assert report.ok and report.events_checked == 3, "the unkeyed chain cannot tell"
    assert any("anyone who can write to the database" in note for note in report.notes), "and verify says so plainly"
    assert ledger.audit().ok
    ledger.close()


def test_with_a_key_a_forged_tail_row_is_named_and_never_built_upon(db_url, key):
    """With a key, verify names a forged tail row as unsealed, and the ledger refuses to append on top of it."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "999", t=1)])
    ledger.append([deposit("bob", "5", t=2)])
    report = ledger.verify()
    assert report.ok and report.seals_checked == 2 and not report.notes
    _forge_tail_row(ledger)
    report = ledger.verify()
    assert not report.ok and report.first_bad_seq == 4 and report.first_bad_event == "forged"
    assert "not sealed: written without the key" in report.problem
    with pytest.raises(UnsealedLog, match="events #4 to #4 are not sealed"):
        ledger.append([deposit("carol", "1", t=6)])
    assert ledger.store.head()[0] == 4, "nothing was stored on top of the forged row"
    ledger.close()
    verifier = opened(db_url, key[1])  # the public key alone: verifies, cannot seal
    assert not verifier.verify().ok
    verifier.close()


def test_a_seal_made_with_another_key_or_altered_is_refused(db_url, key, tmp_path):
    """A log sealed with one key fails verify under another key, reported as sealed with another key."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "999", t=1)])
    ledger.close()
    other, _, _ = Ledger.generate_key(tmp_path / "other.key")
    stranger = opened(db_url, other)
    report = stranger.verify()
    assert not report.ok and "sealed with another key" in report.problem
    stranger.close()


def _forge_snapshot(ledger: Ledger) -> None:
    """DELETE and INSERT on snapshots: the whole-ledger snapshot now says alice holds 1,000,999."""
    with ledger.store.engine.connect() as conn:
        seq, event_hash, state = conn.execute(text(
            "SELECT seq, event_hash, state FROM snapshots WHERE scope = 'ledger' ORDER BY seq DESC LIMIT 1")).one()
    forged = json.loads(state)
    forged["accounts"]["alice"]["cash"]["USD"] = "1000999"
    forged["system"]["external"]["USD"] = "-1000999"  # balanced: the books still sum to zero
    tamper(ledger.store, "DELETE FROM snapshots")
    with ledger.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO snapshots (scope, seq, event_hash, format, state) VALUES "
                          "('ledger', :seq, :hash, :fmt, :state)"),
                     {"seq": seq, "hash": event_hash, "fmt": SNAPSHOT_FORMAT, "state": json.dumps(forged)})
    assert load_state(json.dumps(forged)).accounts["alice"].cash["USD"] == 1000999


@pytest.mark.parametrize("keyed", [False, True])
def test_a_forged_snapshot_never_decides_a_withdrawal(db_url, key, keyed):
    """A forged whole-ledger snapshot never lets a withdrawal through; with a key verify names it, without one the audit fails."""
    ledger = opened(db_url, key[0] if keyed else None)
    ledger.append([listed(), deposit("alice", "999", t=1)])
    assert ledger.snapshot()
    ledger.close()
    ledger = opened(db_url, key[0] if keyed else None)  # a new process: nothing warm in memory
    _forge_snapshot(ledger)
    with pytest.raises(InvalidBatch, match="exceeds the 999 available"):
        ledger.append([withdrawal("alice", "500000", t=2)])
    assert ledger.head_seq() == 2
    assert dump_state(ledger.state()) != "", "reads still work"
    report = ledger.verify()
    if keyed:
        assert not report.ok and "does not match its seal: forged" in report.problem
        assert ledger.state().accounts["alice"].cash["USD"] == 999, "a keyed ledger never loads it, even to read"
    else:
        assert report.ok and any("snapshot (#2) not bound in the log" in note for note in report.notes), \
            "`ledger snapshot` made it outside any append: the log never bound it, so it is named and never used"
        assert not ledger.audit().ok
    ledger.close()


@pytest.mark.parametrize("keyed", [False, True])
def test_a_snapshot_the_log_binds_is_used_and_a_forged_one_never_decides(db_url, key, keyed, monkeypatch):
    """#30: the append that makes a whole-ledger snapshot due binds its digest in the log, so a new process (no
    key needed) folds only the events after it. Replaced by a forged one (alice +1,000,000, DELETE and INSERT on
    snapshots), it is passed over: the 500,000 withdrawal is refused, and `verify` names the forged snapshot."""
    from ledger.replay import load

    monkeypatch.setattr(load, "SNAPSHOT_EVERY", 3)  # a snapshot every 3 events (1,000 in production)
    ledger = opened(db_url, key[0] if keyed else None)
    ledger.append([listed(), deposit("alice", "999", t=1), deposit("bob", "1", t=1)])
    with ledger.store.engine.connect() as conn:
        bound = conn.execute(text("SELECT seq FROM events WHERE snapshot_digest IS NOT NULL")).scalars().all()
    assert bound == [3] and ledger.store.snapshots.latest_seq("ledger", SNAPSHOT_FORMAT) == 3
    ledger.close()
    ledger = opened(db_url, key[0] if keyed else None)  # a new process: nothing warm in memory
    read_after: list[int] = []
    reader = ledger.store.read_batches
    monkeypatch.setattr(ledger.store, "read_batches", lambda **kw: read_after.append(kw.get("after_seq", 0)) or reader(**kw))
    ledger.append([deposit("carol", "1", t=2)])
    assert read_after == [3], "the append folded only the events after the bound snapshot"
    assert ledger.verify().ok
    ledger.close()
    ledger = opened(db_url, key[0] if keyed else None)
    _forge_snapshot(ledger)
    with pytest.raises(InvalidBatch, match="exceeds the 999 available"):
        ledger.append([withdrawal("alice", "500000", t=3)])
    report = ledger.verify()
    assert not report.ok and report.first_bad_seq == 3 and "forged (never used)" in report.problem
    assert ledger.state().accounts["alice"].cash["USD"] == 999, "reads pass over it too"
    ledger.close()


def test_an_anchor_kept_outside_catches_truncation_even_with_the_evidence_removed(db_url, key, tmp_path):
    """An anchor kept outside the database catches tail truncation even after the seals and snapshots are removed, key or not."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "999", t=1), deposit("bob", "5", t=2)])
    anchor = ledger.anchor()
    assert anchor["seq"] == 3 and anchor["seal"]["key_id"]
    tamper(ledger.store, "DELETE FROM events WHERE seq = 3")
    report = ledger.verify()
    assert not report.ok and "past the head #2" in report.problem, "the seal left behind is evidence"
    if ledger.store.dialect == "postgresql":
        tamper(ledger.store, "ALTER TABLE seals DISABLE TRIGGER USER")
    else:
        tamper(ledger.store, "DROP TRIGGER seals_no_delete")
    tamper(ledger.store, "DELETE FROM seals")
    tamper(ledger.store, "DELETE FROM snapshots")
    assert not ledger.verify().ok, "unsealed rows now: the first seal went with the evidence"
    report = ledger.verify(anchor)
    assert not report.ok
    ledger.close()
    unkeyed = opened(db_url)
    report = unkeyed.verify(anchor)
    assert not report.ok and "past the head #2" in report.problem, "the anchor alone, without any key, still tells"
    unkeyed.close()


def test_a_public_key_verifies_but_cannot_seal(db_url, key):
    """A ledger opened with the public key alone verifies the log but refuses to append, storing nothing."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "999", t=1)])
    ledger.close()
    public = opened(db_url, key[1])
    assert public.verify().ok
    with pytest.raises(KeyUnusable, match="public key"):
        public.append([deposit("bob", "5", t=2)])
    assert public.head_seq() == 2
    public.close()


def test_keygen_anchor_and_verify_from_the_command_line(db_url, tmp_path):
    """From the command line, ``keygen`` makes a key pair without overwriting one, and ``verify`` checks seals and an anchor.
    The private key is readable by its owner only (0600); without a key, verify passes and says none is configured."""
    key = tmp_path / "k"
    code, out, _ = run(db_url, "keygen", str(key))
    assert code == 0 and "key id" in out and key.exists() and (tmp_path / "k.pub").exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    code, _, err = run(db_url, "keygen", str(key))
    assert code == 2 and "refusing to overwrite" in err
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps({"type": "deposit", "id": "d", "at": "2024-08-05T00:00:00Z", "account": "alice",
                                   "asset": "USD", "amount": "5"}) + "\n")
    assert run(db_url, "--key", str(key), "init")[0] == 0
    assert run(db_url, "--key", str(key), "ingest", str(history))[0] == 0
    code, out, err = run(db_url, "--key", str(key) + ".pub", "verify")
    assert code == 0 and "1 event, 1 seal," in out and "note" not in err
    code, _, err = run(db_url, "verify")
    assert code == 0 and "no key configured" in err
    anchor_file = tmp_path / "anchor.json"
    assert run(db_url, "--key", str(key), "anchor", "--out", str(anchor_file))[0] == 0
    code, _, err = run(db_url, "verify", "--anchor", str(anchor_file))
    assert code == 0 and "the anchor at #1 holds" in err
