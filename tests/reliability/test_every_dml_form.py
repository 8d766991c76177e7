"""#15 point 3: no DML form rewrites or removes a stored event, on either backend (the schema refuses it).

The attack first: at revision 0003, SQLite's ``REPLACE INTO events`` (and
``INSERT OR REPLACE``) rewrote a stored row, because SQLite runs no DELETE
trigger for REPLACE's implicit delete. At head every form is refused by the
database itself, without the ledger's code in the way: UPDATE, DELETE,
REPLACE, INSERT OR REPLACE, an upsert (ON CONFLICT DO UPDATE), and TRUNCATE
(PostgreSQL) or an unqualified DELETE (SQLite's truncate).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import Ledger
from ledger.store import migrate
from tests.conftest import fixed_clock
from tests.support.builders import deposit, listed

ROW = ("seq, event_id, stream, stream_version, type, schema_version, at, recorded_at, payload, hash",
       ("2, 'forged', 'account:alice', 1, 'deposit', 1, '2024-08-05T00:01:00.000000Z', "
        "'2024-08-05T00:01:00.000000Z', '{\"account\":\"alice\",\"amount\":\"1000000\",\"asset\":\"USD\"}', 'x'"))

SQLITE_FORMS = {
    "UPDATE": "UPDATE events SET payload = replace(payload, '100', '900') WHERE seq = 2",
    "DELETE": "DELETE FROM events WHERE seq = 2",
    "DELETE all (SQLite's truncate)": "DELETE FROM events",
    "REPLACE": f"REPLACE INTO events ({ROW[0]}) VALUES ({ROW[1]})",
    "INSERT OR REPLACE": f"INSERT OR REPLACE INTO events ({ROW[0]}) VALUES ({ROW[1]})",
    "upsert": f"INSERT INTO events ({ROW[0]}) VALUES ({ROW[1]}) ON CONFLICT (seq) DO UPDATE SET payload = excluded.payload",
    "upsert on the event id": (f"INSERT INTO events ({ROW[0]}) VALUES ({ROW[1].replace('2,', '3,', 1).replace('forged', 'd-alice-1')}) "
                               "ON CONFLICT (event_id) DO UPDATE SET payload = excluded.payload"),
}
POSTGRES_FORMS = {
    "UPDATE": SQLITE_FORMS["UPDATE"],
    "DELETE": SQLITE_FORMS["DELETE"],
    "upsert": SQLITE_FORMS["upsert"],
    "upsert on the event id": SQLITE_FORMS["upsert on the event id"],
    "TRUNCATE": "TRUNCATE events",
}


def _stored(ledger: Ledger) -> list[tuple]:
    with ledger.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT seq, event_id, payload, hash FROM events ORDER BY seq"))]


@pytest.fixture
def seeded(db_url):
    with Ledger.open(db_url, clock=fixed_clock) as ledger:
        ledger.init()
        ledger.append([listed(), deposit("alice", "100", t=1)])
        yield ledger


def test_the_attack_replace_rewrote_a_stored_event_before_0004(sqlite_url, monkeypatch):
    """At revision 0003 (the schema before the fix), REPLACE INTO silently rewrote the stored deposit."""
    with Ledger.open(sqlite_url, clock=fixed_clock) as ledger:
        migrate.upgrade(ledger.store.engine, "0003")
        # today's writer on that schema: it had no seals table to look at (an unkeyed log, as every log was then)
        monkeypatch.setattr(ledger.store, "_sealed_to", lambda conn, head_seq, head_hash, schedule: head_seq)
        ledger.store.append([listed(), deposit("alice", "100", t=1)], "2024-08-05T00:01:00.000000Z")
        with ledger.store.engine.begin() as conn:
            conn.execute(text(SQLITE_FORMS["REPLACE"]))
        assert _stored(ledger)[1][1] == "forged", "the attack worked on the old schema"
        assert not ledger.store.verify().ok, "only the chain noticed"


def test_every_dml_form_is_refused_by_the_database_and_changes_nothing(seeded):
    """The database refuses every DML form that would rewrite or remove a stored event; the ledger's own appends still work."""
    forms = POSTGRES_FORMS if seeded.store.dialect == "postgresql" else SQLITE_FORMS
    before = _stored(seeded)
    for name, statement in forms.items():
        with pytest.raises(DBAPIError, match="append-only"), seeded.store.engine.begin() as conn:
            conn.execute(text(statement))
        assert _stored(seeded) == before, f"{name} changed the log"
    assert seeded.verify().ok
    seeded.append([deposit("bob", "5", t=2)])  # the ledger's own appends are not in the trigger's way
    assert len(_stored(seeded)) == 3
