"""What a request asks for, read from its URL, and the URLs a page links to (each keeping the page's point).

Every page takes ``as_of`` (business time) and ``known_at`` (recorded time) as
query parameters, read as the CLI reads ``--as-of``: ISO-8601 with ``Z`` or an
offset (converted to UTC), or a plain date (midnight UTC); a time without an
offset is refused (which zone it meant cannot be guessed). Links are written
with the canonical time text, so a URL pasted into a ticket shows the same
figures tomorrow. ``format=json`` or ``format=csv`` (with ``table=NAME`` for a
page of several tables, ``safe=1`` for a spreadsheet) downloads what the page
shows, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from attrs import frozen

from ledger.domain.money import parse_decimal
from ledger.domain.timefmt import format_time, parse_time
from ledger.errors import InvalidEvent, LedgerError

__all__ = ["BadRequest", "View", "parse_when", "parse_page", "parse_share", "path_of", "FORMATS"]

FORMATS = ("json", "csv")
MAX_PER_PAGE = 500


class BadRequest(LedgerError, ValueError):
    """A query parameter the console cannot read: a 400 page naming it."""


def parse_when(text: str | None, name: str) -> datetime | None:
    """A time parameter, read as the CLI reads a time option; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(text, name)
        except InvalidEvent as exc:
            raise BadRequest(f"{name}: {exc.reason}") from None
    if len(text) == 10:  # a plain date: midnight UTC
        return parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is None:
        raise BadRequest(f"{name}: {text!r} has no offset: add Z (UTC) or one such as +02:00")
    return parsed.astimezone(UTC)


def parse_page(text: str | None, name: str, default: int, most: int | None = None) -> int:
    """A positive whole number parameter (a page, a page size), at most ``most``."""
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise BadRequest(f"{name}: {text!r} is not a whole number from 1")
    return min(int(text), most) if most is not None else int(text)


def parse_share(text: str | None, name: str) -> Decimal | None:
    """A non-negative decimal parameter (a percentage), exact; None when empty."""
    if text is None or not text.strip():
        return None
    try:
        value = parse_decimal(text.strip(), name)
    except InvalidEvent as exc:
        raise BadRequest(f"{name}: {exc.reason}") from None
    if value < 0:
        raise BadRequest(f"{name}: {text!r} is negative")
    return value


def path_of(*parts: str) -> str:
    """A path of the console with each part percent-encoded whole (an account named ``a/b?c`` is one segment)."""
    return "/" + "/".join(quote(part, safe="") for part in parts)


@frozen
class View:
    """A request's point and download choice, and how to link on from it."""

    path: str
    query: Mapping[str, str]
    as_of: datetime | None
    known_at: datetime | None
    format: str | None
    table: str | None
    safe: bool

    @classmethod
    def of(cls, path: str, query: Mapping[str, str]) -> View:
        fmt = (query.get("format") or "").strip().lower() or None
        if fmt is not None and fmt not in FORMATS:
            raise BadRequest(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        return cls(path, dict(query), parse_when(query.get("as_of"), "as_of"), parse_when(query.get("known_at"), "known_at"),
                   fmt, query.get("table") or None, query.get("safe") in ("1", "true", "yes"))

    @property
    def point_query(self) -> dict[str, str]:
        """The point as canonical query parameters (what every link of the page keeps)."""
        out = {}
        if self.as_of is not None:
            out["as_of"] = format_time(self.as_of)
        if self.known_at is not None:
            out["known_at"] = format_time(self.known_at)
        return out

    def link(self, path: str, **params: Any) -> str:
        """``path`` at this page's point, with ``params`` (None drops one, the point's included)."""
        merged: dict[str, Any] = {**self.point_query, **params}
        shown = {key: str(value) for key, value in merged.items() if value is not None and value != ""}
        return path + ("?" + urlencode(shown) if shown else "")

    def here(self, **params: Any) -> str:
        """This page with its own parameters, changed by ``params``."""
        kept = {key: value for key, value in self.query.items() if key not in ("as_of", "known_at", "format", "table",
                                                                                 "safe")}
        return self.link(self.path, **{**kept, **params})

    def download(self, fmt: str, table: str | None = None, safe: bool = False) -> str:
        return self.here(format=fmt, table=table, safe="1" if safe else None)
