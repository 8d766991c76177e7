"""The web console in tests: a ledger holding the main job's crash, the app over it (Starlette's TestClient), the
server on a free loopback port (uvicorn in a thread), and headless Chromium looking at its pages.

Chromium is ``LEDGER_TEST_BROWSER`` (``scripts/browser.sh`` finds or installs it), run as the report's browser tests
run it: headless, no sandbox, a profile of its own per call.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from PIL import Image
from starlette.testclient import TestClient

from ledger import Ledger
from ledger.web.app import create_app
from tests.conftest import ROOT

__all__ = ["crash_history", "crash_ledger", "client", "serving", "dump_dom", "screenshot", "colours", "ingest_lines",
           "CRASH_ACCOUNT", "CRASH_LIQUIDATION", "TAB_RED", "TAB_GREEN", "TAB_BLUE"]

CRASH_ACCOUNT = "trader-14"
"""An isolated trader of the crash, with a position open at the end and funding paid and received."""
CRASH_LIQUIDATION = "k-btc-33/liq/trader-22/BTC-PERP"
"""The crash's first liquidation: trader-22's isolated BTC-PERP long, partly closed at 58,500."""
TAB_BLUE, TAB_GREEN, TAB_RED = (31, 119, 180), (44, 160, 44), (214, 39, 40)
"""The console's equity or mark, insurance fund or funding, and liquidation colours (``ledger.web.charts.COLOURS``)."""


def crash_history(folder: Path) -> Path:
    """The main job's crash history (``examples/make_crash_history.py``), written into ``folder``."""
    history = folder / "crash.jsonl"
    if not history.exists():
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_crash_history.py"), str(history)], check=True)
    return history


def crash_ledger(url: str, folder: Path) -> str:
    """``url`` initialised and holding the crash history; the URL."""
    with Ledger.open(url) as ledger:
        ledger.init()
        ledger.ingest_file(crash_history(folder))
    return url


def ingest_lines(url: str, lines: list[dict[str, Any]], folder: Path, name: str = "more.jsonl", **opened: Any) -> None:
    """Ingest ``lines`` (JSON objects) into ``url`` through a file, as ``ledger ingest`` does."""
    path = folder / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with Ledger.open(url, **opened) as ledger:
        ledger.ingest_file(path)


@contextmanager
def client(url: str, **settings: Any) -> Iterator[TestClient]:
    """A TestClient of the console over ``url`` (``settings``: ``create_app``'s), addressed as 127.0.0.1."""
    key = settings.pop("key", None)
    with Ledger.open(url, key=key, create=False) as ledger:
        with TestClient(create_app(ledger, **settings), base_url="http://127.0.0.1",
                        raise_server_exceptions=False) as test_client:
            yield test_client


@contextmanager
def serving(url: str, **settings: Any) -> Iterator[str]:
    """The console over ``url`` served by uvicorn on a free loopback port, in a thread; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with Ledger.open(url, create=False) as ledger:
        server = uvicorn.Server(uvicorn.Config(create_app(ledger, **settings), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the console did not start within 20 s"
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(20)
            sock.close()


def _chromium(browser: str, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", *flags],
        check=True, capture_output=True, text=True, timeout=120,
    )


def dump_dom(browser: str, page: str, profile: Path) -> str:
    """The page's DOM after Chromium loaded and laid it out (scripts, had any run, would have changed it)."""
    return _chromium(browser, profile, "--virtual-time-budget=3000", "--dump-dom", page).stdout


def screenshot(browser: str, page: str, out: Path, profile: Path, size: str = "1280,2600") -> Image.Image:
    """A screenshot of the page as Chromium draws it (``size``: the window, width,height)."""
    _chromium(browser, profile, f"--window-size={size}", f"--screenshot={out}", page)
    return Image.open(out).convert("RGB")


def colours(image: Image.Image) -> set[tuple[int, int, int]]:
    """Every colour a screenshot shows."""
    return {colour for _, colour in image.getcolors(maxcolors=1 << 22)}
