"""Reading JSON Lines files as a stream of located events.

Lines are read one at a time and handed on in chunks, so a file far larger
than memory is ingested with bounded memory (the whole file still commits in
one transaction, or not at all). Blank lines are skipped; each record is
located as ``FILE:LINE`` so every error names it. Decoding errors are
collected over the whole file so a user can fix them in one pass: the first
``MAX_ERRORS`` are kept, the rest only counted. ``-`` reads standard input; a
name ending in ``.gz`` is read through gzip; a UTF-8 byte-order mark at the
start is skipped.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from attrs import define, field

from ledger.domain.codec import MAX_LINE_BYTES, decode_line
from ledger.domain.fast_lines import decode_line_fast
from ledger.engine.admission import Located
from ledger.errors import InvalidBatch, InvalidEvent

__all__ = ["MAX_ERRORS", "CHUNK", "Reading", "open_jsonl", "chunks", "business_span"]

MAX_ERRORS = 20
"""Errors kept (and shown) per file; every one after them is still counted."""
_BOM = b"\xef\xbb\xbf"
CHUNK = 2000
"""Records decoded, validated and inserted together inside the file's transaction."""

Progress = Callable[[int], None]


@define
class Reading:
    """What reading a file found: its records (non-blank lines) and every error, the first ``MAX_ERRORS`` kept."""

    lines: int = 0
    errors: list[InvalidEvent] = field(factory=list)
    error_count: int = 0

    def refused(self, error: InvalidEvent) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


class LineReader(Protocol):
    """What the ingest reads a file through: a binary stream's ``readline`` (a file, gzip's, standard input)."""

    def readline(self, size: int = -1, /) -> bytes: ...


def open_jsonl(path: str | Path) -> AbstractContextManager[LineReader]:
    """The file opened for binary reading (``-``: standard input; ``*.gz``: through gzip), or ``InvalidBatch``."""
    if str(path) == "-":
        return _Unclosed(sys.stdin.buffer)
    path = Path(path)
    if not path.is_file():
        raise InvalidBatch([InvalidEvent("no such file", where=str(path))])
    try:
        return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")
    except OSError as exc:
        raise InvalidBatch([InvalidEvent(f"cannot read: {exc.strerror}", where=str(path))]) from None


_READ = 1 << 16
_REPORT_BYTES = 1 << 20
"""The most bytes read before the progress is told, while no chunk is given (a file past its first error)."""


def _bounded_lines(handle: LineReader) -> Iterator[tuple[bytes | None, int]]:
    """Each line and its length in bytes, never holding more than the longest line allowed: a longer one (say a
    newline-free gzip member that inflates to gigabytes) is read past in pieces and given as None."""
    readline = handle.readline
    while True:
        raw: bytes = readline(MAX_LINE_BYTES + 3)  # the longest line, its CR LF, and one byte to know it is longer
        if not raw:
            return
        if len(raw) <= MAX_LINE_BYTES + 2 or raw.endswith(b"\n"):
            yield raw, len(raw)
            continue
        length = len(raw)
        while raw and not raw.endswith(b"\n"):
            raw = readline(_READ)
            length += len(raw)
        yield None, length


class _Told:
    """Bytes read, told to a progress display in sums: as a chunk is given, and at least every ``_REPORT_BYTES``."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress, self.unreported = progress, 0

    def read(self, count: int) -> None:
        self.unreported += count
        if self.unreported >= _REPORT_BYTES:
            self.tell()

    def tell(self) -> None:
        if self.progress is not None and self.unreported:
            self.progress(self.unreported)
        self.unreported = 0


class _Unclosed:
    """Standard input as a context manager that leaves it open."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None


def chunks(
    path: str | Path, reading: Reading, progress: Progress | None = None, size: int = CHUNK
) -> Iterator[list[Located]]:
    """Chunks of ``(FILE:LINE, event)``; the count of records and the decoding errors go to ``reading``.

    Once an error is found, chunks stop coming (nothing after it will be
    stored) but the rest of the file is still decoded to count its errors.
    ``progress`` is told the bytes read as each chunk is given (so the bytes
    and the lines it has been given agree) and at least every
    ``_REPORT_BYTES``, not at every line: told per line, the progress display
    cost 6% of an ingest (profiled).
    """
    told = _Told(progress)
    with open_jsonl(path) as handle:
        chunk: list[Located] = []
        for number, (raw, length) in enumerate(_bounded_lines(handle), start=1):
            told.read(length)
            if raw is None:
                reading.lines += 1
                reading.refused(InvalidEvent(f"line is longer than {MAX_LINE_BYTES} bytes", where=f"{path}:{number}"))
                continue
            line = raw.rstrip(b"\r\n")
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM):]
            if not line.strip():
                continue
            reading.lines += 1
            where = f"{path}:{number}"
            try:
                event = decode_line_fast(line)  # ``codec.decode_line``'s very answer, the usual line read in C
            except InvalidEvent as exc:
                reading.refused(exc.located(where))
                continue
            if reading.errors:
                continue
            chunk.append((where, event))
            if len(chunk) >= size:
                told.tell()
                yield chunk
                chunk = []
        told.tell()
        if chunk and not reading.errors:
            yield chunk


def business_span(path: str | Path) -> tuple[datetime, datetime] | None:
    """The business times of a plain file's first and last records, read from its two ends (not the whole file).

    What an ingest of several files checks before storing any: the log's
    business time never goes backwards, so files given out of order (a shell
    glob sorts ``part10`` before ``part2``) would store the later ones and
    then refuse the earlier ones for ever. None where it cannot tell cheaply
    or at all (standard input, a gzip file, anything but a plain file, an
    empty file, an end line that does not decode): the ingest itself then
    reads the file and names whatever is wrong in it.
    """
    if str(path) == "-" or str(path).endswith(".gz") or not Path(path).is_file():  # (a pipe's lines, once read, are gone)
        return None
    try:
        with Path(path).open("rb") as handle:
            first = handle.readline(MAX_LINE_BYTES + 1)
            size = handle.seek(0, 2)
            handle.seek(max(0, size - MAX_LINE_BYTES - 2))
            tail = handle.read()
    except OSError:
        return None
    ends = [first.removeprefix(_BOM), *reversed(tail.splitlines())]
    try:
        start = decode_line(next(line for line in ends[:1] if line.strip())).at
        end = decode_line(next(line for line in ends[1:] if line.strip())).at
    except (InvalidEvent, StopIteration):
        return None
    return start, end
