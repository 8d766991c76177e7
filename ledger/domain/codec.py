"""Events to and from JSON: the ingest format and the stored payload.

The contract (``shared/contract/README.md``): one JSON object per line, every
field a string except ``params``; numbers are decimal strings. The decoder is
deliberately unforgiving: JSON floats, integers, NaN/Infinity, duplicate keys,
unknown or missing fields, exponents, naive or non-UTC times, empty or
oversized strings are all refused with a message naming the field.

The stored payload is the canonical JSON of the event (sorted keys, no
whitespace, decimals as fixed-point strings), the text that the hash chain
covers. ``SCHEMA_VERSIONS`` numbers each type's payload shape; ``UPCASTERS``
turn an old shape into the next one on read, without rewriting history (a
stored row keeps the version it was written with, and the hash chain covers
it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring as _encode_string
from typing import Any, NoReturn

import attrs
import orjson

from ledger.domain.events import (
    CHOICES,
    ENGINE_TYPES,
    EVENT_TYPES,
    INGESTED_TYPES,
    REQUIRED_QTY_WHOLE,
    DeleverageFill,
    Event,
    flat_fields,
    from_flat,
    thaw,
)
from ledger.domain.jsontext import canonical_json
from ledger.domain.money import MAX_DIGITS, parse_decimal, to_str
from ledger.domain.timefmt import format_time, parse_time, stored_time
from ledger.errors import InvalidEvent

__all__ = [
    "SCHEMA_VERSION",
    "SCHEMA_VERSIONS",
    "UPCASTERS",
    "MAX_STRING",
    "decode_line",
    "field_readers",
    "decode_params",
    "MAX_LINE_BYTES",
    "decode_object",
    "encode_payload",
    "canonical_json",
    "decode_stored",
    "decode_params_text",
    "to_json_object",
]

SCHEMA_VERSION = 1
"""The payload shape of every type that never changed: rows of these types are folded by the replay fast path."""
MAX_STRING = 200
"""Longest id or name an ingested event may carry."""
ENGINE_MAX_ID = 3 * MAX_STRING + 40
"""Longest id the engine derives: TRIGGER/bankruptcy/ACCOUNT/MARKET from three names of at most ``MAX_STRING``
(the column holds 640). The audit holds engine ids to this, so whatever ingest accepts, the engine's ids fit."""
ENGINE_MAX_DIGITS = 120
"""Most significant digits an engine-made figure may carry: the arithmetic context's precision (its sums and products
of bounded inputs are exact there), so an engine event the ledger wrote is never refused by its own audit."""
_OPTIONAL_STR = "str | None"
_OPTIONAL_DECIMAL = "Decimal | None"
MAX_LINE_BYTES = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _bankruptcy_1_to_2(body: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 names the isolated position a bankruptcy was of; every bankruptcy before it was of cross cash."""
    return {**body, "market": None}


def _bankruptcy_2_to_3(body: dict[str, Any]) -> dict[str, Any]:
    """Schema 3 records what auto-deleveraging paid; before loss allocation existed, nothing ever was."""
    return {**body, "adl_covered": "0"}


def _liquidation_1_to_2(body: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 stores ``required_qty`` as a decimal, or null for a whole close (schema 1 wrote the text "none")."""
    required = body["required_qty"]
    return {**body, "required_qty": None if required == REQUIRED_QTY_WHOLE else required}


UPCASTERS: Mapping[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("bankruptcy", 1): _bankruptcy_1_to_2,
    ("bankruptcy", 2): _bankruptcy_2_to_3,
    ("liquidation", 1): _liquidation_1_to_2,
}
"""(type, from_version) -> pure function giving the payload at from_version + 1."""

SCHEMA_VERSIONS: Mapping[str, int] = dict.fromkeys(EVENT_TYPES, SCHEMA_VERSION) | {"bankruptcy": 3, "liquidation": 2}
"""The current payload shape of each type, which new rows are written with.

bankruptcy 2: gains ``market`` (the isolated position, or null for cross); 3: gains ``adl_covered``.
liquidation 2: ``required_qty`` is a decimal, or null for a whole close (1: the text "none").
A test holds every older version reachable through ``UPCASTERS``."""


def _refuse_json_number(text: str) -> Any:
    raise InvalidEvent(f"JSON number {text} is not allowed: numbers are decimal strings")


def _refuse_constant(text: str) -> Any:
    raise InvalidEvent(f"JSON constant {text} is not allowed")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # the rare refusal: find the first repeated key to name it
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidEvent(f"duplicate key {key!r}")
            seen.add(key)
    return result


_STRICT_JSON = json.JSONDecoder(
    parse_float=_refuse_json_number,
    parse_int=_refuse_json_number,
    parse_constant=_refuse_constant,
    object_pairs_hook=_no_duplicate_keys,
)
"""Built once: ``json.loads`` with hooks builds a new decoder for every line (measured: a third of its cost)."""


def _loads(text: str) -> Any:
    try:
        if text.startswith("\ufeff"):  # exactly as json.loads refuses it, so the message stays the same
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _STRICT_JSON.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise InvalidEvent("JSON nested too deeply") from None


def _string(value: object, field: str, limit: int = MAX_STRING) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} must be a string, got {type(value).__name__}")
    if not value or not value.strip():
        raise InvalidEvent(f"{field} must not be empty")
    if len(value) > limit:
        raise InvalidEvent(f"{field} is longer than {limit} characters")
    if value.isascii() and value.isprintable():  # the usual name: no control character, and UTF-8 encodes it
        return value
    if _CONTROL.search(value):
        raise InvalidEvent(f"{field} contains control characters")
    _encodable(value, field)
    return value


def _encodable(value: str, field: str) -> None:
    """Refuse a lone surrogate (``"\\ud800"`` in JSON): Python reads it, but it is no Unicode text and no UTF-8 encodes it."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent(f"{field} contains a lone surrogate (not Unicode text)") from None


MAX_PARAMS_LIST = 64
"""Most items in one list of a params object (a market's margin tiers): venues publish about ten."""


def _params(value: object, field: str = "params") -> Any:
    """A params object: nested objects and lists (a market's tiers) whose leaves are strings."""
    if isinstance(value, dict):
        return {_string(k, f"{field} key"): _params(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        if not value or len(value) > MAX_PARAMS_LIST:
            raise InvalidEvent(f"{field} must be a list of 1 to {MAX_PARAMS_LIST} items")
        return [_params(item, f"{field}[{n}]") for n, item in enumerate(value)]
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise InvalidEvent(f"{field} is longer than {MAX_STRING} characters")
        _encodable(value, field)
        return value
    raise InvalidEvent(f"{field} must be a string, an object or a list, got {type(value).__name__}")


def _field_kind(attribute: attrs.Attribute[Any]) -> str:
    """How a flat field is read and written: at, params, fills, dec, optdec (a decimal or null), optstr (a string or
    null) or str."""
    name = attribute.name
    if name in ("at", "params", "fills"):
        return name
    kind = str(attribute.type)
    return ("dec" if attribute.type in (Decimal, "Decimal") else "optdec" if kind == _OPTIONAL_DECIMAL
            else "optstr" if kind == _OPTIONAL_STR else "str")


def _reader(attribute: attrs.Attribute[Any], engine_made: bool) -> Callable[[object], Any]:
    """One field's check, built once per event type: the raw JSON value to the field's value, or a refusal naming the
    field. An engine-made event's figures and id are held to the engine's own limits.

    Built ahead instead of asking each field's type on every line (``str`` of an attrs type, a field list and two key
    sets per event: about a fifth of the strict decoder's time, 1.48 → 1.2 s over the benchmark history's 100,000
    lines)."""
    name, kind = attribute.name, _field_kind(attribute)
    if kind == "at":
        return parse_time
    if kind == "params":
        def params(raw: object) -> Any:
            if not isinstance(raw, dict):
                raise InvalidEvent(f"params must be an object, got {type(raw).__name__}")
            return _params(raw)
        return params
    if kind == "fills":
        return _checked_fills
    if kind in ("dec", "optdec"):
        digits = ENGINE_MAX_DIGITS if engine_made else MAX_DIGITS
        if kind == "dec":
            return lambda raw: parse_decimal(raw, name, digits)
        return lambda raw: None if raw is None else parse_decimal(raw, name, digits)
    limit = ENGINE_MAX_ID if engine_made and name == "id" else MAX_STRING
    allowed = attribute.metadata.get(CHOICES)  # a side's, a margin mode's: the words its event declares

    def text(raw: object) -> str | None:
        if raw is None and kind == "optstr":
            return None
        value = _string(raw, name, limit)
        if allowed is not None and value not in allowed:
            raise InvalidEvent(f"{name} must be {' or '.join(map(repr, allowed))}, got {value!r}")
        return value
    return text


_Readers = tuple[tuple[str, Callable[[object], Any]], ...]
"""(field name, its reader) for each field of a type, in the order its refusals name them."""


def _readers(fields: list[attrs.Attribute[Any]], engine_made: bool) -> _Readers:
    return tuple((attribute.name, _reader(attribute, engine_made)) for attribute in fields)


_FILL_DECIMALS = ("size", "entry_price", "qty", "haircut")
_FILL_FIELDS = {a.name: a for a in attrs.fields(DeleverageFill)}
_FILL_READERS = _readers(list(_FILL_FIELDS.values()), engine_made=True)
MAX_FILLS = 1_000_000
"""Most fills one auto-deleveraging may record (every opposite position of a market, at most)."""


def _stored_fill(fill: dict[str, str]) -> DeleverageFill:
    values: dict[str, Any] = {k: Decimal(v) if k in _FILL_DECIMALS else v for k, v in fill.items()}
    return DeleverageFill(**values)


def _fills_json(fills: tuple[DeleverageFill, ...]) -> list[dict[str, str]]:
    """Fills as the payload and the outputs hold them: objects of strings, decimals exact."""
    return [{name: to_str(getattr(fill, name)) if name in _FILL_DECIMALS else getattr(fill, name)
             for name in _FILL_FIELDS} for fill in fills]


def _checked_fills(raw: object) -> tuple[DeleverageFill, ...]:
    """An auto-deleveraging's fills, each field held to the engine's own limits (the audit re-reads them)."""
    if not isinstance(raw, list) or len(raw) > MAX_FILLS:
        raise InvalidEvent(f"fills must be a list of at most {MAX_FILLS} objects")
    fills = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != set(_FILL_FIELDS):
            raise InvalidEvent(f"fills[{n}] must be an object with exactly {', '.join(_FILL_FIELDS)}")
        try:
            values = {name: read(item[name]) for name, read in _FILL_READERS}
            fills.append(DeleverageFill(**values))
        except (InvalidEvent, TypeError, ValueError) as exc:
            raise InvalidEvent(f"fills[{n}]: {exc}") from None
    return tuple(fills)


def _decoder(kind: str, cls: type[Event]) -> tuple[type[Event], frozenset[str], _Readers]:
    fields = flat_fields(cls)
    return cls, frozenset(a.name for a in fields) | {"type"}, _readers(fields, engine_made=kind in ENGINE_TYPES)


_DECODERS = {kind: _decoder(kind, cls) for kind, cls in EVENT_TYPES.items()}
"""Each type's class, the keys its object has (its fields and ``type``), and its fields' readers in the order the
refusals name them."""


def field_readers(kind: str) -> tuple[type[Event], tuple[tuple[str, str, Callable[[object], Any]], ...]]:
    """The class of ``kind`` and, for each of its flat fields in the order its refusals name them, (name, kind as
    ``_field_kind`` gives it, its reader): what a faster reader of the same lines must apply to each raw value
    (``ledger.domain.fast_lines``)."""
    cls, _, readers = _DECODERS[kind]
    kinds = {attribute.name: _field_kind(attribute) for attribute in flat_fields(cls)}
    return cls, tuple((name, kinds[name], read) for name, read in readers)


def _refuse_fields(kind: str, obj: dict[str, Any]) -> NoReturn:
    """The object's keys are not exactly the type's fields and ``type`` (which it has): name the unknown ones first,
    else the missing ones, in the fields' order (one or the other is there, or the keys would be the type's)."""
    _, keys, readers = _DECODERS[kind]
    unknown = sorted(set(obj) - keys)
    if unknown:
        raise InvalidEvent(f"unknown field(s) for {kind}: {', '.join(repr(u[:40]) for u in unknown)}")
    missing = [name for name, _ in readers if name not in obj]
    raise InvalidEvent(f"missing field(s) for {kind}: {', '.join(missing)}")


def decode_object(obj: object, *, allowed_types: frozenset[str] = INGESTED_TYPES) -> Event:
    """Build an event from a decoded JSON object, refusing anything off-contract."""
    if not isinstance(obj, dict):
        raise InvalidEvent(f"each line must be a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise InvalidEvent(f"unknown event type {str(kind)[:60]!r}")
    if kind not in allowed_types:
        raise InvalidEvent(f"{kind} events are made by the liquidation engine and cannot be ingested")
    cls, keys, readers = _DECODERS[kind]
    if obj.keys() != keys:
        _refuse_fields(kind, obj)
    values = {name: read(obj[name]) for name, read in readers}
    return from_flat(cls, values)


def decode_line(line: bytes | str) -> Event:
    """One JSON Lines record to an ingested event."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            raise InvalidEvent(f"line is longer than {MAX_LINE_BYTES} bytes")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"not valid UTF-8 (byte {exc.start})") from None
    return decode_object(_loads(line))


def to_json_object(event: Event) -> dict[str, Any]:
    """The event as a JSON-ready dict of strings (``type`` included)."""
    out: dict[str, Any] = {"type": event.TYPE}
    for attribute in flat_fields(type(event)):
        value = getattr(event, attribute.name)
        if isinstance(value, Decimal):
            out[attribute.name] = to_str(value)
        elif isinstance(value, datetime):
            out[attribute.name] = format_time(value)
        elif attribute.name == "params":
            out[attribute.name] = thaw(value)
        elif attribute.name == "fills":
            out[attribute.name] = _fills_json(value)
        else:
            out[attribute.name] = value
    return out


def _body_spec(cls: type[Event]) -> tuple[tuple[str, str], ...]:
    """(field, kind) of an event's body in canonical (sorted) order; kind is dec, optdec (a decimal or null), str,
    optstr (a string or null), params or fills (``_field_kind``)."""
    spec = [(attribute.name, _field_kind(attribute)) for attribute in flat_fields(cls)
            if attribute.name not in ("id", "at")]
    return tuple(sorted(spec))


_SPECS = {kind: _body_spec(cls) for kind, cls in EVENT_TYPES.items()}


def encode_payload(event: Event) -> str:
    """The stored payload: the canonical JSON of the event's body (no type, id, at).

    Built field by field in sorted order; the text is exactly
    ``canonical_json`` of the body, only faster (it is on the append path).
    """
    parts = []
    for name, kind in _SPECS[event.TYPE]:
        value = getattr(event, name)
        if kind == "dec" or (kind == "optdec" and value is not None):
            parts.append(f'"{name}":"{to_str(value)}"')
        elif kind == "str" or (kind == "optstr" and value is not None):
            parts.append(f'"{name}":{_encode_string(value)}')
        elif kind in ("optstr", "optdec"):
            parts.append(f'"{name}":null')
        elif kind == "fills":
            parts.append(f'"{name}":{canonical_json(_fills_json(value))}')
        else:
            parts.append(f'"{name}":{canonical_json(thaw(value))}')
    return "{" + ",".join(parts) + "}"


def decode_stored(kind: str, schema_version: int, event_id: str, at: str, payload: str, *, checked: bool = False) -> Event:
    """Rebuild a stored event, upcasting older payload shapes first.

    Stored payloads were validated when appended and are covered by the hash
    chain, so replay trusts their shape (fast path); ``checked`` re-applies
    every ingest check, as the audit does to prove the log.

    The fast path parses with orjson, as the replay's fast fold does (the same
    objects from the canonical JSON a payload is stored as; a third of the
    standard library's time); the audit's ``checked`` path with the standard
    library, as it always has.
    """
    body = json.loads(payload) if checked else orjson.loads(payload)
    version = schema_version
    while version < SCHEMA_VERSIONS[kind]:
        body = UPCASTERS[(kind, version)](body)
        version += 1
    if checked:
        body.update(type=kind, id=event_id, at=at)
        return decode_object(body, allowed_types=frozenset(EVENT_TYPES))
    values: dict[str, Any] = {"id": event_id, "at": stored_time(at)}
    for name, field_kind in _SPECS[kind]:
        value = body[name]
        if field_kind == "fills":
            value = tuple(_stored_fill(fill) for fill in value)
        elif field_kind == "dec" or (field_kind == "optdec" and value is not None):
            value = Decimal(value)
        values[name] = value
    return from_flat(EVENT_TYPES[kind], values)


def decode_params_text(text: str) -> dict[str, Any]:
    """Rule params given as JSON text (a what-if file), held to the same rules as ingested params."""
    return decode_params(_loads(text))


def decode_params(value: object, field: str = "params") -> dict[str, Any]:
    """Params already parsed from JSON (a policy's, inside a sweep grid), held to the same rules as ingested params."""
    if not isinstance(value, dict):
        raise InvalidEvent(f"{field} must be a JSON object")
    params: dict[str, Any] = _params(value, field)
    return params
