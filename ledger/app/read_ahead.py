"""An ingest's lines read and decoded on a second core, by a process of their own, and handed over in chunks.

Decoding a line (the strict parse, the fields' readers, the event built) is
about 8 µs, a sixth of what an ingest spends on it, and it depends on
nothing but the line. So a large file is read by a second process
(``spawn``: nothing of this one's open connections is inherited), which runs
the very reader the ingest runs in-process (``ingest.located_chunks``: the
same lines, places, refusals and progress) and sends each chunk through a
pipe; the appending process takes an event back in about 3.8 µs (unpickled)
instead of 8, and folds, decides and stores while the next chunk is
decoded. The pipe holds about one chunk: the reader never runs far ahead, so
memory stays bounded as before.

Only the flat types travel as events (every ingested type without an object
inside: ``fast_lines.FAST_TYPES``); a line of another type (an activation
with its parameters) travels as its bytes, which the reader has already
decoded once, and is decoded again here by the same decoder (the same
answer). Standard input, a gzip file and a file under ``READ_AHEAD_FROM``
bytes are read in this process as before: a second process takes about a
tenth of a second to start.

Ctrl-C is this process's to handle (the reader ignores it, and is stopped
when the chunks stop being asked for, whatever the reason); a reader that
fails sends its error, which is raised here: a file it cannot read as an
``OSError``, anything else as ``ReadAheadFailed``, naming the file.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Generator, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ledger import gc_policy
from ledger.app import ingest
from ledger.domain.events import Event
from ledger.domain.fast_lines import FAST_TYPES, decode_line_fast

if TYPE_CHECKING:
    from ledger.engine.admission import Located

__all__ = ["READ_AHEAD_FROM", "Chunks", "ReadAheadFailed", "chunks"]

READ_AHEAD_FROM = 8 << 20
"""Bytes from which a plain file is read by a second process: about 50,000 lines of the benchmark mix, which save
about 0.2 s of decoding against the tenth of a second the process takes to start."""


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
    with ingest.open_jsonl(path):  # a file this process cannot open is refused here, as ever
        pass
    if Path(path).stat().st_size < READ_AHEAD_FROM:
        return ingest.chunks(path, reading, progress, size)
    return _ReadAhead(str(path), reading, progress, size)


class _ReadAhead:
    """The chunks a reader process sends, and that process, started at once; stopped when the chunks end or are
    closed."""

    def __init__(self, path: str, reading: ingest.Reading, progress: ingest.Progress | None, size: int) -> None:
        self.path, self.reading, self.progress = path, reading, progress
        context = multiprocessing.get_context("spawn")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_read, args=(send, path, size), name="ledger-read-ahead", daemon=True)
        self._process.start()
        send.close()
        self._received = self._chunks()

    def __iter__(self) -> Iterator[list[Located]]:
        return self

    def __next__(self) -> list[Located]:
        return next(self._received)

    def close(self) -> None:
        self._received.close()
        self._stop()

    def _chunks(self) -> Generator[list[Located], None, None]:
        try:
            while True:
                try:
                    kind, body = self._receive.recv()
                except EOFError:
                    self._process.join()
                    raise ReadAheadFailed(f"{self.path}: the process reading it ended (status "
                                          f"{self._process.exitcode}) before its end") from None
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

    def _stop(self) -> None:
        self._receive.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _shippable(line: bytes) -> Any:
    """The line's event, or the line itself for a type with an object inside (which does not pickle as it is)."""
    event = decode_line_fast(line)
    return event if event.TYPE in FAST_TYPES else line


def _read(send: Connection, path: str, size: int) -> None:  # pragma: no cover - runs in the reader's own process
    """The reader: ``ingest.located_chunks`` over the file, each chunk and each progress sent as it comes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the appending process handles Ctrl-C, and stops this one
    gc_policy.collect_older_generations_rarely()  # a process of its own that makes many objects and frees them
    try:
        reading = ingest.Reading()
        for chunk in ingest.located_chunks(path, reading, _shippable, lambda n: send.send(("read", n)), size):
            send.send(("chunk", chunk))
        send.send(("end", (reading.lines, reading.errors, reading.error_count)))
    except OSError as exc:
        send.send(("raised", exc))
    except BaseException:
        send.send(("failed", traceback.format_exc()))
    finally:
        send.close()
