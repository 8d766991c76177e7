"""Names and ids that cannot look alike: Unicode NFC, and no invisible or look-alike characters.

``alice`` and ``al\\u200bice`` (a zero-width space inside) print the same but
would be two accounts; so would ``é`` written as one code point or as ``e``
plus a combining accent. Every id and name of an ingested event (``id``,
``account``, ``market``, ``asset``, ``settle_asset``, ``version``) is
normalised to NFC, and refused when it holds a format character (zero-width
and bidirectional controls, Unicode category Cf), a control, surrogate,
private-use or unassigned code point, a line or paragraph separator, or a
space other than U+0020.

Applied by the append pipeline to what is ingested, not by the codec: a log
stored before this rule replays, and audits, exactly as it was recorded.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import attrs

from ledger.domain.events import Event
from ledger.errors import InvalidEvent

__all__ = ["NAME_FIELDS", "normalised"]

NAME_FIELDS = ("id", "account", "market", "asset", "settle_asset", "version")
_NAMES_OF: dict[type, tuple[str, ...]] = {}
"""Each event class's fields among ``NAME_FIELDS``, in that order (asking an event for a field it lacks raised inside
``getattr`` at every event)."""
_REFUSED = {"Cc": "a control character", "Cf": "an invisible format character", "Cs": "a surrogate",
            "Co": "a private-use character", "Cn": "an unassigned code point", "Zl": "a line separator",
            "Zp": "a paragraph separator"}


def _checked(value: str, field: str) -> str:
    text = unicodedata.normalize("NFC", value)
    for char in text:
        category = unicodedata.category(char)
        what = _REFUSED.get(category) or ("a space other than U+0020" if category == "Zs" and char != " " else None)
        if what is not None:
            raise InvalidEvent(f"{field} contains {what} (U+{ord(char):04X}): names and ids must not look like others")
    return text


def normalised(event: Event) -> Event:
    """``event`` with its ids and names in NFC; ``InvalidEvent`` naming the field for a refused character."""
    changes: dict[str, Any] = {}
    fields = _NAMES_OF.get(type(event))
    if fields is None:
        cls = type(event)  # its attrs fields, and properties of those names (a liquidation's market)
        fields = _NAMES_OF[cls] = tuple(f for f in NAME_FIELDS if f in attrs.fields_dict(cls) or hasattr(cls, f))
    for field in fields:
        value = getattr(event, field)
        if isinstance(value, str) and not (value.isascii() and value.isprintable()):  # plain ASCII needs no look
            checked = _checked(value, field)
            if checked != value:
                changes[field] = checked
    return attrs.evolve(event, **changes) if changes else event
