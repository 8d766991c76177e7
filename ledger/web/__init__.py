"""``ledger serve``: a read-only web console over the ledger, for compliance and back-office.

A shell beside ``ledger.cli``: it talks to the ``Ledger`` facade and its read
models only (``ledger.app.console``), never to the store, and never imports a
rule version. Pages are server-rendered (Starlette, Jinja2 with autoescape,
charts as inline SVG drawn in Python); no page runs a script. It never writes
to the ledger. See ``docs/console.md``.

Importing this package loads nothing: ``serve`` imports the web stack when it
runs, so the rest of the CLI starts without it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.app.ledger import Ledger

__all__ = ["serve"]


def serve(ledger: Ledger, *, host: str, port: int, token: str | None, scale_overrides: dict[str, int] | None = None,
          on_ready: str | None = None) -> None:
    """Serve the console over ``ledger`` on ``host:port`` until interrupted (the caller checked the host and token)."""
    import uvicorn

    from ledger.web.app import create_app

    log = logging.getLogger("ledger")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    app = create_app(ledger, host=host, token=token, scale_overrides=scale_overrides)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, server_header=False,
                            proxy_headers=False)
    if on_ready:
        log.info("%s", on_ready)
    uvicorn.Server(config).run()
