"""The same events appended and replayed with the ``eventsourcing`` library's SQLite recorder.

Append: ours is the storage layer (encode, hash chain, insert, one transaction
per 10,000 events); theirs is ``SQLiteApplicationRecorder.insert_events`` with
the same payloads, streams and versions, one call per 10,000 events.
Replay: both read every event in order and fold it into account state with
the same fold (the replay fast path, ``bulk_fold.fold_rows``); only where the
rows come from differs.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.run import timed
from ledger import Ledger
from ledger.domain.codec import SCHEMA_VERSION, decode_object
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.replay import load as replay
from ledger.replay.fast_fold import fold_rows

BATCH = 10_000


def compare(tmp: Path, source_url: str, report) -> None:
    from eventsourcing.persistence import StoredEvent as ESStoredEvent
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    with Ledger.open(source_url) as ledger:
        rows = list(ledger.events())
    events = [decode_object(dict(json.loads(r.payload), type=r.type, id=r.event_id, at=r.at), allowed_types=frozenset({r.type}))
              for r in rows]
    recorded_at = format_time(datetime(2026, 1, 1, tzinfo=UTC))

    url = f"sqlite:///{tmp / 'ours-es.db'}"
    with Ledger.open(url) as ours:
        ours.init()
        start = time.perf_counter()
        for i in range(0, len(events), BATCH):
            with ours.store.writer() as writer:
                writer.append_new(events[i:i + BATCH], recorded_at)
        ours_append = time.perf_counter() - start
        ours_replay, _ = timed(replay.state_at, ours.store, use_snapshots=False)

    datastore = SQLiteDatastore(str(tmp / "es.db"), originator_id_type="text")
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    stored = [ESStoredEvent(originator_id=r.stream, originator_version=r.stream_version, topic=r.type,
                            state=json.dumps({"id": r.event_id, "at": r.at, "body": r.payload}).encode()) for r in rows]
    start = time.perf_counter()
    for i in range(0, len(stored), BATCH):
        recorder.insert_events(stored[i:i + BATCH])
    es_append = time.perf_counter() - start

    page_identities: dict[int, tuple[str, str]] = {}  # the current page's (their state holds id and time)

    def es_batches():
        position = None
        while page := recorder.select_notifications(position, BATCH, inclusive_of_start=position is None):
            rows = []
            page_identities.clear()
            for note in page:
                wrapper = json.loads(note.state)
                rows.append((note.id, note.topic, SCHEMA_VERSION, wrapper["body"]))
                page_identities[note.id] = (wrapper["id"], wrapper["at"])
            yield rows
            position = page[-1].id

    def es_identify(seqs):
        return {seq: page_identities[seq] for seq in seqs}

    es_replay_time, _ = timed(fold_rows, LedgerState(), es_batches(), es_identify)
    n = len(rows)
    report(f"Append vs eventsourcing SQLite recorder ({n:,} events)", n / ours_append, n / es_append, "events/s",
           "ratio = ours / eventsourcing")
    report("Replay vs eventsourcing SQLite recorder (same fast fold)", n / ours_replay, n / es_replay_time, "events/s",
           "ratio = ours / eventsourcing")
