"""The ingest's fast path for one JSON line: the usual flat record read by msgspec, in C.

Why: the reference decoder (``codec.decode_line``) parses each line with the
standard library's JSON decoder, hooked to refuse numbers, constants and
duplicate keys, into a dict, then applies each field's reader. The parse alone
was about a quarter of a trade's 9.5 µs. msgspec parses the same line into a
typed record of strings in about 0.3 µs, refusing on its own what is not a
JSON object of exactly the type's fields, each a string (or null where the
field may be), with nothing before or after it.

What it may answer, and what it leaves: it answers only a line it fully
accepts, and gives then the very event the reference gives (the same readers
on the same strings). Anything else goes to the reference decoder, which
refuses it with the message it always gave (file and line are added by the
caller):

- a line with a backslash (an escape: a key or a value the text does not
  spell out as it is) or longer than ``MAX_LINE_BYTES``;
- a type whose record holds an object (``params``, ``fills``) or is made by
  the engine (the reference refuses those);
- whatever msgspec refuses (not JSON, not an object, an unknown type, a
  missing or unknown field, a number, a constant, trailing text, invalid
  UTF-8), and a value nested so deep, ahead of ``type``, that msgspec's
  recursive look for the tag runs out of stack (the reference says "JSON
  nested too deeply");
- anything but ``bytes`` (what the ingest reads);
- a repeated key, which msgspec takes without a word (the last one wins) and
  the contract refuses. Without a backslash no string holds a quotation mark,
  so the line has exactly four quotation marks per string-valued key and two
  per null-valued one; a repeated key adds at least two more. The count is
  compared with the record's;
- any refusal of a field's reader or of the event's own validators.

``tests/test_fast_lines.py`` holds it to the reference over generated lines,
valid and broken. What it relies on in msgspec (UTF-8 checked inside strings,
raw control characters and trailing text refused, the last of a repeated key
kept) is msgspec's documented JSON handling; the property is what would catch
a release that changed it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import msgspec

from ledger.domain.codec import MAX_LINE_BYTES, decode_line, field_readers
from ledger.domain.events import INGESTED_TYPES, Event, from_flat

__all__ = ["decode_line_fast", "FAST_TYPES"]

_FLAT_KINDS = {"at": str, "str": str, "dec": str, "optstr": str | None, "optdec": str | None}
"""The value each field kind holds in a line, as msgspec is to type it (a decimal is a string in the contract)."""

_Reading = tuple[type[Event], tuple[tuple[str, Callable[[object], Any]], ...]]


def _records() -> tuple[dict[type, _Reading], list[type]]:
    """A msgspec record type per ingested type whose fields are all flat, tagged by ``type``; and what reads each."""
    readings: dict[type, _Reading] = {}
    for kind in sorted(INGESTED_TYPES):
        cls, fields = field_readers(kind)
        if any(field_kind not in _FLAT_KINDS for _, field_kind, _ in fields):
            continue  # params or fills: an object inside, left to the reference
        record = msgspec.defstruct(
            f"Line_{kind}", [(name, _FLAT_KINDS[field_kind]) for name, field_kind, _ in fields],
            tag_field="type", tag=kind, forbid_unknown_fields=True)
        readings[record] = (cls, tuple((name, read) for name, _, read in fields))
    return readings, list(readings)


_READINGS, _RECORD_TYPES = _records()

FAST_TYPES = frozenset(cls.TYPE for cls, _ in _READINGS.values())
"""The types this path answers (the others always go to the reference)."""

_DECODER = msgspec.json.Decoder(Union[tuple(_RECORD_TYPES)])  # noqa: UP007  # a runtime union of the built types
_QUOTE = ord('"')


def decode_line_fast(line: bytes) -> Event:
    """One JSON Lines record to an ingested event, exactly as ``codec.decode_line`` reads it (see the module)."""
    if type(line) is bytes and len(line) <= MAX_LINE_BYTES and b"\\" not in line:
        try:
            record = _DECODER.decode(line)
        except (msgspec.DecodeError, RecursionError):  # a ValidationError is a DecodeError; deep nesting, see above
            pass
        else:
            cls, readers = _READINGS[type(record)]
            values = msgspec.structs.astuple(record)
            quotes = 4  # "type": "kind"
            for value in values:
                quotes += 2 if value is None else 4
            if line.count(_QUOTE) == quotes:  # no key twice
                try:
                    return from_flat(cls, {name: read(raw) for (name, read), raw in zip(readers, values, strict=True)})
                except Exception:  # the reference refuses it, with its own message (or raises the same)
                    pass
    return decode_line(line)
