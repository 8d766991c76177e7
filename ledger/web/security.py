"""Who may read the console: loopback by default, a bearer token otherwise, and headers that keep a page inert.

- **Where it listens.** ``127.0.0.1`` by default; any other address (``0.0.0.0``,
  a LAN address, a host name) is refused at start (exit 2) unless a token file
  is given: the ledger's figures are not for whoever can reach the port.
- **The token.** The first line of ``--token-file`` (at least
  ``MIN_TOKEN_LENGTH`` characters). With one, every request must carry
  ``Authorization: Bearer TOKEN``, or the cookie the login form sets (an HMAC
  of the token, never the token itself; ``HttpOnly``, ``SameSite=Strict``).
  Both are compared with ``hmac.compare_digest`` (constant time). Anything else
  is answered 401, with the login form for a browser.
- **The Host header** must name the address the console was started on (or
  ``localhost`` for loopback): a page of another site that rebinds its own
  name to 127.0.0.1 cannot read the console through the visitor's browser;
  and a form posted from another site (its ``Origin`` header not this console)
  is refused too.
- **Every answer** says ``Content-Security-Policy: default-src 'none'`` with
  only this console's style sheet and inline images allowed (no script runs,
  whatever a name holds), ``X-Frame-Options: DENY``, ``nosniff``, no referrer,
  and ``Cache-Control: no-store`` (figures are not left in shared caches).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

__all__ = ["is_loopback", "read_token", "TokenRefused", "Guard", "COOKIE", "session_value", "MIN_TOKEN_LENGTH",
           "SECURITY_HEADERS"]

MIN_TOKEN_LENGTH = 16
COOKIE = "ledger_console"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = [
    (b"content-security-policy", (b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                  b"frame-ancestors 'none'; base-uri 'none'")),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class TokenRefused(ValueError):
    """The token file cannot serve: missing, unreadable, or too short to guess at."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str | Path) -> str:
    """The token: the file's first line, stripped; refused when it is missing or shorter than ``MIN_TOKEN_LENGTH``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenRefused(f"--token-file {path}: cannot be read ({exc})") from None
    lines = text.splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenRefused(f"--token-file {path}: the token (its first line) must have at least {MIN_TOKEN_LENGTH} "
                           "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return token


def session_value(token: str) -> str:
    """What the login cookie holds: an HMAC of the token, so the browser never keeps the token itself."""
    return hmac.new(token.encode(), b"ledger console session", hashlib.sha256).hexdigest()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _same_origin(scope: Scope, host: str) -> bool:
    """A form posted from another site (its ``Origin`` is not this console's) is refused: a page elsewhere cannot make
    a visitor's browser start what-ifs or uploads here."""
    origin = _header(scope, b"origin")
    if scope.get("method") != "POST" or origin is None:
        return True
    return origin.lower().split("://", 1)[-1].rstrip("/") == host


class Guard:
    """The ASGI middleware of the rules above: the Host, the token (when there is one), the headers of every answer."""

    def __init__(self, app: ASGIApp, *, hosts: set[str] | None, token: str | None, refused: ASGIApp,
                 bad_host: ASGIApp) -> None:
        self.app, self.token = app, token
        self.hosts = None if hosts is None else {h.lower() for h in hosts}
        """the names the Host header may give (None: any, for a console that listens beyond loopback with a token)"""
        self.refused, self.bad_host = refused, bad_host
        self._cookie = session_value(token) if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        host = (_header(scope, b"host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if (self.hosts is not None and name not in self.hosts) or not _same_origin(scope, host):
            await self.bad_host(scope, receive, with_headers)
        elif self.token is not None and not self._allowed(scope):
            await self.refused(scope, receive, with_headers)
        else:
            await self.app(scope, receive, with_headers)

    def _allowed(self, scope: Scope) -> bool:
        """The bearer token, or the login cookie, compared in constant time; the login form itself is open."""
        if scope.get("path") in ("/login", "/static/console.css"):
            return True
        assert self.token is not None and self._cookie is not None
        authorization = _header(scope, b"authorization") or ""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return True
        cookies = SimpleCookie()
        try:
            cookies.load(_header(scope, b"cookie") or "")
        except CookieError:  # a malformed Cookie header is no credential
            return False
        morsel = cookies.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self._cookie.encode())
