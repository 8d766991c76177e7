"""The event store contract: one suite, run on the in-memory twin, SQLite and a real PostgreSQL server.

Whatever the backend, appends get a gapless global sequence and per-stream
versions; a stale expected version or a reused id with other content refuses
the whole batch and stores nothing; an equal repeat is a no-op; a writer that
slipped past the lock is stopped by the unique keys; reads cut by sequence,
business time, recorded time and type; the chain verifies; the snapshot cache
hands back only snapshots whose event still carries their hash. (Eventsourcing
tests its recorders the same way: one set of cases, one subclass per backend.)
What only a database can do (refuse UPDATE and DELETE itself, catch tampering
behind the ledger's back) is in ``test_event_store.py``.

The read cases also run on ``RowsReader``, the ``LogReader`` a sweep's worker
answers from the rows shipped to it (``reader``: each backend's rows, read as
the store itself and as those rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ledger import ConcurrencyConflict, DuplicateEventConflict, NotInitialised
from ledger.domain.codec import encode_payload
from ledger.store import EventStore, LogReader
from ledger.store.arrow_rows import ArrowRows, table_of
from ledger.store.hashchain import GENESIS
from ledger.store.memory import MemoryEventStore
from ledger.store.rows import RowsReader
from ledger.store.seals import Keyring, generate_key
from ledger.store.sql import SqlEventStore
from tests.conftest import fresh_pg_database
from tests.support.builders import deposit, listed, mark, trade

RECORDED = "2026-01-01T00:00:00.000000Z"
LATER = "2026-01-02T00:00:00.000000Z"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request, tmp_path) -> Iterator[EventStore]:
    """An initialised, empty store on each backend."""
    if request.param == "memory":
        opened: EventStore = MemoryEventStore()
        urls: Iterator[str] = iter(())
    elif request.param == "sqlite":
        opened = SqlEventStore.open(f"sqlite:///{tmp_path / 'ledger.db'}")
        urls = iter(())
    else:
        urls = fresh_pg_database(request.getfixturevalue("pg_admin_url"))
        opened = SqlEventStore.open(next(urls))
    opened.initialise()
    try:
        yield opened
    finally:
        opened.close()
        for _ in urls:  # drops the PostgreSQL database
            pass


@pytest.fixture(params=["store", "rows", "arrow"])
def reader(request) -> Callable[[EventStore], LogReader]:
    """How the read cases read a store's log: through the store itself, or as the rows a sweep ships to a worker
    (Python objects, or the Arrow table a worker keeps them in)."""
    if request.param == "store":
        return lambda store: store
    if request.param == "rows":
        return lambda store: RowsReader(list(store.read()))
    return lambda store: ArrowRows(table_of(store.read()))


def seed(store: EventStore) -> None:
    store.append([listed(), deposit("alice", "100", t=1), deposit("bob", "50", t=2), mark("60000", t=3)], RECORDED)


def count(store: EventStore) -> int:
    return sum(1 for _ in store.read())


def test_appends_get_a_gapless_global_sequence_and_per_stream_versions(store):
    """Appends get a gapless global sequence and per-stream versions, from 1, and each row reads back as the event appended."""
    seed(store)
    rows = list(store.read())
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [(r.stream, r.stream_version) for r in rows] == [
        ("market:BTC-PERP", 1), ("account:alice", 1), ("account:bob", 1), ("market:BTC-PERP", 2)
    ]
    assert [r.event() for r in rows][1] == deposit("alice", "100", t=1)


def test_a_stale_expected_stream_version_is_a_conflict_and_stores_nothing(store):
    """A stale expected stream version is a conflict, and nothing of the batch is stored; the current version appends."""
    seed(store)
    with pytest.raises(ConcurrencyConflict, match=r"account:alice.* version 1, the append expected 0"):
        store.append([deposit("alice", "5", t=4), deposit("carol", "5", t=4)], RECORDED, {"account:alice": 0})
    assert count(store) == 4
    store.append([deposit("alice", "5", t=4)], RECORDED, {"account:alice": 1})
    assert store.stream_version("account:alice") == 2


def test_reappending_the_same_event_is_a_no_op(store):
    """Appending an event already stored with the same content is a no-op: nothing new is stored."""
    seed(store)
    assert store.append([deposit("alice", "100", t=1)], RECORDED) == []
    assert count(store) == 4


def test_the_same_id_with_other_content_is_refused_and_nothing_is_stored(store):
    """An id already stored with other content is refused as a duplicate, and nothing of the batch is stored."""
    seed(store)
    changed = deposit("alice", "101", t=1, id="d-alice-1")
    with pytest.raises(DuplicateEventConflict, match="event d-alice-1: id 'd-alice-1' is already stored with different content"):
        store.append([deposit("carol", "1", t=5), changed], RECORDED)
    assert count(store) == 4


def test_a_large_batch_is_looked_up_whole_for_stored_ids_and_stream_versions(store):
    """1,200 events over 1,200 streams (more than one lookup part on SQLite, one array on PostgreSQL), some ids with
    characters an array literal must quote: resent, every one is a no-op; one of them near the end with other
    content refuses the batch; a second event on every stream, appended without expected versions, takes each
    stream's next version (the versions of 1,200 existing streams looked up at once)."""
    quoted = ["NULL", "a,b", "{x}", '"q"', "back\\slash", " lead", "null"]
    ids = [*quoted, *(f"d-{i:04d}" for i in range(len(quoted), 1_200))]
    events = [deposit(f"acct{i:04d}", "5", t=1, id=ids[i]) for i in range(1_200)]
    store.append(events, RECORDED)
    assert store.append(events, RECORDED) == []
    changed = [*events[:1_100], deposit("acct1100", "6", t=1, id="d-1100"), *events[1_101:]]
    with pytest.raises(DuplicateEventConflict, match="event d-1100: id 'd-1100' is already stored with different content"):
        store.append(changed, RECORDED)
    assert count(store) == 1_200
    store.append([deposit(f"acct{i:04d}", "1", t=2, id=f"e-{i:04d}") for i in range(1_200)], RECORDED)
    assert {store.stream_version(f"account:acct{i:04d}") for i in range(1_200)} == {2}
    assert count(store) == 2_400


def test_a_writer_with_a_stale_view_hits_the_constraint_and_stores_nothing(store):
    """If the lock ever failed, the append path itself turns the database's refusal into a conflict."""
    seed(store)
    with pytest.raises(ConcurrencyConflict, match=r"database refused the batch.*nothing was stored"):
        with store.writer() as writer:
            writer._versions["account:alice"] = 0  # as if another writer's append were unseen
            writer.append_new([deposit("carol", "1", t=5), deposit("alice", "5", t=5)], RECORDED)
    assert count(store) == 4 and store.verify().ok


def test_a_refusal_of_a_batch_before_the_last_stops_the_writer_at_its_next_step_and_stores_nothing(store):
    """The unique keys refuse the first of two batches in one transaction (a stale view): the writer raises the
    conflict at once or, where the backend's insert ends while the caller goes on (PostgreSQL's ``COPY``), at its next
    look-up, before anything more is folded on it; nothing of either batch is stored, and the store takes the next
    append."""
    seed(store)
    with pytest.raises(ConcurrencyConflict, match=r"database refused the batch.*nothing was stored"):
        with store.writer() as writer:
            writer._versions["account:alice"] = 0  # as if another writer's append were unseen
            writer.append_new([deposit("carol", "1", t=5), deposit("alice", "5", t=5)], RECORDED)
            writer.existing(["d-dave"])
            pytest.fail("the refusal must be raised before the writer looks anything up")
    assert count(store) == 4 and store.verify().ok
    store.append([deposit("dave", "2", t=6, id="d-dave")], RECORDED)
    assert count(store) == 5 and store.verify().ok


def test_verify_passes_on_an_untouched_log(store):
    """Verify passes on an untouched log, checking every event."""
    seed(store)
    report = store.verify()
    assert report.ok and report.events_checked == 4


def test_an_empty_log_reads_as_empty(store, reader):
    """An empty log reads as empty: the genesis head, no rows, no batches, and no sequence number at any time."""
    log = reader(store)
    assert log.head() == (0, GENESIS) and list(log.read()) == [] and list(log.read_batches()) == []
    assert log.last_seq_at_or_before("2030-01-01T00:00:00.000000Z") == 0 and log.row_at(1) is None


def test_reading_cuts_by_sequence_business_time_and_type(store, reader):
    """Reads cut the log by sequence number, by business time and by event type."""
    seed(store)
    store = reader(store)
    assert [r.seq for r in store.read(upto_seq=2)] == [1, 2]
    assert [r.seq for r in store.read(after_seq=2)] == [3, 4]
    assert [r.type for r in store.read(types=["mark"])] == ["mark"]
    assert store.last_seq_at_or_before("2024-08-05T00:02:00.000000Z") == 3


def test_the_replay_read_gives_bare_rows_and_identities_on_request(store, reader):
    """``read_batches`` leaves out event id and time; ``identities`` answers them for any rows asked."""
    store.append([deposit(f"acct{n}", "1", t=1 + n // 400, id=f"dep-{n}") for n in range(1200)], RECORDED)
    store = reader(store)
    batches = list(store.read_batches(after_seq=100, upto_seq=1150, batch_size=500))
    assert [len(b) for b in batches] == [500, 500, 50]
    rows = [row for batch in batches for row in batch]
    assert rows[0][:3] == (101, "deposit", 1) and rows[0][3] == '{"account":"acct100","amount":"1","asset":"USD"}'
    asked = [1, 700, 1200, 5000, *range(600, 1200)]  # more than one query's worth; 5000 is not stored
    found = store.identities(asked)
    assert sorted(found) == sorted({s for s in asked if s <= 1200})
    stored = {r.seq: (r.event_id, r.at) for r in store.read()}
    assert all(found[seq] == stored[seq] for seq in found)
    assert found[700] == ("dep-699", "2024-08-05T00:02:00.000000Z")  # t = 1 + 699 // 400


def test_a_failed_write_transaction_stores_nothing(store):
    """All or nothing: rows appended inside a writer whose body then fails are not kept."""
    seed(store)
    with pytest.raises(RuntimeError, match="boom"):
        with store.writer() as writer:
            writer.append_new([deposit("carol", "1", t=5)], RECORDED)
            raise RuntimeError("boom")
    assert count(store) == 4 and store.head()[0] == 4 and store.verify().ok


def test_the_head_and_point_reads_agree_with_the_rows(store, reader):
    """The head and the point reads (by sequence number and by event id) agree with the rows read in order."""
    seed(store)
    log = reader(store)
    rows = list(log.read())
    assert log.head() == (4, rows[-1].hash)
    assert log.row_at(2) == rows[1] and log.row_at(99) is None and log.row_at(0) is None
    assert log.get("d-bob-2") == rows[2] and log.get("nope") is None


def test_streams_are_pointed_at_by_version(store):
    """A stream's row is found by version, and its last row as of any sequence number; an unknown stream has none."""
    seed(store)
    rows = list(store.read())
    assert store.stream_row("market:BTC-PERP", 2) == rows[3] and store.stream_row("market:BTC-PERP", 3) is None
    assert store.last_in_stream("market:BTC-PERP") == rows[3]
    assert store.last_in_stream("market:BTC-PERP", upto_seq=3) == rows[0]
    assert store.last_in_stream("account:nobody") is None


def test_streams_are_read_by_version_and_listed_by_prefix(store):
    """Streams are read in version order, cut by version or sequence, and listed with their versions by name prefix."""
    seed(store)
    store.append([deposit("alice", "5", t=4), trade("alice", "buy", "1", "60000", t=5)], RECORDED)
    assert [r.stream_version for r in store.read_stream("account:alice")] == [1, 2, 3]
    assert [r.seq for r in store.read_stream("account:alice", after_version=1)] == [5, 6]
    assert [r.seq for r in store.read_stream("account:alice", upto_seq=5)] == [2, 5]
    assert store.stream_names("account:") == ["account:alice", "account:bob"]
    assert store.stream_versions("account:") == {"account:alice": 3, "account:bob": 1}
    assert store.stream_versions("account:", upto_seq=4) == {"account:alice": 1, "account:bob": 1}
    assert store.stream_version("account:alice") == 3 and store.stream_version("account:nobody") == 0


def test_a_streams_sequence_numbers_and_rows_by_sequence_number(store):
    """A stream's sequence numbers come in version order, cut by version; rows come by sequence number, in order,
    skipping numbers past the head."""
    seed(store)
    store.append([deposit("alice", "5", t=4), mark("61000", t=5)], RECORDED)
    assert store.stream_seqs("market:BTC-PERP") == [1, 4, 6]
    assert store.stream_seqs("market:BTC-PERP", after_version=1) == [4, 6]
    assert store.stream_seqs("account:nobody") == []
    rows = list(store.read())
    assert store.rows_at([6, 2, 4, 2, 99]) == [rows[1], rows[3], rows[5]]
    assert store.rows_at([]) == []


def test_reads_cut_by_recorded_time_for_what_the_ledger_knew_then(store, reader):
    """Reads cut by recorded time give what the ledger knew then, apart from the cut by business time."""
    seed(store)
    store.append([deposit("alice", "5", t=4)], LATER)
    store = reader(store)
    assert [r.seq for r in store.read(known_at=RECORDED)] == [1, 2, 3, 4]
    assert [r.seq for r in store.read(known_at=LATER)] == [1, 2, 3, 4, 5]
    assert [r.seq for r in store.read(upto_at="2024-08-05T00:01:00.000000Z")] == [1, 2]


def test_rows_carry_the_canonical_payload_and_a_chain_that_verifies(store):
    """Rows carry the event's canonical payload, and their hash chain verifies up to the head's hash."""
    seed(store)
    rows = list(store.read())
    assert rows[1].payload == encode_payload(deposit("alice", "100", t=1))
    report = store.verify()
    assert report.ok and report.events_checked == 4 and report.head_hash == rows[-1].hash


def test_the_snapshot_cache_hands_back_only_snapshots_whose_event_still_matches(store):
    """The snapshot cache hands back only snapshots of the asked format whose event still carries their hash (an
    account's here: the whole ledger's must also be bound in the log, as the next test shows)."""
    seed(store)
    head_seq, head_hash = store.head()
    store.snapshots.save([("account:bob", "state-at-4"), ("account:alice", "alice-at-4")], head_seq, head_hash, 1)
    store.snapshots.save([("account:bob", "stale")], 2, "0" * 64, 1)  # its event's hash is not this one
    assert store.snapshots.latest("account:bob", 1) == (4, "state-at-4")
    assert store.snapshots.latest("account:bob", 1, upto_seq=3) is None
    assert store.snapshots.latest("account:bob", 2) is None  # another format
    assert store.snapshots.latest_seq("account:bob", 1) == 4
    assert store.snapshots.of_scope("account:bob", 1) == [(2, "stale"), (4, "state-at-4")]
    assert store.snapshots.with_prefix("account:a", 1) == [("account:alice", 4, "alice-at-4")]


def test_pruning_keeps_the_newest_and_one_per_span(store):
    """Pruning snapshots keeps the newest ones and the first of each span, and reports how many it removed."""
    seed(store)
    rows = {r.seq: r.hash for r in store.read()}
    for seq in (1, 2, 3, 4):
        store.snapshots.save([("ledger", f"s{seq}")], seq, rows[seq], 1)
    assert store.snapshots.prune("ledger", keep_newest=1, keep_one_per=2) == 1  # spans {1}, {2, 3}, {4}: s3 goes
    assert [seq for seq, _ in store.snapshots.of_scope("ledger", 1)] == [1, 2, 4]


def test_the_store_names_where_it_is_and_refuses_reads_before_its_schema(store, tmp_path):
    """``url`` names the log (a password never shown); ``require_schema`` passes once initialised, and a store not
    yet initialised refuses with ``NotInitialised`` naming ``init``."""
    assert store.url == "memory://" or store.url.startswith(("sqlite:///", "postgresql"))
    store.require_schema()
    fresh = MemoryEventStore() if store.url == "memory://" else SqlEventStore.open(f"sqlite:///{tmp_path / 'none.db'}")
    try:
        with pytest.raises(NotInitialised, match="init"):
            fresh.require_schema()
    finally:
        fresh.close()


def test_settled_returns_once_no_append_is_in_flight(store):
    """``settled`` waits for an append in flight (it takes the log's lock), so it returns at once when none is, and
    what was committed before it is read after it."""
    seed(store)
    store.settled()
    assert count(store) == 4


def test_without_a_key_nothing_is_sealed(store):
    """No key: no seal row, no keyring (a SQL store with a key seals every append; the sealing itself is tested in
    ``reliability/test_forgery.py``)."""
    seed(store)
    assert store.keyring is None and store.seals() == []


def test_a_whole_ledger_snapshot_is_loaded_only_when_the_log_binds_its_digest(store):
    """Without a key, the whole-ledger snapshot is loaded only when the row of its event holds its digest (written
    with the batch): one with another content at the same point is passed over, one the log never bound is never
    loaded. The twin in memory binds nothing and needs not: nothing outside the process writes its snapshots."""
    from ledger.domain.snapshot import SNAPSHOT_FORMAT
    from ledger.store.snapshots import LEDGER_SCOPE, snapshot_digest

    seed(store)
    head, head_hash = store.head()
    digest = snapshot_digest(LEDGER_SCOPE, head + 1, SNAPSHOT_FORMAT, "{}")
    with store.writer() as writer:
        writer.append_new([deposit("carol", "1", t=5)], LATER, digest)
    row = store.row_at(head + 1)
    assert row is not None
    store.snapshots.save([(LEDGER_SCOPE, "{}")], head + 1, row.hash, SNAPSHOT_FORMAT)
    assert store.snapshots.latest(LEDGER_SCOPE, SNAPSHOT_FORMAT) == (head + 1, "{}")
    if store.url == "memory://":
        assert store.snapshots.bindings([head, head + 1]) == {}
        return
    assert store.snapshots.bindings([head, head + 1]) == {head + 1: digest}
    store.snapshots.save([(LEDGER_SCOPE, '{"forged": 1}')], head + 1, row.hash, SNAPSHOT_FORMAT)
    assert store.snapshots.latest(LEDGER_SCOPE, SNAPSHOT_FORMAT) == (head + 1, "{}"), "the forged one is passed over"
    store.snapshots.save([(LEDGER_SCOPE, "{}")], head, head_hash, SNAPSHOT_FORMAT)
    assert store.snapshots.latest(LEDGER_SCOPE, SNAPSHOT_FORMAT, upto_seq=head) is None, "never bound: never loaded"


def test_a_keyed_sql_store_seals_each_append_and_proves_its_snapshots(tmp_path):
    """A SQL store with a key seals each append (its range, the head hash, the key id) and takes its snapshots as proven."""
    generate_key(tmp_path / "key")
    store = SqlEventStore.open(f"sqlite:///{tmp_path / 'keyed.db'}", Keyring.load(tmp_path / "key"))
    try:
        store.initialise()
        seed(store)
        store.append([deposit("alice", "5", t=4)], LATER)
        assert store.keyring is not None
        seals = store.seals()
        assert [(seq_from, seq_to) for seq_from, seq_to, *_ in seals] == [(1, 4), (5, 5)]
        assert seals[-1][2] == store.head()[1] and seals[-1][3] == store.keyring.key_id
    finally:
        store.close()
