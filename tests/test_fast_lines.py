"""The ingest's fast path for a line (``ledger.domain.fast_lines``) against the reference decoder, line for line.

For any line, valid or broken, the fast path gives what ``codec.decode_line``
gives: the same event, or the same refusal, word for word. And it does read
the usual lines itself (a fast path that always fell back would pass the
first test and save nothing).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger import InvalidEvent
from ledger.domain import fast_lines
from ledger.domain.codec import MAX_LINE_BYTES, decode_line
from ledger.domain.events import EVENT_TYPES, INGESTED_TYPES, flat_fields
from ledger.domain.fast_lines import FAST_TYPES, decode_line_fast
from tests.support.records import GOOD_TRADE, example_record

SHARED = Path(__file__).resolve().parents[2] / "shared"


def outcome(decode: Any, line: bytes) -> tuple[str, Any]:
    """What a decoder makes of ``line``: the event, or the refusal's whole text, or another exception's type."""
    try:
        return "event", decode(line)
    except InvalidEvent as exc:
        return "refused", str(exc)
    except Exception as exc:  # the same unexpected exception counts as agreeing
        return "raised", type(exc).__name__


def agree(line: bytes) -> tuple[str, Any]:
    fast, reference = outcome(decode_line_fast, line), outcome(decode_line, line)
    assert fast == reference, line
    if fast[0] == "event":  # equal events of the same class, field for field (a Decimal's exponent included)
        assert type(fast[1]) is type(reference[1])
        for attribute in flat_fields(type(fast[1])):
            mine, theirs = getattr(fast[1], attribute.name), getattr(reference[1], attribute.name)
            assert repr(mine) == repr(theirs), attribute.name
    return fast


def _valid(kind: str) -> dict[str, Any]:
    """A valid record of ``kind`` with realistic values (a trade's figures with places, a real time)."""
    record = example_record(kind) | {"id": f"{kind}-1", "at": "2024-08-05T00:02:00.123456Z"}
    for attribute in flat_fields(EVENT_TYPES[kind]):
        if str(attribute.type) == "Decimal":
            record[attribute.name] = "0.015" if attribute.name == "rate" else "60000.25"
    return record


FAST = sorted(FAST_TYPES)


def test_the_fast_path_answers_the_flat_ingested_types_and_leaves_the_others():
    """Every ingested type without an object inside is read fast; those with one (params) and the engine's are not."""
    assert set(FAST_TYPES) <= INGESTED_TYPES
    for kind in sorted(INGESTED_TYPES):
        has_object = any(attribute.name in ("params", "fills") for attribute in flat_fields(EVENT_TYPES[kind]))
        assert (kind in FAST_TYPES) == (not has_object), kind


@pytest.mark.parametrize("kind", FAST)
def test_a_usual_line_is_read_without_the_reference(kind, monkeypatch):
    """A valid line of each fast type is read by msgspec and the readers alone: with the reference decoder made to
    fail, it still decodes, to the event the reference gives."""
    line = json.dumps(_valid(kind)).encode()
    expected = decode_line(line)

    def reference_not_asked(_: bytes) -> Any:
        raise AssertionError("the reference decoder was asked")
    monkeypatch.setattr(fast_lines, "decode_line", reference_not_asked)
    assert decode_line_fast(line) == expected


@pytest.mark.parametrize(("line", "why"), [
    (b'{"type": "mark", "id": "m", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "price": "1", "price": "2"}',
     "a repeated key, which msgspec takes (the last wins)"),
    (b'{"type": "mark", "type": "mark", "id": "m", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "price": "1"}',
     "the type twice"),
    (b'{"type": "mark", "id": "m\\u0041", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "price": "1"}',
     "an escape"),
    (b'{"type": "mark", "id": "m", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "price": 1}', "a number"),
    (b'{"type": "mark", "id": "m", "at": "yesterday", "market": "BTC-PERP", "price": "1"}', "a reader refuses"),
    (b'{"type": "rules_activated", "id": "r", "at": "2024-08-05T00:00:00Z", "version": "v", "params": {}}',
     "an object inside"),
])
def test_what_the_fast_path_cannot_vouch_for_goes_to_the_reference(line, why, monkeypatch):
    """Each line it must not answer alone reaches the reference decoder, once."""
    asked: list[bytes] = []

    def reference(text: bytes) -> Any:
        asked.append(text)
        return decode_line(text)
    monkeypatch.setattr(fast_lines, "decode_line", reference)
    outcome(decode_line_fast, line)
    assert asked == [line], why


@pytest.mark.parametrize("kind", FAST)
def test_every_field_s_refusal_reads_as_the_reference_s(kind):
    """A wrong value in each field of each fast type (a number, null, an empty string, a bad figure or time, a
    control character, escaped or raw, a word off the list) is refused exactly as the reference refuses it."""
    record = _valid(kind)
    agree(json.dumps(record).encode())
    for name in record:
        for value in (7, None, True, "", " ", "1e3", "yesterday", "a\x00b", "a\x7f", "long", "é", "a" * 201,
                      "1" * 31, "2024-08-05T02:00:00+02:00", [], {}):
            agree(json.dumps({**record, name: value}).encode())
            agree(json.dumps({**record, name: value}, ensure_ascii=False).encode())
        for raw in (b"\x00", b"\t", b"\x1f", b"\x7f", b"\xc2\x85"):  # unescaped: json.dumps would escape them
            agree(json.dumps({**record, name: "a@b"}).encode().replace(b"@", raw))
        agree(json.dumps({k: v for k, v in record.items() if k != name}).encode())


# -- generated lines -------------------------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.sampled_from(["1", "-0.50", "60000.25", "0", "1e3", "NaN", "", " x", "buy", "sell", "cross", "isolated",
                     "BTC-PERP", "USD", "2024-08-05T00:02:00Z", "2024-08-05T00:02:00+00:00", "2024-08-05T00:02:00",
                     "acct\u00e9", "a\u2028b", "a\x7fb", "\ud800"]),
    st.text(max_size=12), st.integers(-5, 5), st.none(), st.booleans(), st.floats(allow_nan=True),
    st.just([]), st.just({}), st.just({"a": "1"}),
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """A record of a fast type (or, at times, of another type), changed in one to three ways, written out as JSON with
    or without ASCII escapes, sometimes with its text broken afterwards."""
    kind = draw(st.sampled_from([*FAST, "rules_activated", "liquidation", "teleport"]))
    record = _valid(kind) if kind in EVENT_TYPES else {"type": kind, "id": "x"}
    pairs = list(record.items())
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["set", "drop", "add", "repeat", "retype"]))
        at = draw(st.integers(0, len(pairs) - 1)) if pairs else 0
        if change == "set" and pairs:
            pairs[at] = (pairs[at][0], draw(_VALUES))
        elif change == "drop" and pairs:
            pairs.pop(at)
        elif change == "add":
            pairs.insert(at, (draw(st.sampled_from(["zz", "x" * 45, "Price"])), draw(_VALUES)))
        elif change == "repeat" and pairs:
            pairs.insert(draw(st.integers(0, len(pairs))), (pairs[at][0], draw(st.one_of(st.just(pairs[at][1]), _VALUES))))
        elif change == "retype":
            pairs.insert(0, ("type", draw(st.sampled_from(sorted(EVENT_TYPES)))))
    body = ", ".join(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=draw(st.booleans()))}"
                     for key, value in pairs)
    text = "{" + body + "}"
    line = text.encode("utf-8", "surrogatepass")
    edit = draw(st.sampled_from(["none"] * 6 + ["cut", "tail", "bom", "space", "byte"]))
    if edit == "cut":
        line = line[:draw(st.integers(0, len(line)))]
    elif edit == "tail":
        line += draw(st.sampled_from([b" ", b" x", b"{}", b"\t", b"\x00"]))
    elif edit == "bom":
        line = "\ufeff".encode() + line
    elif edit == "space":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.sampled_from([b" ", b"\t", b"\x0c", b"\xc2\xa0", b"\n"])) + line[at:]
    elif edit == "byte":
        at = draw(st.integers(0, max(len(line) - 1, 0)))
        line = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1:]
    return line


@settings(max_examples=1500, deadline=None)
@given(lines())
@example(json.dumps(GOOD_TRADE).encode())
@example(b'{"type": "trade", "type": "mark"}')
@example(b'{"type": "mark", "id": "m", "at": "2024-08-05T00:00:00Z", "market": "m", "price": null, "price": "1"}')
@example(b'{"id": ' + b"[" * 5000 + b"]" * 5000 + b', "type": "mark"}')  # msgspec looks for the tag recursively
@example(b'{"zz": ' + b'{"a": ' * 3000 + b'"x"' + b"}" * 3000 + b"}")
@example(b'{"type": ' + b"[" * 5000 + b"]" * 5000 + b"}")
def test_a_generated_line_is_read_as_the_reference_reads_it(line):
    """Valid and broken lines alike: the same event, or the same refusal, word for word."""
    agree(line)


def test_a_line_at_the_length_limit_and_past_it():
    """A valid line padded to the limit is read (by the fast path, whose own length check is the reference's); one
    byte more, and the fast path leaves it to the reference, which refuses it by its length."""
    base = json.dumps(GOOD_TRADE).encode()
    exact = base[:-1] + b" " * (MAX_LINE_BYTES - len(base)) + b"}"
    assert len(exact) == MAX_LINE_BYTES
    assert agree(exact)[0] == "event"
    assert agree(exact[:-1] + b" }") == ("refused", f"line is longer than {MAX_LINE_BYTES} bytes")


def test_anything_but_bytes_is_read_by_the_reference():
    """Text and byte arrays (no ingest passes them) go the reference's way, which reads text and refuses the rest."""
    line = json.dumps(GOOD_TRADE)
    assert decode_line_fast(line) == decode_line(line)  # type: ignore[arg-type]  # text, on purpose
    assert outcome(decode_line_fast, bytearray(line.encode())) == outcome(decode_line, bytearray(line.encode()))


def test_a_deeply_nested_value_is_refused_as_the_reference_refuses_it():
    """A value nested deeper than the interpreter's stack ahead of the type (msgspec looks for the tag recursively)
    is refused with the reference's words, not an internal error."""
    line = b'{"id": ' + b"[" * 5000 + b"]" * 5000 + b', "type": "deposit"}'
    assert agree(line) == ("refused", "JSON nested too deeply")


@pytest.mark.skipif(not (SHARED / "vectors").is_dir(), reason="../shared is not beside the project")
def test_every_input_line_of_the_shared_vectors_and_data_reads_the_same():
    """Each JSON Lines file under ../shared (worked examples, real crash-day histories), line by line."""
    read = 0
    for path in sorted(SHARED.rglob("*.jsonl")):
        for raw in path.read_bytes().splitlines():
            if raw.strip():
                agree(raw)
                read += 1
    assert read > 0


def test_the_figures_keep_their_written_form():
    """A figure keeps its exponent as written (``60000.250`` is not ``60000.25``): the stored payload writes it back."""
    line = json.dumps(_valid("trade") | {"price": "60000.250"}).encode()
    assert decode_line_fast(line).price.as_tuple() == Decimal("60000.250").as_tuple()
