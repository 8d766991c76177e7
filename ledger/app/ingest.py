"""Reading JSON Lines files as a stream of located events.

Lines are read one at a time and handed on in chunks, so a file far larger
than memory is ingested with bounded memory (the whole file still commits in
one transaction, or not at all). Blank lines are skipped; each record is
located as ``FILE:LINE`` so every error names it. Decoding errors are
collected over the whole file (up to ``MAX_ERRORS``) so a user can fix them in
one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ledger.domain.codec import decode_line
from ledger.engine.pipeline import Located
from ledger.errors import InvalidBatch, InvalidEvent

__all__ = ["MAX_ERRORS", "CHUNK", "open_jsonl", "chunks"]

MAX_ERRORS = 100
CHUNK = 2000
"""Records decoded, validated and inserted together inside the file's transaction."""

Progress = Callable[[int], None]


def open_jsonl(path: str | Path):
    """The file opened for binary reading, or ``InvalidBatch`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise InvalidBatch([InvalidEvent("no such file", where=str(path))])
    try:
        return path.open("rb")
    except OSError as exc:
        raise InvalidBatch([InvalidEvent(f"cannot read: {exc.strerror}", where=str(path))]) from None


def chunks(
    path: str | Path, errors: list[InvalidEvent], progress: Progress | None = None, size: int = CHUNK
) -> Iterator[list[Located]]:
    """Chunks of ``(FILE:LINE, event)``; decoding errors go to ``errors``.

    Once an error is found, chunks stop coming (nothing after it will be
    stored) but the rest of the file is still decoded to report its errors.
    """
    with open_jsonl(path) as handle:
        chunk: list[Located] = []
        for number, raw in enumerate(handle, start=1):
            if progress is not None:
                progress(len(raw))
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                event = decode_line(line)
            except InvalidEvent as exc:
                errors.append(exc.located(where))
                if len(errors) >= MAX_ERRORS:
                    return
                continue
            if errors:
                continue
            chunk.append((where, event))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk and not errors:
            yield chunk
