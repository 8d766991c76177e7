"""#27 points 4 and 9 (second half): seals name their ledger, and a key is retired by a record both keys sign.

4. Two ledgers sealed with one key (a staging ledger initialised apart and
   fed the same history) made seals that verified in each other: an
   INSERT-only attacker copied staging's rows and seals into production. Every
   seal now names the ledger's identity (made by ``ledger init``), so copied
   seals do not verify there. A restored copy holds the same identity (it *is*
   the ledger, for disaster recovery): used apart, it must first rotate to a
   key of its own, and then its seals do not verify in production either.
9. ``ledger rotate-key``: the old key hands over and the new key accepts, in
   one record; either key's public half verifies the whole log after it; the
   retired key appends nothing; a rotation record not signed by both is
   refused everywhere.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from ledger import Ledger
from ledger.errors import KeyUnusable, UnprovenLog, UnsealedLog
from ledger.store.seals import Keyring, seal_message
from tests.reliability.conftest import opened
from tests.support.builders import deposit, listed, withdrawal
from tests.support.cli import run


def _copy_tail(source: Ledger, target: Ledger) -> None:
    """INSERT only: the rows ``source`` holds past ``target``'s head, and their seals, inserted into ``target``."""
    head = target.store.head()[0]
    with source.store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM events WHERE seq > :h ORDER BY seq"),
                                                         {"h": head})]
        seals = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM seals WHERE seq_from > :h"), {"h": head})]
    with target.store.engine.begin() as conn:
        for row in rows:
            conn.execute(text(f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
        for seal in seals:
            conn.execute(text(f"INSERT INTO seals ({', '.join(seal)}) VALUES ({', '.join(':' + k for k in seal)})"),
                         seal)


def _identity(ledger: Ledger) -> str:
    with ledger.store.engine.connect() as conn:
        return str(conn.execute(text("SELECT ledger_id FROM ledger_identity")).scalar())


def test_seals_of_another_ledger_with_the_same_key_do_not_verify(db_url, tmp_path, key):
    """Point 4: staging (initialised apart, same key, same history) seals a 500,000 withdrawal; its row and seal,
    copied into production with INSERT alone, would have verified under the old seal format, and are now refused by
    the next keyed append, hidden from keyed reads and named by verify."""
    production, staging = opened(db_url, key[0]), opened(f"sqlite:///{tmp_path / 'staging.db'}", key[0])
    for ledger in (production, staging):
        ledger.append([listed(), deposit("mallory", "600000", t=1)])
    assert production.store.head() == staging.store.head(), "one history, one chain"
    assert _identity(production) != _identity(staging)
    staging.append([withdrawal("mallory", "500000", t=2, id="w-staging")])
    _copy_tail(staging, production)
    seq_from, seq_to, head_hash, _, signature = production.store.seals()[-1]
    assert Keyring.load(key[1]).verifies(seal_message(seq_from, seq_to, head_hash), signature) is False
    with pytest.raises(UnsealedLog, match=rf"the seal of events #{seq_from} to #{seq_to} does not verify"):
        production.append([deposit("alice", "1", t=3)])
    with pytest.raises(UnprovenLog, match="names another ledger"):
        production.balances()
    report = production.verify()
    assert not report.ok and report.first_bad_seq == seq_from and "names another ledger" in report.problem
    for ledger in (production, staging):
        ledger.close()


def test_a_restored_copy_used_apart_rotates_to_its_own_key_and_cannot_feed_production(tmp_path, key):
    """Point 4, the documented remedy for a restored copy (same identity: it is the ledger): rotated to a staging
    key, its seals do not verify in production, whose own key keeps appending."""
    production_file, copy_file = tmp_path / "production.db", tmp_path / "copy.db"
    production = opened(f"sqlite:///{production_file}", key[0])
    production.append([listed(), deposit("mallory", "600000", t=1)])
    production.close()
    shutil.copy(production_file, copy_file)
    production, copy = opened(f"sqlite:///{production_file}", key[0]), opened(f"sqlite:///{copy_file}", key[0])
    assert _identity(production) == _identity(copy)
    staging_key, _, _ = Ledger.generate_key(tmp_path / "staging.key")
    copy.rotate_key(staging_key)
    copy.close()
    copy = opened(f"sqlite:///{copy_file}", staging_key)
    copy.append([withdrawal("mallory", "500000", t=2, id="w-copy")])
    _copy_tail(copy, production)
    with pytest.raises(UnsealedLog, match="does not verify"):
        production.append([deposit("alice", "1", t=3)])
    assert not production.verify().ok
    assert copy.verify().ok
    production.close()
    copy.close()


def test_a_rotated_key_hands_over_and_either_key_verifies_the_whole_log(db_url, key, tmp_path):
    """Point 9: rotate-key after sealed history; the new key appends, the retired one is refused (nothing stored);
    verify passes with the new key, and with the old public key, naming the hand-over."""
    new_key, new_public, new_id = Ledger.generate_key(tmp_path / "new.key")
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    old_id = ledger.store.keyring.key_id
    after, key_id = ledger.rotate_key(new_key)
    assert (after, key_id) == (ledger.store.head()[0], new_id)
    with pytest.raises(UnsealedLog, match=rf"key {old_id} was retired after event #{after}"):
        ledger.append([deposit("alice", "5", t=2)])
    assert ledger.store.head()[0] == after, "the retired key stored nothing"
    ledger.close()
    ledger = opened(db_url, new_key)
    ledger.append([deposit("alice", "5", t=2)])
    assert ledger.balances()["accounts"]["alice"]["cash"]["USD"] == "15"
    report = ledger.verify()
    assert report.ok and report.seals_checked == 2, report
    assert any(f"key {old_id} handed over to key {new_id} after event #{after}" in note for note in report.notes)
    ledger.close()
    for public in (key[1], new_public):
        verifier = opened(db_url, public)
        report = verifier.verify()
        assert report.ok and report.seals_checked == 2, (public, report)
        verifier.close()


def test_a_rotation_is_refused_over_unsealed_history_or_without_both_private_keys(db_url, key, tmp_path):
    """Point 9: a key hands over only history it sealed, and only both private keys sign a rotation."""
    new_key, new_public, _ = Ledger.generate_key(tmp_path / "new.key")
    unkeyed = opened(db_url)
    unkeyed.append([listed(), deposit("alice", "10", t=1)])
    unkeyed.close()
    ledger = opened(db_url, key[0])
    with pytest.raises(UnsealedLog, match="events #1 to #2 are not sealed"):
        ledger.rotate_key(new_key)
    ledger.seal()
    for wrong in (new_public, key[0]):
        with pytest.raises(KeyUnusable):
            ledger.rotate_key(wrong)
    with ledger.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM key_rotations")).scalar() == 0
    ledger.close()


def test_a_rotation_record_not_signed_by_both_keys_is_never_believed(db_url, key, tmp_path):
    """Point 9, INSERT only: a rotation from the real key to the attacker's, signed by the attacker alone (the old
    key's signature zero), then rows sealed by the attacker: every keyed append and read refuses, verify names it."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    head_seq, head_hash = ledger.store.head()
    attacker_file, _, _ = Ledger.generate_key(tmp_path / "attacker.key")
    attacker = Keyring.load(attacker_file)
    real = ledger.store.keyring
    from ledger.store.key_schedule import rotation_message

    message = rotation_message(_identity(ledger), head_seq, head_hash, real.public_hex, attacker.public_hex)
    with ledger.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO key_rotations VALUES (:k, :a, :h, :o, :n, :os, :ns)"),
                     {"k": attacker.key_id, "a": head_seq, "h": head_hash, "o": real.public_hex,
                      "n": attacker.public_hex, "os": "00" * 64, "ns": attacker.sign(message)})
    with pytest.raises(UnsealedLog, match=rf"the key rotation after event #{head_seq} .* is not signed by both keys"):
        ledger.append([deposit("alice", "5", t=2)])
    with pytest.raises(UnprovenLog, match="not signed by both keys"):
        ledger.balances()
    report = ledger.verify()
    assert not report.ok and "not signed by both keys" in report.problem
    ledger.close()


def test_the_identity_is_one_row_the_database_keeps(db_url):
    """Point 4: the identity cannot be replaced: a second row, an UPDATE and a DELETE are refused by the database."""
    ledger = opened(db_url)
    before = _identity(ledger)
    for statement in ("INSERT INTO ledger_identity (ledger_id, bound_from) VALUES ('other', 0)",
                      "UPDATE ledger_identity SET ledger_id = 'other'", "DELETE FROM ledger_identity"):
        with pytest.raises(Exception, match=r"identity|append-only"), ledger.store.engine.begin() as conn:
            conn.execute(text(statement))
    assert _identity(ledger) == before
    ledger.close()


def test_seals_made_before_the_identity_still_verify_and_only_up_to_it(sqlite_url, key):
    """Stored history is forever: a log sealed by the previous release (format-1 seals, revision 0008) migrates and
    verifies; appends after the migration seal in format 2; a format-1 seal after that point is refused."""
    from ledger.store import migrate

    ledger = Ledger.open(sqlite_url, key=key[0])
    migrate.upgrade(ledger.store.engine, "0008")
    with ledger.store.engine.begin() as conn:  # what release 0008 wrote: rows, then a format-1 seal over them
        conn.execute(text("INSERT INTO events VALUES (1, 'e1', 'market:BTC-PERP', 1, 'market_listed', 1, "
                          "'2024-08-05T00:00:00.000000Z', '2024-08-05T00:00:00.000000Z', '{}', 'x', NULL)"))
    ledger.close()
    ledger = opened(sqlite_url, key[0])
    assert ledger.store.head()[0] == 1
    with ledger.store.engine.connect() as conn:
        assert conn.execute(text("SELECT bound_from FROM ledger_identity")).scalar() == 1
    schedule = ledger.store.key_schedule()
    keyring = ledger.store.keyring
    legacy = keyring.sign(seal_message(1, 1, "h1"))
    assert schedule.seal_verifies(1, 1, "h1", legacy), "a format-1 seal of history before the identity"
    assert not schedule.seal_verifies(2, 2, "h2", keyring.sign(seal_message(2, 2, "h2"))), "never after it"
    assert schedule.seal_verifies(2, 2, "h2", schedule.sign_seal(2, 2, "h2"))
    ledger.close()


def test_rotate_key_from_the_command_line(tmp_path, key):
    """The CLI: rotate-key prints who seals what, appends then need the new key (exit 2 with the old), and verify
    exits 0 with either public key."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    new_key, new_public, new_id = Ledger.generate_key(tmp_path / "new.key")
    ledger = opened(url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    ledger.close()
    status, out, err = run(url, "--key", str(key[0]), "rotate-key", str(new_key))
    assert status == 0, err
    assert f"key {new_id} seals every append after it" in out and "up to #2" in out
    lines = tmp_path / "more.jsonl"
    lines.write_text('{"type": "deposit", "id": "d2", "at": "2024-08-05T00:02:00Z", "account": "alice", '
                     '"asset": "USD", "amount": "1"}\n')
    status, _, err = run(url, "--key", str(key[0]), "ingest", str(lines))
    assert status == 2 and "retired" in err, err
    status, _, err = run(url, "--key", str(new_key), "ingest", str(lines))
    assert status == 0, err
    for public in (key[1], new_public):
        status, out, err = run(url, "--key", str(public), "verify")
        assert status == 0 and "2 seals" in out and "handed over" in err, (out, err)
