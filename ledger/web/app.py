"""The console's ASGI application: routes, templates, the guard, and what a failure shows.

Pages are server-rendered (Jinja2, every value escaped: autoescape is on for
every template, and a chart's texts are escaped where the SVG is written).
Handlers are plain functions that Starlette runs in its thread pool; they
read through ``ConsoleReads`` (``ledger.app.console``), never the store.

A failure never shows a traceback: a refusal the CLI knows
(``ledger.app.failures.classify``) shows the CLI's message on an error page
with a status that says what it is (400 bad input, 404 unknown, 409 a log its
seals do not prove, 503 no database); anything else is a 500 page with a
reference, the traceback going to the ``ledger`` logger under that
reference.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ledger.app import failures
from ledger.app.console import ConsoleReads, NotFound
from ledger.app.ledger import Ledger
from ledger.web.context import UPLOAD_LIMIT, Console
from ledger.web.jobs import Jobs
from ledger.web.pages import ROUTES as PAGE_ROUTES
from ledger.web.security import ASGIApp, Guard, Message, Receive, Scope, Send, is_loopback
from ledger.web.tools import ROUTES as TOOL_ROUTES
from ledger.web.views import BadRequest

__all__ = ["create_app", "LOG"]

LOG = logging.getLogger("ledger")
"""Where a failure's details go (the page shows only its reference)."""

READERS = 2
"""Requests a console works on at once (its thread pool's size). Pages are Python work under one interpreter lock:
more threads add no throughput, only contention (for the lock and the database pool), so the rest wait their turn in
arrival order. Measured in docs/performance.md (the console under load)."""

_STATUS = {failures.CHECK_FAILED: 409, failures.BAD_INPUT: 400, failures.DATABASE: 503}


def _templates() -> Jinja2Templates:
    env = Environment(loader=PackageLoader("ledger.web", "templates"), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    return Jinja2Templates(env=env)


class _Failures:
    """Turns every exception a handler lets out into an error page (and its details into the log)."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app, self.console = app, console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            response = self.answer(exc, scope)
            if started:
                return  # the answer is on its way: it can only be cut short (the log has the cause)
            await response(scope, receive, send)

    def answer(self, exc: Exception, scope: Scope) -> Response:
        if isinstance(exc, NotFound):
            return self.console.error_page(404, str(exc))
        if isinstance(exc, BadRequest):
            return self.console.error_page(400, str(exc))
        found = failures.classify(exc, self.console.url)
        if found is not None:
            status, message = found
            LOG.info("console: %s %s answered %s: %s", scope.get("method"), scope.get("path"), status, message)
            return self.console.error_page(_STATUS.get(status, 400), message)
        reference = secrets.token_hex(6)
        LOG.error("console: %s %s failed (reference %s)", scope.get("method"), scope.get("path"), reference,
                  exc_info=exc)
        return self.console.error_page(500, "The console could not answer this request. Nothing was changed: the "
                                            "console only reads. The details are in the server's log under this "
                                            "reference.", reference)


def _http_error(console: Console) -> Callable[[Request, Exception], Response]:
    def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return console.error_page(exc.status_code, message)
    return handle


def _wrong_host(console: Console) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = console.error_page(421, "This console answers only to the address it was started on.")
        await response(scope, receive, send)
    return app


def _token_needed(console: Console) -> ASGIApp:
    """401, with the login form for a browser and the bearer scheme named for a program."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = console.templates.get_template("login.html").render(f=None, guarded=True, failed=False)
        response = HTMLResponse(body, status_code=401, headers={"www-authenticate": 'Bearer realm="ledger console"'})
        await response(scope, receive, send)
    return app


@asynccontextmanager
async def _bounded_threads(app: Starlette) -> AsyncIterator[None]:
    """Run at most ``READERS`` requests' handlers at once (the server's thread pool, set as it starts)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = READERS
    yield


def create_app(
    ledger: Ledger, *, host: str = "127.0.0.1", token: str | None = None, upload_limit: int = UPLOAD_LIMIT,
    scale_overrides: dict[str, int] | None = None,
) -> Starlette:
    """The console over ``ledger`` (opened by the caller, read only), served on ``host``, guarded by ``token``."""
    console = Console(ledger, ConsoleReads(ledger, overrides=scale_overrides), _templates(), Jobs(ledger), ledger.url,
                      token, upload_limit)
    routes = [
        *PAGE_ROUTES, *TOOL_ROUTES,
        Mount("/static", app=StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"),
    ]
    hosts = {"127.0.0.1", "localhost", "[::1]", "::1", host.lower()} if is_loopback(host) else None
    middleware = [
        Middleware(Guard, hosts=hosts, token=token, refused=_token_needed(console), bad_host=_wrong_host(console)),
        Middleware(_Failures, console=console),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=_bounded_threads,
                    exception_handlers={HTTPException: _http_error(console)})
    app.state.console = console
    return app


