"""A large file's lines read by a second process (``app.read_ahead``) give exactly what reading them here gives.

The reader process runs the ingest's own reader; these tests hold the two
to the same chunks (places and events), the same count of records, the same
refusals (type, reason and place, the first ``MAX_ERRORS`` and the count
beyond) and the same progress, on files with every ingested type, blank
lines, a byte-order mark, CR LF ends, broken lines and a line past the
length limit. They also check when a second process is used at all, that it
never outlives the reading, and that a reader which dies, or a file that
cannot be read, is an error naming the file, never a silently short ingest.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import signal
from datetime import UTC
from pathlib import Path

import pytest

from bench.gen_history import generate
from ledger.app import ingest, read_ahead
from ledger.domain.codec import MAX_LINE_BYTES
from ledger.errors import DuplicateEventConflict, InvalidBatch, InvalidEvent, InvalidRuleParams
from tests.support.records import example_record


@pytest.fixture
def always(monkeypatch) -> None:
    """Every plain file read ahead, whatever its size."""
    monkeypatch.setattr(read_ahead, "READ_AHEAD_FROM", 0)


def readers() -> list[int]:
    """This process's children running the reader (``python -m ledger.app.read_ahead``), zombies left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(parent) == os.getpid() and state != "Z" and b"ledger.app.read_ahead" in command:
            found.append(int(entry.name))
    return found


def exactly(chunks: list) -> list:
    """Chunks as text that tells apart what ``==`` does not: each event's repr (a decimal's exponent shows), and
    whether its time is in ``datetime.UTC`` itself (which the time formatting's fast path asks by identity)."""
    return [[(where, repr(event), event.at.tzinfo is UTC) for where, event in chunk] for chunk in chunks]


def history_lines(n: int) -> list[bytes]:
    """``n`` lines of the benchmark mix: listings, an activation with its parameters, deposits, trades, marks."""
    return [json.dumps(record).encode() for record in generate(n, accounts=20, seed=5)]


def read(path: Path, reader, size: int) -> tuple[list, tuple, list[int], list[int]]:
    """Everything a reading gives: its chunks (``exactly``), its ``Reading`` (refusals as type, reason and place),
    the progress told, and the reader processes alive once its first chunk came."""
    reading, told, seen = ingest.Reading(), [], []
    got = []
    for chunk in reader(path, reading, told.append, size):
        if not got:
            seen = readers()
        got.append(chunk)
    errors = [(type(e), e.reason, e.where, str(e)) for e in reading.errors]
    return exactly(got), (reading.lines, reading.error_count, errors), told, seen


def assert_read_alike(path: Path, size: int) -> list:
    here = read(path, ingest.chunks, size)
    there = read(path, read_ahead.chunks, size)
    assert there[:3] == here[:3]
    assert here[3] == [] and (len(there[3]) == 1 or not there[0])
    assert readers() == [], "the reader process ends with the reading"
    return there[0]


def test_a_file_read_ahead_gives_what_reading_it_here_gives(tmp_path, always):
    """Every ingested type (the activation's parameters travel as the line and are decoded here), a byte-order mark,
    blank lines and CR LF ends, over many chunks and a last short one: the same chunks, count and progress."""
    lines = history_lines(3_000)
    lines[10] = lines[10] + b"\r"
    lines[20:20] = [b"", b"   ", json.dumps({**example_record("margin_mode"), "id": "mm-1", "account": "acct1",
                                             "market": "BTC-PERP", "mode": "isolated"}).encode()]
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    chunks = assert_read_alike(path, size=257)
    kinds = {text.split("(", 1)[0] for chunk in chunks for _, text, _ in chunk}
    assert len(chunks) > 10 and kinds >= {"MarketListed", "RulesActivated", "Deposit", "Trade", "Mark", "MarginMode"}
    assert all(in_utc for chunk in chunks for _, _, in_utc in chunk)


def test_refusals_read_ahead_are_the_refusals_read_here(tmp_path, always):
    """Broken lines from the first chunk on, more than ``MAX_ERRORS`` of them, and a line past the length limit: the
    chunks stop at the first, every refusal keeps its type, reason and place, and the count goes on past the kept."""
    lines = history_lines(2_000)
    broken = [b"{", b'{"type": "nope", "id": "x"}', b'{"type": "deposit"}', b"[1, 2]", b'"text"',
              lines[5].replace(b'"at": "', b'"at": "not ')]
    places = range(700, 1_900, 40)
    for at in places:
        lines[at] = broken[at % len(broken)]
    lines[1_950] = b'{"type": "deposit", "pad": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}'
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert_read_alike(path, size=300)
    reading = ingest.Reading()
    assert [len(chunk) for chunk in read_ahead.chunks(path, reading, None, 300)] == [300, 300]
    assert (reading.error_count, len(reading.errors)) == (len(places) + 1, ingest.MAX_ERRORS)
    assert reading.errors[0].where == f"{path}:701"


def test_a_refusal_in_the_first_line_stops_every_chunk(tmp_path, always):
    """A first line that does not decode: no chunk at all, from either reader, and the same refusal."""
    path = tmp_path / "first.jsonl"
    path.write_bytes(b"not json\n" + b"\n".join(history_lines(500)) + b"\n")
    assert assert_read_alike(path, size=100) == []


def test_small_files_gzip_files_and_missing_files_are_read_here(tmp_path):
    """Under ``READ_AHEAD_FROM`` bytes a file is read in this process; a gzip file always is (its size is not its
    lines'); a missing file is refused here, as ever, naming it."""
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"\n".join(history_lines(300)) + b"\n")
    assert path.stat().st_size < read_ahead.READ_AHEAD_FROM
    assert read(path, read_ahead.chunks, 100)[3] == []
    packed = tmp_path / "small.jsonl.gz"
    with gzip.open(packed, "wb") as handle:
        handle.write(path.read_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(read_ahead, "READ_AHEAD_FROM", 0)
        assert read(packed, read_ahead.chunks, 100)[3] == []
        packed_chunks, packed_reading, _, _ = read(packed, read_ahead.chunks, 100)
        plain_chunks, plain_reading, _, _ = read(path, ingest.chunks, 100)
        assert [[text for _, text, _ in chunk] for chunk in packed_chunks] == [
            [text for _, text, _ in chunk] for chunk in plain_chunks]
        assert packed_reading == plain_reading
    with pytest.raises(InvalidBatch, match=r"missing\.jsonl: no such file"):
        list(read_ahead.chunks(tmp_path / "missing.jsonl", ingest.Reading()))


def test_a_reading_stopped_early_stops_its_reader(tmp_path, always):
    """A caller that stops asking (an error in the append, Ctrl-C) closes the chunks: the reader process is gone."""
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join(history_lines(5_000)) + b"\n")
    chunks = read_ahead.chunks(path, ingest.Reading(), None, 100)
    next(chunks)
    assert len(readers()) == 1
    chunks.close()
    assert readers() == []


def test_a_file_gone_before_its_reader_opens_it_is_refused_as_here(tmp_path):
    """The file removed between the size check and the reader's open: the reader's refusal comes back as itself,
    ``InvalidBatch`` naming the file (exit 1 at the command line), as the reader here would raise it."""
    gone = tmp_path / "gone.jsonl"
    with pytest.raises(InvalidBatch) as here:
        list(ingest.chunks(gone, ingest.Reading()))
    with pytest.raises(InvalidBatch) as there:
        list(read_ahead._ReadAhead(str(gone), ingest.Reading(), None, 100))  # the size check already passed
    assert [str(e) for e in there.value.errors] == [str(e) for e in here.value.errors] == [f"{gone}: no such file"]
    assert str(there.value) == str(here.value) and readers() == []


def test_a_reader_that_dies_is_an_error_naming_the_file_not_a_short_file(tmp_path, always):
    """The reader process killed half-way: the chunks it had sent come, then ``ReadAheadFailed`` names the file and
    how the reader ended; the reading never ends as if the file had ended there."""
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join(history_lines(20_000)) + b"\n")
    reading = ingest.Reading()
    chunks = read_ahead.chunks(path, reading, None, 100)
    next(chunks)
    (reader,) = readers()
    os.kill(reader, signal.SIGKILL)
    with pytest.raises(read_ahead.ReadAheadFailed, match=rf"{path.name}: the process reading it ended \(status -9\)"):
        for _ in chunks:
            pass
    assert readers() == []


def test_a_file_that_cannot_be_read_fails_as_it_does_here(always):
    """A file whose reading fails (``/proc/self/mem`` at offset 0: an I/O error) raises the same ``OSError`` from the
    reader process as from this one."""
    path = Path("/proc/self/mem")
    with pytest.raises(OSError, match=r"Input/output error") as here:
        list(ingest.chunks(path, ingest.Reading()))
    with pytest.raises(OSError, match=r"Input/output error") as there:
        list(read_ahead.chunks(path, ingest.Reading()))
    assert (type(there.value), there.value.errno) == (type(here.value), here.value.errno)
    assert readers() == []


@pytest.mark.parametrize("kind", [InvalidEvent, DuplicateEventConflict, InvalidRuleParams])
def test_a_refusal_pickles_with_its_place(kind):
    """A refusal crosses processes as itself: its type, reason, place and message (an exception pickles its message
    alone by default, and would come back with the place inside its reason); so does a batch's, with its errors,
    its count and whether it was a write."""
    for where in ("f.jsonl:7", None):
        error = kind("amount is not a plain decimal string", where=where)
        back = pickle.loads(pickle.dumps(error))
        assert (type(back), back.reason, back.where, str(back)) == (kind, error.reason, where, str(error))
    for writing in (True, False):
        batch = InvalidBatch([kind("no such file", where="f.jsonl")] * 21, 30, writing=writing)
        back = pickle.loads(pickle.dumps(batch))
        assert (str(back), back.total, back.writing, [str(e) for e in back.errors]) == (
            str(batch), 30, writing, [str(e) for e in batch.errors])
