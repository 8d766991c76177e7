"""An ingest's lines read and decoded on a second core, by a process of their own, and handed over in chunks.

Decoding a line (the strict parse, the fields' readers, the event built) is
about 8 µs of an ingest's time per line, and it depends on nothing but the
line. So a large file is read by a second process, which runs the very
reader the ingest runs in-process (``ingest.located_chunks``: the same
lines, places, refusals and progress) and writes each chunk, pickled, to its
standard output; this process takes an event back in about 4 µs instead of
8, and folds, decides and stores while the next chunk is decoded. The pipe
holds about one chunk: the reader blocks until its chunk is taken, so it
never runs far ahead and memory stays bounded as before.

The reader is a fresh interpreter running this module (``python -m
ledger.app.read_ahead FILE SIZE``, with this process's ``ledger`` first on
its path): nothing of this process is inherited (open connections, threads),
and, unlike ``multiprocessing``'s ``spawn``, a caller's own script is never
run again in it. It runs in a session of its own, so the terminal's Ctrl-C
reaches this process only, which stops it; it is stopped (killed and waited
for) whenever the chunks end or are closed, for whatever reason.

Only the flat types travel as events (every ingested type without an object
inside: ``fast_lines.FAST_TYPES``); a line of another type (an activation
with its parameters) travels as its bytes, which the reader has already
decoded once, and is decoded again here by the same decoder (the same
answer). Standard input, a gzip file and a file under ``READ_AHEAD_FROM``
bytes are read in this process as before: a second process takes about a
tenth of a second to start.

A reader that fails sends its error, raised here as it would be raised in
this process (the ledger's own refusals, such as a file it cannot open, and
an ``OSError`` while reading); one that ends any other way is
``ReadAheadFailed`` naming the file, never a file read short.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from ledger import gc_policy
from ledger.app import ingest
from ledger.domain.events import Event
from ledger.domain.fast_lines import FAST_TYPES, decode_line_fast
from ledger.errors import InvalidBatch

if TYPE_CHECKING:
    from ledger.engine.admission import Located

__all__ = ["READ_AHEAD_FROM", "Chunks", "ReadAheadFailed", "chunks"]

READ_AHEAD_FROM = 8 << 20
"""Bytes from which a plain file is read by a second process: about 50,000 lines of the benchmark mix, which save
about 0.2 s of decoding against the tenth of a second the process takes to start."""

_PACKAGES = str(Path(__file__).resolve().parents[2])
"""Where this process's ``ledger`` was imported from: first on the reader's path, so it runs the same code."""


class ReadAheadFailed(RuntimeError):
    """The process reading a file ended without its last chunk (its error, or how it ended)."""


class Chunks(Protocol):
    """Chunks of located events, as ``ingest.chunks`` gives them; ``close`` stops the reading, begun or not."""

    def __iter__(self) -> Iterator[list[Located]]: ...

    def __next__(self) -> list[Located]: ...

    def close(self) -> None: ...


def chunks(
    path: str | Path, reading: ingest.Reading, progress: ingest.Progress | None = None, size: int = ingest.CHUNK
) -> Chunks:
    """``ingest.chunks``: the same chunks, count, refusals and progress; read by a second process, started at once,
    when ``path`` is a plain file of at least ``READ_AHEAD_FROM`` bytes (so it starts while the caller opens its
    transaction). The caller closes what it is given (``contextlib.closing``)."""
    if str(path) == "-" or str(path).endswith(".gz") or not Path(path).is_file():
        return ingest.chunks(path, reading, progress, size)
    try:
        large = Path(path).stat().st_size >= READ_AHEAD_FROM
    except OSError:  # gone since: the reader here names it, as ever
        large = False
    if not large:
        return ingest.chunks(path, reading, progress, size)
    return _ReadAhead(str(path), reading, progress, size)


class _ReadAhead:
    """The chunks a reader process sends, and that process, started at once; stopped when the chunks end or are
    closed."""

    def __init__(self, path: str, reading: ingest.Reading, progress: ingest.Progress | None, size: int) -> None:
        self.path, self.reading, self.progress = path, reading, progress
        # its standard error, for the message if it ends without a word (closed with the reading)
        self._said = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, path, str(size)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._said, start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGES, os.environ.get("PYTHONPATH")]))},
        )
        assert self._process.stdout is not None, "its output is a pipe"
        self._sent: IO[bytes] = self._process.stdout
        self._received = self._chunks()

    def __iter__(self) -> Iterator[list[Located]]:
        return self

    def __next__(self) -> list[Located]:
        return next(self._received)

    def close(self) -> None:
        self._received.close()
        self._stop()
        self._said.close()

    def _chunks(self) -> Generator[list[Located], None, None]:
        try:
            while True:
                try:
                    kind, body = pickle.load(self._sent)
                except (EOFError, pickle.UnpicklingError):  # it ended, or died half-way through a message
                    self._stop()
                    raise ReadAheadFailed(self._ended()) from None
                if kind == "chunk":
                    yield [(where, item if isinstance(item, Event) else decode_line_fast(item)) for where, item in body]
                elif kind == "read":
                    if self.progress is not None:
                        self.progress(body)
                elif kind == "end":
                    self.reading.lines, self.reading.errors, self.reading.error_count = body
                    return
                elif kind == "raised":
                    raise body
                else:
                    raise ReadAheadFailed(f"{self.path}: the process reading it failed:\n{body}")
        finally:
            self._stop()
            self._said.close()

    def _stop(self) -> None:
        if self._process.returncode is None:
            self._process.kill()
            self._process.wait()
        self._sent.close()

    def _ended(self) -> str:
        self._said.seek(0)
        said = self._said.read().decode(errors="replace").strip()
        return (f"{self.path}: the process reading it ended (status {self._process.returncode}) before its end"
                + (f":\n{said}" if said else ""))


def _shippable(line: bytes) -> Any:
    """The line's event, or the line itself for a type with an object inside (which does not pickle as it is)."""
    event = decode_line_fast(line)
    return event if event.TYPE in FAST_TYPES else line


def _read(path: str, size: int) -> None:  # pragma: no cover - runs in the reader's own process
    """The reader: ``ingest.located_chunks`` over the file, each chunk and each progress written as it comes."""
    gc_policy.collect_older_generations_rarely()  # a process of its own that makes many objects and frees them
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by mistake goes to the error stream, never into the chunks

    def send(message: tuple[str, Any]) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        reading = ingest.Reading()
        for chunk in ingest.located_chunks(path, reading, _shippable, lambda n: send(("read", n)), size):
            send(("chunk", chunk))
        send(("end", (reading.lines, reading.errors, reading.error_count)))
    except (InvalidBatch, OSError) as exc:  # raised there as here: a file it cannot open, or read
        send(("raised", exc))
    except BaseException:
        send(("failed", traceback.format_exc()))
    finally:
        out.close()


if __name__ == "__main__":  # pragma: no cover - the reader's own process
    _read(sys.argv[1], int(sys.argv[2]))
