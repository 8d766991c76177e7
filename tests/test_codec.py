"""The ingest format: what the codec accepts exactly, and what it refuses by name."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger import InvalidEvent, Trade
from ledger.domain.codec import canonical_json, decode_line, decode_object, decode_stored, encode_payload, to_json_object
from ledger.domain.events import ENGINE_TYPES, EVENT_TYPES, flat_fields
from ledger.domain.money import MAX_DIGITS, MAX_INTEGER_DIGITS, MAX_PLACES, parse_decimal
from tests.support.records import GOOD_TRADE, example_record


def line(**changes) -> str:
    record = {**GOOD_TRADE, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def test_a_contract_trade_decodes_to_decimals_and_utc():
    """A trade as the contract writes it decodes to an event with Decimal figures and a UTC time."""
    event = decode_line(line())
    assert isinstance(event, Trade)
    assert event.qty == Decimal("0.5") and isinstance(event.qty, Decimal)
    assert event.fee == Decimal("-3")
    assert event.at.utcoffset().total_seconds() == 0


def test_encoding_round_trips_through_the_stored_payload():
    """An event encoded to its stored payload decodes back to the same event."""
    event = decode_line(line())
    again = decode_stored("trade", 1, event.id, to_json_object(event)["at"], encode_payload(event))
    assert again == event


def test_canonical_json_is_sorted_and_compact():
    """Canonical JSON sorts the keys at every level and has no whitespace."""
    assert canonical_json({"b": "1", "a": {"d": "2", "c": "3"}}) == '{"a":{"c":"3","d":"2"},"b":"1"}'


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (line(qty="1e3"), "not a plain decimal"),
        (line(qty="NaN"), "not a plain decimal"),
        (line(price="Infinity"), "not a plain decimal"),
        (line(qty=""), "not a plain decimal"),
        (line(qty=" 1"), "not a plain decimal"),
        (line(qty="+1"), "not a plain decimal"),
        (line(qty="1."), "not a plain decimal"),
        (line(qty="1" * 31), "significant digits"),
        (line().replace('"0.5"', "0.5"), "JSON number 0.5"),
        (line().replace('"60000"', "60000"), "JSON number 60000"),
        (line().replace('"0.5"', "NaN"), "JSON constant NaN"),
        (line(qty=None), "must be a decimal string"),
        (line(extra="x"), "unknown field"),
        (line(fee=...), "missing field(s) for trade: fee"),
        (line(side="long"), "side must be 'buy' or 'sell'"),
        (line(at="2024-08-05T00:02:00"), "no time zone"),
        (line(at="2024-08-05T02:02:00+02:00"), "not UTC"),
        (line(at="yesterday"), "not an ISO-8601 time"),
        (line(account=""), "must not be empty"),
        (line(account="a" * 201), "longer than 200"),
        (line(account="a\u0000b"), "control characters"),
        (line(account=True), "must be a string"),
        (line(account=7), "JSON number 7"),
        (line(type="liquidation"), "made by the liquidation engine"),
        (line(type="bankruptcy"), "made by the liquidation engine"),
        (line(type="teleport"), "unknown event type"),
        ('{"type": "trade", "type": "mark"}', "duplicate key"),
        ('["a"]', "must be a JSON object"),
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
        ("\ufeff" + line(), "not valid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) at column 1"),
        (line() + " x", "not valid JSON: Extra data at column"),
        ('{"type": "rules_activated", "id": "r", "at": "2024-08-05T00:00:00Z", "version": "v", "params": "x"}',
         "params must be an object"),
        ('{"type": "rules_activated", "id": "r", "at": "2024-08-05T00:00:00Z", "version": "v", "params": {"a": 1}}',
         "JSON number 1"),
    ],
)
def test_off_contract_records_are_refused_with_a_reason(raw, fragment):
    """A record off the ingest contract is refused with a reason naming what is wrong (a figure, field, time, type or JSON)."""
    with pytest.raises(InvalidEvent) as caught:
        decode_line(raw)
    assert fragment in str(caught.value)


def test_invalid_utf8_is_refused_naming_the_byte():
    """A line whose bytes are not valid UTF-8 is refused, saying so."""
    with pytest.raises(InvalidEvent, match="not valid UTF-8"):
        decode_line(b'{"type": "mark", "id": "\xff"}')


def test_events_refuse_floats_at_construction():
    """An event refuses a float figure at construction: figures are Decimals."""
    with pytest.raises(TypeError):
        Trade(id="t", at=decode_line(line()).at, account="a", market="m", side="buy", qty=0.5,
              price=Decimal(1), fee=Decimal(0))


ANY_TYPE = frozenset(EVENT_TYPES)


def _refusal(record: dict) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_object(record, allowed_types=ANY_TYPE)
    return str(caught.value)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_field_of_every_type_is_held_to_its_own_check(kind):
    """The decoder builds each type's field checks once, ahead (``codec._DECODERS``): every field of every type is
    still read by the check its type calls for, and a wrong value is refused naming that very field."""
    record = example_record(kind)
    event = decode_object(record, allowed_types=ANY_TYPE)
    assert {**to_json_object(event), "at": record["at"]} == record
    engine_made = kind in ENGINE_TYPES
    for attribute in flat_fields(EVENT_TYPES[kind]):
        name, declared = attribute.name, str(attribute.type)
        bad = {**record}
        if name == "at":
            bad[name] = "yesterday"
            assert _refusal(bad) == "at is not an ISO-8601 time: 'yesterday'"
        elif name in ("params", "fills"):
            bad[name] = "x"
            assert _refusal(bad).startswith(f"{name} must be")
        elif declared.startswith("Decimal"):
            bad[name] = "1e3"
            assert _refusal(bad) == f"{name} is not a plain decimal string: '1e3'"
            bad[name] = "1" * 31  # an engine-made figure may carry up to 120 digits, an input 30
            if engine_made:
                assert getattr(decode_object(bad, allowed_types=ANY_TYPE), name) == Decimal("1" * 31)
            else:
                assert _refusal(bad) == f"{name} has 31 significant digits, at most 30 are allowed"
        else:
            bad[name] = 7
            assert _refusal(bad) == f"{name} must be a string, got int"
            bad[name] = "a" * 201  # an engine-made id may be longer: it joins three names
            if engine_made and name == "id":
                assert decode_object(bad, allowed_types=ANY_TYPE).id == "a" * 201
            else:
                assert _refusal(bad) == f"{name} is longer than 200 characters"
            if name in ("side", "mode"):
                bad[name] = "long"
                assert _refusal(bad).startswith(f"{name} must be '")
        assert _refusal({k: v for k, v in record.items() if k != name}) == f"missing field(s) for {kind}: {name}"
        if not declared.endswith("| None"):
            assert _refusal({**record, name: None}).startswith(f"{name} "), "null is no value of a required field"
    assert _refusal({**record, "zz": "1"}) == f"unknown field(s) for {kind}: 'zz'"


def test_a_record_with_unknown_and_missing_fields_names_the_unknown_ones_first():
    """Unknown fields are named before missing ones, sorted, each cut at 40 characters; missing ones alone are named
    in the type's field order."""
    record = {k: v for k, v in json.loads(line()).items() if k != "fee"} | {"zz": "1", "y" * 50: "1"}
    assert _refusal(record) == f"unknown field(s) for trade: {'y' * 40!r}, 'zz'"
    record = {k: v for k, v in json.loads(line()).items() if k not in ("qty", "fee")}
    assert _refusal(record) == "missing field(s) for trade: qty, fee"


@pytest.mark.parametrize(("record", "message"), [
    (json.loads(line(side="long")), "side must be 'buy' or 'sell', got 'long'"),
    ({"type": "margin_mode", "id": "m", "at": "2024-08-05T00:00:00Z", "account": "a", "market": "m", "mode": "x"},
     "mode must be 'cross' or 'isolated', got 'x'"),
    (json.loads(line(account="a\x7f")), "account contains control characters"),
    (json.loads(line(account="\x7f")), "account contains control characters"),
    (json.loads(line(account="a\x1fb")), "account contains control characters"),
    (json.loads(line(account="a\ud800")), "account contains a lone surrogate (not Unicode text)"),
])
def test_a_refusal_reads_exactly_as_the_contract_prints_it(record, message):
    """The whole text of refusals the fast paths sit beside (a name of printable ASCII; the choices of a field)."""
    assert _refusal(record) == message


def _fill(**changes: str) -> dict:
    return {"account": "a", "margin": "cross", "side": "buy", "size": "1", "entry_price": "1", "qty": "1",
            "haircut": "0", "basis": "1", "rank": "1", **changes}


def test_an_auto_deleveraging_s_fills_are_held_to_the_engine_s_limits_and_choices():
    """A fill's figures may carry the engine's 120 digits (the audit re-reads what the engine wrote), and a fill's
    margin is cross or isolated, refused by name like a side."""
    record = example_record("auto_deleverage")
    fills = decode_object({**record, "fills": [_fill(size="1" * 31)]}, allowed_types=ANY_TYPE).fills
    assert fills[0].size == Decimal("1" * 31)
    assert _refusal({**record, "fills": [_fill(size="1" * 121)]}) == (
        "fills[0]: size has 121 significant digits, at most 120 are allowed")
    assert _refusal({**record, "fills": [_fill(margin="long")]}) == (
        "fills[0]: margin must be 'cross' or 'isolated', got 'long'")


def _figures():
    """Plain decimal figures of every length up to 52 characters: 0 to 25 digits before the point (or a lone 0) and
    0 to 25 after it, signed and not, the fraction all nines, all zeros, or a one after zeros."""
    for before in range(26):
        whole = "9" * before or "0"
        for after in range(26):
            fractions = {"9" * after, "0" * after, "0" * (after - 1) + "1"} if after else {""}
            for fraction in fractions:
                for sign in ("", "-"):
                    yield sign + whole + ("." + fraction if fraction else "")


@pytest.mark.parametrize("max_digits", [10, MAX_DIGITS, 120])  # 10: shorter than the short cut's own length
def test_a_figure_is_held_to_its_bounds_at_every_length(max_digits):
    """``parse_decimal`` skips counting digits for a figure too short to break a bound: at every length, it accepts
    exactly the figures within the bounds, counted here from the ``Decimal`` itself."""
    for text in _figures():
        value = Decimal(text)
        _, digits, exponent = value.as_tuple()
        significant = 0 if value == 0 else len(digits)
        places = max(0, -int(exponent))
        before_point = value.adjusted() + 1 if value.copy_abs() >= 1 else 0  # exact (abs() rounds to 28 digits)
        within = significant <= max_digits and (
            max_digits != MAX_DIGITS or (places <= MAX_PLACES and before_point <= MAX_INTEGER_DIGITS))
        try:
            parsed = parse_decimal(text, "qty", max_digits)
        except InvalidEvent:
            assert not within, text
        else:
            assert within and parsed == value and str(parsed) == str(value), text
