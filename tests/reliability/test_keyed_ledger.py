"""#27 points 1, 2, 3, 5 and 9 (first half): a key's protection a database user cannot bypass.

Each attack as the issue's adversary ran it, with the privileges
docs/reliability.md prescribes (INSERT on ``events`` and ``seals``), or more
where the point needs it (DDL to strip every seal), first shown to work on
what the ledger trusted before, then refused:

1. a forged row with a forged seal on top (INSERT only): a keyed writer
   checks the signature of the seal it builds on, and refuses naming it;
2. every seal stripped: a keyed writer never seals history it did not seal
   itself; only `ledger seal` (an operator vouching, after verify and audit)
   does;
3. a seal row past the head is refused at insert by the database;
5. with a key configured, reads refuse a log whose tail is not sealed, and
   the audit fails naming it (exit 1);
9. an append without the key on a sealed ledger is refused, so it cannot
   leave rows every keyed append would refuse.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ledger import InvalidBatch, Ledger
from ledger.errors import LedgerError, UnsealedLog
from tests.reliability.conftest import opened
from tests.support.builders import deposit, listed, withdrawal
from tests.support.cli import run
from tests.support.tampering import insert_tail_deposit, tamper


def _insert_row(ledger: Ledger, event_id: str, account: str, amount: str) -> tuple[int, str]:
    """INSERT only: a deposit at the tail, chained exactly as the ledger would; (seq, hash)."""
    return insert_tail_deposit(ledger.store, event_id, account, amount)


def _insert_seal(ledger: Ledger, seq_from: int, seq_to: int, head_hash: str) -> None:
    """INSERT only: a seal row with a zero signature, named as the ledger's own key."""
    key_id = ledger.store.keyring.key_id if ledger.store.keyring else "0" * 16
    with ledger.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO seals (seq_from, seq_to, head_hash, key_id, signature) "
                          "VALUES (:f, :t, :h, :k, :s)"),
                     {"f": seq_from, "t": seq_to, "h": head_hash, "k": key_id, "s": "00" * 64})


def test_a_forged_row_under_a_forged_seal_is_never_built_upon(db_url, key):
    """Point 1: a 5,000,000 deposit with a correct chain hash and a seal row with a zero signature over it; the next
    keyed append (a 500,000 withdrawal the forged money would cover) is refused naming the seal, nothing is stored,
    and verify names it too."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    seq, digest = _insert_row(ledger, "forged", "mallory", "5000000")
    _insert_seal(ledger, seq, seq, digest)
    with pytest.raises(UnsealedLog, match=rf"the seal of events #{seq} to #{seq} does not verify with this key"):
        ledger.append([withdrawal("mallory", "500000", t=6)])
    assert ledger.store.head()[0] == seq, "nothing stored on top of it"
    report = ledger.verify()
    assert not report.ok and report.first_bad_seq == seq and "is not this key's" in report.problem
    ledger.close()


def test_a_seal_row_past_the_head_is_refused_by_the_database(db_url, key):
    """Point 3: a seal row naming an event the log does not hold (ahead of the head, or with another hash) is refused
    at insert, so the next legitimate append is sealed and verify passes."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    head, head_hash = ledger.store.head()
    for seq_to, named in ((head + 1, head_hash), (head, "0" * 64)):
        with pytest.raises(Exception, match="seal"):
            _insert_seal(ledger, head + 1, seq_to, named)
    ledger.append([deposit("bob", "5", t=2)])
    report = ledger.verify()
    assert report.ok and report.seals_checked == 2
    ledger.close()


def test_a_keyed_writer_never_seals_history_it_did_not_seal(db_url, key):
    """Point 2: with every seal stripped (DDL), the next keyed append used to seal the whole log from event 1 (a
    rewritten log then verified). Now it is refused, naming the unsealed rows; `ledger seal` is the operator's explicit
    act of vouching for them, after which appends go on."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    if ledger.store.dialect == "postgresql":
        tamper(ledger.store, "ALTER TABLE seals DISABLE TRIGGER USER")
    else:
        tamper(ledger.store, "DROP TRIGGER seals_no_delete")
    tamper(ledger.store, "DELETE FROM seals")
    with pytest.raises(UnsealedLog, match="events #1 to #2 are not sealed"):
        ledger.append([deposit("bob", "5", t=2)])
    assert ledger.store.head()[0] == 2
    assert not ledger.verify().ok
    sealed = ledger.seal()
    assert sealed == (1, 2)
    ledger.append([deposit("bob", "5", t=2)])
    assert ledger.verify().ok
    ledger.close()


def test_a_log_written_without_a_key_is_sealed_only_when_an_operator_vouches_for_it(db_url, key):
    """A ledger that ran without a key and is then given one: its first keyed append is refused (it would vouch for
    history nobody checked) until `ledger seal` seals it; an empty log needs no vouching."""
    plain = opened(db_url)
    plain.append([listed(), deposit("alice", "10", t=1)])
    plain.close()
    url = db_url
    code, _, err = run(url, "--key", str(key[0]), "ingest", "/dev/null")
    assert code == 2 and "events #1 to #2 are not sealed" in err and "ledger seal" in err
    code, _, err = run(url, "--key", str(key[0]), "balances")
    assert code == 1 and "events #1 to #2 are not sealed" in err, "a keyed read shows only what the seals prove"
    code, out, err = run(url, "--key", str(key[0]), "seal")
    assert code == 0 and "sealed events #1 to #2" in out, err
    ledger = opened(db_url, key[0])
    ledger.append([deposit("bob", "5", t=2)])
    assert ledger.verify().ok
    ledger.close()
    code, out, _ = run(url, "--key", str(key[0]), "seal")
    assert code == 0 and "nothing to vouch for" in out


def test_an_append_without_the_key_on_a_sealed_ledger_is_refused(db_url, key):
    """Point 9: one ingest without the key on a sealed log used to be accepted, after which every keyed append was
    refused forever. Now it is refused (exit 2, naming the key), nothing stored, and keyed appends go on."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    ledger.close()
    plain = opened(db_url)
    with pytest.raises(UnsealedLog, match="sealed with a key"):
        plain.append([deposit("bob", "5", t=2)])
    assert plain.head_seq() == 2
    assert plain.balances()["accounts"]["alice"]["cash"]["USD"] == "10", "reads need no key"
    plain.close()
    ledger = opened(db_url, key[0])
    ledger.append([deposit("bob", "5", t=2)])
    assert ledger.verify().ok and ledger.head_seq() == 3
    ledger.close()


def test_with_a_key_reads_and_the_audit_refuse_an_unsealed_tail(db_url, key):
    """Point 5: after a forged unsealed row (INSERT only), a keyed `balances` used to show the forged money and the
    audit passed. With a key configured, reads refuse (exit 1, naming the rows and `ledger verify`) and the audit
    fails naming them; without a key the forged money shows, as the threat model says."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    _insert_row(ledger, "forged", "mallory", "5000000")
    ledger.close()
    code, out, err = run(db_url, "--key", str(key[0]), "balances", "--format", "json")
    assert code == 1 and "events #3 to #3 are not sealed" in err and "mallory" not in out
    code, out, err = run(db_url, "--key", str(key[0]), "audit")
    assert code == 1 and "#3" in (out + err) and "not sealed" in (out + err)
    code, out, _ = run(db_url, "balances", "--format", "json")
    assert code == 0 and "mallory" in out, "without the key the ledger cannot tell (docs/reliability.md)"


def test_bad_input_is_still_refused_before_the_seal_is_checked(db_url, key):
    """The seal checks do not mask an input error: a bad batch on a sealed ledger is refused as bad input."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    with pytest.raises((InvalidBatch, LedgerError)):
        ledger.append([withdrawal("alice", "11", t=2)])
    assert ledger.head_seq() == 2 and ledger.verify().ok
    ledger.close()


def test_a_seal_past_the_head_refuses_appends_as_evidence_of_a_removed_tail(db_url, key):
    """A seal naming an event past the head (the tail removed with DDL, its seal left) is never built on: a keyed
    append is refused naming it, where it used to append on the shorter log (and fail, exit 4, at that seal's number)."""
    ledger = opened(db_url, key[0])
    ledger.append([listed(), deposit("alice", "10", t=1)])
    ledger.append([deposit("bob", "5", t=2)])
    tamper(ledger.store, "DELETE FROM events WHERE seq = 3")
    with pytest.raises(UnsealedLog, match=r"a seal covers events up to #3, past the head #2"):
        ledger.append([deposit("carol", "1", t=3)])
    assert ledger.store.head()[0] == 2
    ledger.close()
