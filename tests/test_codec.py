"""The ingest format: what the codec accepts exactly, and what it refuses by name."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger import InvalidEvent, Trade
from ledger.domain.codec import canonical_json, decode_line, decode_stored, encode_payload, to_json_object

GOOD_TRADE = {
    "type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice",
    "market": "BTC-PERP", "side": "buy", "qty": "0.5", "price": "60000", "fee": "-3",
}


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
