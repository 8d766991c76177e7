"""Reading JSON Lines files into located events.

Lines are read one at a time (a file is never slurped whole); blank lines are
skipped; each record is located as ``FILE:LINE`` so every error names it.
Decoding errors are collected over the whole file (up to ``MAX_ERRORS``) so a
user fixes them in one pass; nothing is stored unless the file is clean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ledger.domain.codec import decode_line
from ledger.errors import InvalidBatch, InvalidEvent
from ledger.services.pipeline import Located

__all__ = ["Located", "read_jsonl", "MAX_ERRORS"]

MAX_ERRORS = 100


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


def read_jsonl(path: str | Path) -> list[Located]:
    """Every record of the file as ``(FILE:LINE, event)``, or ``InvalidBatch``."""
    path = Path(path)
    try:
        lines = list(_lines(path)) if path.is_file() else None
    except OSError as exc:
        raise InvalidBatch([InvalidEvent(f"cannot read: {exc.strerror}", where=str(path))]) from None
    if lines is None:
        raise InvalidBatch([InvalidEvent("no such file", where=str(path))])
    located: list[Located] = []
    errors: list[InvalidEvent] = []
    for number, line in lines:
        if not line.strip():
            continue
        try:
            located.append((f"{path}:{number}", decode_line(line)))
        except InvalidEvent as exc:
            errors.append(exc.located(f"{path}:{number}"))
            if len(errors) >= MAX_ERRORS:
                break
    if errors:
        raise InvalidBatch(errors)
    return located
