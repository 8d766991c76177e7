"""What every handler of the console shares: the ``Console`` (the ledger, its reads, templates, jobs, settings)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from attrs import define, field
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from ledger.app.console import ConsoleReads
from ledger.app.ledger import Ledger
from ledger.web.jobs import Jobs
from ledger.web.shown import Shown

__all__ = ["Console", "console_of", "UPLOAD_LIMIT"]

UPLOAD_LIMIT = 5 * 1024 * 1024
"""The largest statement the reconcile page takes, in bytes."""

_TITLES = {400: "Bad request", 401: "Token needed", 404: "Not found", 405: "Not allowed", 409: "Not proven",
           413: "Too large", 421: "Wrong host", 500: "Internal error", 503: "Database unavailable"}


@define
class Console:
    """One console: the ledger it reads, its reads, its templates, its what-if jobs and its settings."""

    ledger: Ledger
    reads: ConsoleReads
    templates: Jinja2Templates
    jobs: Jobs
    url: str
    token: str | None = None
    upload_limit: int = UPLOAD_LIMIT
    reconciliations: OrderedDict[str, dict[str, Any]] = field(factory=OrderedDict)
    """the results of the uploads, newest last (each keeps its URL while the console runs)"""

    def page(self, request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        """A page, with what every page shows (the figures' scales, whether a token guards it)."""
        shown = Shown(self.reads.scales())
        return self.templates.TemplateResponse(request, template, {"f": shown, "guarded": self.token is not None,
                                                                   **context}, status_code=status)

    def error_page(self, status: int, message: str, reference: str | None = None) -> HTMLResponse:
        """An error page (no request needed: it is also what the guard and a crash answer)."""
        body = self.templates.get_template("error.html").render(
            status=status, title=_TITLES.get(status, "Error"), message=message, reference=reference,
            guarded=self.token is not None, f=None)
        return HTMLResponse(body, status_code=status)


def console_of(request: Request) -> Console:
    """The console serving ``request``."""
    console = request.app.state.console
    assert isinstance(console, Console), "create_app sets the console"
    return console
