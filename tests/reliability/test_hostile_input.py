"""Bad input at scale: generated malformed and hostile records.

Each file holds valid records and one hostile record; the whole file is
refused with an error naming the hostile record's line, and the database is
unchanged afterwards: a dump of every table is the same, and on SQLite so is
the database file, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from ledger import InvalidBatch, Ledger
from tests.conftest import fresh_pg_database

GOOD = [
    {"type": "market_listed", "id": "m-btc", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"},
    {"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "alice", "asset": "USD", "amount": "1000"},
    {"type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.5", "price": "60000", "fee": "3"},
]
BASES = {
    "deposit": {"type": "deposit", "id": "x", "at": "2024-08-05T00:05:00Z", "account": "bob", "asset": "USD", "amount": "10"},
    "withdrawal": {"type": "withdrawal", "id": "x", "at": "2024-08-05T00:05:00Z", "account": "alice", "asset": "USD", "amount": "10"},
    "trade": {"type": "trade", "id": "x", "at": "2024-08-05T00:05:00Z", "account": "alice", "market": "BTC-PERP", "side": "sell", "qty": "0.1", "price": "60000", "fee": "0"},
    "mark": {"type": "mark", "id": "x", "at": "2024-08-05T00:05:00Z", "market": "BTC-PERP", "price": "59000"},
}
DECIMAL_FIELDS = {"deposit": ["amount"], "withdrawal": ["amount"], "trade": ["qty", "price"], "mark": ["price"]}
SQLISH = ["'; DROP TABLE events; --", "\" OR 1=1 --", "x'); DELETE FROM events; --"]

wrong_types = st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                        st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
bad_decimals = st.one_of(
    st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "inf", "1e3", "1E999999999", "1e-999999", "", " ", "1,000",
                     "0x10", "1_000", "+5", "--1", "1.", ".5", "٣", "1 000"]),
    st.from_regex(r"\A-?[0-9]{31,60}\Z"),
)
non_positive = st.one_of(st.just("0"), st.just("0.000"), st.from_regex(r"\A-[1-9][0-9]{0,5}(\.[0-9]{1,4})?\Z"))


@st.composite
def hostile(draw):
    """(record text, description): one mutation that must be refused."""
    kind = draw(st.sampled_from(sorted(BASES)))
    record = dict(BASES[kind], id=f"h-{draw(st.integers(0, 10**6))}")
    mutation = draw(st.sampled_from([
        "wrong_type", "bad_decimal", "non_positive", "unknown_field", "unknown_market", "oversized",
        "out_of_order", "duplicate_id", "sqlish_market", "missing_field", "bad_time", "float_literal",
    ]))
    field = draw(st.sampled_from(DECIMAL_FIELDS[kind]))
    if mutation == "wrong_type":
        record[draw(st.sampled_from(sorted(set(record) - {"type"})))] = draw(wrong_types)
    elif mutation == "bad_decimal":
        record[field] = draw(bad_decimals)
    elif mutation == "non_positive":
        record[field] = draw(non_positive)
    elif mutation == "unknown_field":
        record[draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in record))] = "1"
    elif mutation == "unknown_market":
        if kind not in ("trade", "mark"):
            kind, record = "mark", dict(BASES["mark"], id=record["id"])
        record["market"] = draw(st.text(min_size=1, max_size=30).filter(lambda m: m.strip() and m != "BTC-PERP" and m.isprintable()))
    elif mutation == "oversized":
        record[draw(st.sampled_from(["id", "account"] if "account" in record else ["id"]))] = "a" * draw(st.integers(201, 70_000))
    elif mutation == "out_of_order":
        record["at"] = "2024-08-05T00:01:30Z"
    elif mutation == "duplicate_id":
        record["id"] = draw(st.sampled_from(["d-1", "t-1", "m-btc"]))
    elif mutation == "sqlish_market":
        if kind not in ("trade", "mark"):
            record = dict(BASES["mark"], id=record["id"])
        record["market"] = draw(st.sampled_from(SQLISH))
    elif mutation == "missing_field":
        del record[draw(st.sampled_from(sorted(set(record) - {"type"})))]
    elif mutation == "bad_time":
        record["at"] = draw(st.sampled_from(["2024-08-05", "2024-13-05T00:00:00Z", "2024-08-05T00:05:00+01:00", "now", ""]))
    elif mutation == "float_literal":
        return json.dumps(record).replace(f'"{record[field]}"', "12.5"), mutation
    try:
        return json.dumps(record, allow_nan=True), mutation
    except (TypeError, ValueError):
        return json.dumps({**record, field: "NaN"}), mutation


def database_dump(ledger: Ledger) -> str:
    """Every row of every table, in order, hashed; on SQLite also the database file's bytes
    (after a checkpoint folds the write-ahead log into it)."""
    digest = hashlib.sha256()
    with ledger.store.engine.connect() as conn:
        for table in ("events", "snapshots", "alembic_version"):
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1")):
                digest.update(repr(tuple(row)).encode())
    if ledger.store.dialect == "sqlite":
        path = ledger.store.engine.url.database
        raw = sqlite3.connect(path, isolation_level=None)
        busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        raw.close()
        assert busy == 0, "the checkpoint could not complete"
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile")
    if request.param == "sqlite":
        url = f"sqlite:///{path / 'ledger.db'}"
    else:
        databases = fresh_pg_database(request.getfixturevalue("pg_admin_url"))
        url = next(databases)
        request.addfinalizer(lambda: next(databases, None))  # noqa: PT021 (a class-scoped fixture made by hand)
    ledger = Ledger.open(url)
    ledger.init()
    good = path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in GOOD))
    ledger.ingest_file(good)
    yield ledger, path
    ledger.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=hostile())
def test_hostile_records_are_refused_by_line_and_change_nothing(seeded, case):
    """A file with one hostile record is refused whole, naming that record's line, and leaves the database unchanged."""
    ledger, path = seeded
    line, mutation = case
    before = database_dump(ledger)
    file = path / "hostile.jsonl"
    valid = json.dumps({"type": "deposit", "id": "ok-1", "at": "2024-08-05T00:04:00Z", "account": "carol", "asset": "USD", "amount": "1"})
    file.write_text(valid + "\n" + line + "\n")
    with pytest.raises(InvalidBatch) as caught:
        ledger.ingest_file(file)
    assert str(caught.value).startswith(f"{file}:2: "), (mutation, str(caught.value)[:300])
    assert database_dump(ledger) == before


def test_invalid_utf8_is_refused_by_line(seeded):
    """Bytes that are not valid UTF-8 are refused naming their line, and the database is left unchanged."""
    ledger, path = seeded
    before = database_dump(ledger)
    file = path / "utf8.jsonl"
    file.write_bytes(b'{"type": "deposit", "id": "\xc3\x28", "at": "2024-08-05T00:04:00Z", "account": "c", "asset": "USD", "amount": "1"}\n')
    with pytest.raises(InvalidBatch, match=r"utf8.jsonl:1: not valid UTF-8"):
        ledger.ingest_file(file)
    assert database_dump(ledger) == before


def test_sql_looking_names_are_stored_verbatim_and_harmless(db_url, tmp_path):
    """Account names that look like SQL are stored verbatim as accounts and harm nothing: the log still verifies."""
    with Ledger.open(db_url) as ledger:
        ledger.init()
        file = tmp_path / "sql.jsonl"
        file.write_text("".join(json.dumps(dict(BASES["deposit"], id=f"s{i}", account=name)) + "\n" for i, name in enumerate(SQLISH)))
        assert ledger.ingest_file(file).appended == 3
        assert set(SQLISH) <= set(ledger.state().accounts)
        assert ledger.verify().events_checked == 3
