"""The same events appended and replayed with the ``eventsourcing`` library's SQLite recorder.

Append: ours is the storage layer (encode, hash chain, insert, one transaction
per 10,000 events); theirs is ``SQLiteApplicationRecorder.insert_events`` with
the same payloads, streams and versions, one call per 10,000 events.
Replay: both read every event in order, decode it into our event classes and
fold it into account state with the same fold.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from ledger import Ledger
from ledger.domain.codec import decode_object, format_time
from ledger.domain.fold import apply
from ledger.domain.state import LedgerState
from ledger.services import replay

BATCH = 10_000


def compare(tmp: Path, source_url: str, report) -> None:
    from eventsourcing.persistence import StoredEvent as ESStoredEvent
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    with Ledger.open(source_url) as ledger:
        rows = list(ledger.events())
    events = [decode_object(dict(json.loads(r.payload), type=r.type, id=r.event_id, at=r.at), allowed_types=frozenset({r.type}))
              for r in rows]
    recorded_at = format_time(datetime(2026, 1, 1, tzinfo=timezone.utc))

    url = f"sqlite:///{tmp / 'ours-es.db'}"
    with Ledger.open(url) as ours:
        ours.init()
        start = time.perf_counter()
        for i in range(0, len(events), BATCH):
            with ours.store.writer() as writer:
                writer.append_new(events[i:i + BATCH], recorded_at)
        ours_append = time.perf_counter() - start
        ours_replay = _timed(lambda: replay.state_at(ours.store, use_snapshots=False))

    datastore = SQLiteDatastore(str(tmp / "es.db"), originator_id_type="text")
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    stored = [ESStoredEvent(originator_id=r.stream, originator_version=r.stream_version, topic=r.type,
                            state=json.dumps({"id": r.event_id, "at": r.at, "body": r.payload}).encode()) for r in rows]
    start = time.perf_counter()
    for i in range(0, len(stored), BATCH):
        recorder.insert_events(stored[i:i + BATCH])
    es_append = time.perf_counter() - start

    def es_replay() -> LedgerState:
        state, position = LedgerState(), None
        while True:
            page = recorder.select_notifications(position, BATCH, inclusive_of_start=position is None)
            if not page:
                return state
            for note in page:
                wrapper = json.loads(note.state)
                body = dict(json.loads(wrapper["body"]), type=note.topic, id=wrapper["id"], at=wrapper["at"])
                apply(state, decode_object(body, allowed_types=frozenset({note.topic})))
            position = page[-1].id

    es_replay_time = _timed(es_replay)
    n = len(rows)
    report(f"Append vs eventsourcing SQLite recorder ({n:,} events)", n / ours_append, n / es_append, "events/s",
           "ratio = ours / eventsourcing")
    report("Replay vs eventsourcing SQLite recorder (same fold)", n / ours_replay, n / es_replay_time, "events/s",
           "ratio = ours / eventsourcing")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
