"""A database written by an earlier release migrates and replays unchanged (``tests/data/README.md``).

The fixture was written before bankruptcies gained ``market`` (payload schema
2): its bankruptcy rows are schema 1 and are read through the upcaster. On
SQLite the file itself is migrated; on PostgreSQL its rows are copied as they
are (same seq, payload, schema version and hashes) into a fresh database, as
an old server database would hold them. Either way: the hash chain verifies,
the audit re-derives every liquidation, and every figure that release printed
is printed now, unchanged, with only new fields beside them.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, insert, select

from ledger import Ledger
from ledger.store.schema import events
from ledger.store.sql import STORED
from tests.conftest import ROOT
from tests.support.values import decimals

DATA = ROOT / "tests" / "data"


def _old_rows() -> list[dict]:
    engine = create_engine(f"sqlite:///{DATA / 'release1.sqlite'}")
    with engine.connect() as conn:
        # the columns release 1 had (later releases added ``snapshot_digest``, null on its rows)
        rows = [dict(r._mapping) for r in conn.execute(select(*STORED).order_by(events.c.seq))]
    engine.dispose()
    return rows


@pytest.fixture
def old_ledger(db_url, tmp_path):
    if db_url.startswith("sqlite"):
        copy = tmp_path / "release1.sqlite"
        shutil.copy(DATA / "release1.sqlite", copy)
        url = f"sqlite:///{copy}"
    else:
        url = db_url
        with Ledger.open(url) as fresh:
            fresh.init()
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(insert(events), _old_rows())
        engine.dispose()
    with Ledger.open(url) as ledger:
        ledger.init()  # migrates the old schema to head (a no-op when it is there)
        yield ledger


def _printed_then_is_printed_now(then, now, where="") -> None:
    """Every field printed then is printed now with the same value (as a decimal where it is one)."""
    if isinstance(then, dict):
        assert isinstance(now, dict), where
        for key, value in then.items():
            assert key in now, f"{where}.{key} is gone"
            _printed_then_is_printed_now(value, now[key], f"{where}.{key}")
    elif isinstance(then, list):
        assert isinstance(now, list) and len(now) == len(then), where
        for n, (a, b) in enumerate(zip(then, now, strict=True)):
            _printed_then_is_printed_now(a, b, f"{where}[{n}]")
    else:
        assert decimals(now) == decimals(then), f"{where}: printed {then!r} then, {now!r} now"


def test_the_old_rows_are_of_the_old_bankruptcy_shape():
    """The old fixture's bankruptcy rows are of payload schema 1, without a market, so the upcaster is really exercised."""
    rows = _old_rows()
    bankruptcies = [r for r in rows if r["type"] == "bankruptcy"]
    assert len(bankruptcies) == 2 and {r["schema_version"] for r in bankruptcies} == {1}
    assert all('"market"' not in r["payload"] for r in bankruptcies)


def test_the_old_liquidations_are_of_the_first_shape_and_read_as_the_new_one():
    """Release 1 wrote liquidations in payload schema 1 (``required_qty`` the text "none" or a decimal); the
    upcaster reads "none" as no partial quantity and keeps a decimal exactly as written."""
    from ledger.domain.codec import decode_stored

    liquidations = [r for r in _old_rows() if r["type"] == "liquidation"]
    assert liquidations and {r["schema_version"] for r in liquidations} == {1}
    for row in liquidations:
        written = json.loads(row["payload"])["required_qty"]
        event = decode_stored("liquidation", 1, row["event_id"], row["at"], row["payload"])
        assert event.required_qty is None if written == "none" else event.required_qty == Decimal(written)


def test_an_old_database_verifies_audits_and_prints_what_it_printed(old_ledger):
    """A database from the first release verifies, passes the audit, and prints every figure it printed then, unchanged."""
    assert old_ledger.verify().ok
    report = old_ledger.audit()
    assert report.ok, report.discrepancies
    assert report.events_checked == 24 and report.liquidations_checked == 4
    balances_then = json.loads((DATA / "release1-balances.json").read_text())
    _printed_then_is_printed_now(balances_then, old_ledger.balances(), "balances")
    liquidations_then = json.loads((DATA / "release1-liquidations.json").read_text())
    _printed_then_is_printed_now(liquidations_then, old_ledger.liquidation_records(), "liquidations")
    bankruptcies_then = json.loads((DATA / "release1-bankruptcies.json").read_text())
    bankruptcies_now = old_ledger.bankruptcy_records()
    _printed_then_is_printed_now(bankruptcies_then, bankruptcies_now, "bankruptcies")
    assert [b["market"] for b in bankruptcies_now] == [None, None], "upcast: every old bankruptcy was of cross cash"


def test_an_old_database_takes_new_events_after_its_old_ones(old_ledger, tmp_path):
    """A database from an earlier release takes the new event types after its old events, and still verifies and audits clean."""
    history = tmp_path / "more.jsonl"
    t = "2024-08-05T00:11:00Z"
    history.write_text("\n".join(json.dumps(line) for line in [
        {"type": "deposit", "id": "d-erin", "at": t, "account": "erin", "asset": "USD", "amount": "5000"},
        {"type": "margin_mode", "id": "mm-erin", "at": t, "account": "erin", "market": "BTC-PERP", "mode": "isolated"},
        {"type": "isolated_margin", "id": "im-erin", "at": t, "account": "erin", "market": "BTC-PERP", "amount": "500"},
        {"type": "trade", "id": "t-erin", "at": t, "account": "erin", "market": "BTC-PERP", "side": "buy", "qty": "0.1",
         "price": "56000", "fee": "0"},
        {"type": "funding", "id": "f-1", "at": t, "market": "BTC-PERP", "rate": "0.0001"},
    ]) + "\n")
    result = old_ledger.ingest_file(history)
    assert result.appended == 5
    erin = old_ledger.balances()["accounts"]["erin"]
    assert erin["positions"]["BTC-PERP"]["margin_mode"] == "isolated"
    assert Decimal(erin["positions"]["BTC-PERP"]["funding_paid"]) == Decimal("0.56")
    assert old_ledger.audit().ok and old_ledger.verify().ok


def test_every_older_payload_shape_has_an_upcaster_to_the_current_one():
    """Every older payload schema version of every event type has an upcaster, so it can still be read."""
    from ledger.domain.codec import SCHEMA_VERSIONS, UPCASTERS

    for kind, current in SCHEMA_VERSIONS.items():
        for version in range(1, current):
            assert (kind, version) in UPCASTERS, f"{kind} schema {version} cannot be read"

