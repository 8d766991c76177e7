"""Records of the ingest format to start from: a contract trade, and a record of any type with a plain value in every
field (what the codec's tests and its fast path's change one field at a time)."""

from __future__ import annotations

from ledger.domain.events import EVENT_TYPES, flat_fields

__all__ = ["GOOD_TRADE", "example_record"]

GOOD_TRADE = {
    "type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice",
    "market": "BTC-PERP", "side": "buy", "qty": "0.5", "price": "60000", "fee": "-3",
}


def example_record(kind: str) -> dict:
    """A record of ``kind`` with every field set to a plain value its type accepts (read off the field's type here,
    not from the codec's own tables)."""
    record: dict = {"type": kind}
    for attribute in flat_fields(EVENT_TYPES[kind]):
        name, declared = attribute.name, str(attribute.type)
        record[name] = ("2024-08-05T00:00:00Z" if name == "at" else {"a": "1"} if name == "params"
                        else [] if name == "fills" else "1" if declared == "Decimal"
                        else None if declared.endswith("| None") else {"side": "buy", "mode": "cross"}.get(name, "x"))
    return record


