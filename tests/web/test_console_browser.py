"""#29: the console looked at as a person would, in headless Chromium, on each backend: a known account's figures on
screen, a liquidation's explanation, the charts drawn in their colours, every page rendered (no error page), and a
name holding markup shown as text that runs nothing. The server is the real one: uvicorn on a free loopback port."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from urllib.parse import quote

from ledger import Ledger
from tests.support.builders import deposit, listed
from tests.support.cli import ok
from tests.support.console import (
    CRASH_ACCOUNT,
    CRASH_LIQUIDATION,
    TAB_BLUE,
    TAB_GREEN,
    TAB_RED,
    colours,
    dump_dom,
    screenshot,
    serving,
)


def _cents(figure: str) -> str:
    return f"{Decimal(figure).quantize(Decimal('0.01')):,}"


def test_a_known_accounts_figures_and_equity_chart_show_in_a_browser(browser, crash, tmp_path):
    """trader-14's page shows its equity, cash, position and liquidation price as ``ledger account`` has them (at
    USD's 2 places), and its equity chart is drawn: the equity line's blue and the funding marks' green on screen."""
    account = json.loads(ok(crash, "account", CRASH_ACCOUNT, "--format", "json"))["accounts"][CRASH_ACCOUNT]
    position = account["positions"]["BTC-PERP"]
    with serving(crash) as base:
        page = f"{base}/accounts/{CRASH_ACCOUNT}"
        dom = dump_dom(browser, page, tmp_path / "p1")
        shot = screenshot(browser, page, tmp_path / "account.png", tmp_path / "p2")
    assert f"<h1>Account {CRASH_ACCOUNT}</h1>" in dom
    for figure in (account["equity"], account["cash"]["USD"], position["unrealized_pnl"], position["liquidation_price"]):
        assert f">{_cents(figure)}<" in dom, figure
    assert ">0.125<" in dom and ">isolated<" in dom, "the position's size at the lot's places, and its margin mode"
    assert "<svg" in dom and "funding" in dom
    seen = colours(shot)
    assert TAB_BLUE in seen and TAB_GREEN in seen, "the equity chart is not on screen"


def test_a_liquidations_explanation_shows_in_a_browser(browser, crash, tmp_path):
    """The explanation page of the crash's first liquidation shows the trigger, the rule, the decision, the formula
    with its numbers and the figures before and after, as ``ledger explain`` has them, with links to the account
    and the market."""
    info = json.loads(ok(crash, "explain", CRASH_LIQUIDATION, "--format", "json"))
    with serving(crash) as base:
        page = f"{base}/events/{quote(CRASH_LIQUIDATION, safe='')}"
        dom = dump_dom(browser, page, tmp_path / "p1")
        screenshot(browser, page, tmp_path / "event.png", tmp_path / "p2")
    event = info["event"]
    assert f"<h1>liquidation {CRASH_LIQUIDATION}</h1>" in dom
    assert "<h2>Formula</h2>" in dom and info["formula"]["formula"].split(" = ")[0].replace(">", "&gt;") in dom
    assert f"<strong>{event['qty']}</strong>" in dom and f"<strong>{_cents(event['price'])}</strong>" in dom
    assert "trigger" in dom.lower() and info["trigger"]["id"] in dom and info["rule"]["version"] in dom
    assert f'href="/accounts/{event["account"]}"' in dom and 'href="/markets/BTC-PERP"' in dom
    assert f">{_cents(info['after']['equity'])}<" in dom and f">{_cents(info['account_before']['equity'])}<" in dom
    assert (tmp_path / "event.png").stat().st_size > 10_000


def test_the_overview_and_a_market_draw_their_charts_in_a_browser(browser, crash, tmp_path):
    """The overview draws the insurance fund over time (green); BTC-PERP's page draws its marks with the liquidations
    at their prices (red) on the same time axis as its funding; neither colour is on a page without a chart."""
    with serving(crash) as base:
        overview = colours(screenshot(browser, f"{base}/", tmp_path / "o.png", tmp_path / "p1"))
        market = colours(screenshot(browser, f"{base}/markets/BTC-PERP", tmp_path / "m.png", tmp_path / "p2"))
        rules = colours(screenshot(browser, f"{base}/rules", tmp_path / "r.png", tmp_path / "p3"))
        dom = dump_dom(browser, f"{base}/markets/BTC-PERP", tmp_path / "p4")
    assert TAB_GREEN in overview, "the insurance fund chart is not on screen"
    assert TAB_RED in market and TAB_BLUE in market, "the marks and their liquidations are not on screen"
    assert TAB_RED not in rules and TAB_GREEN not in rules
    assert dom.count('<a href="/events/') >= 17, "every liquidation mark links to its explanation"


def test_every_page_renders_in_a_browser_at_a_point(browser, crash, tmp_path):
    """Every page renders in a browser at an as-of point (its own heading, the point kept in its links, never an
    error page)."""
    point = "as_of=2024-08-05T12%3A00%3A00Z"
    paths = ["/", "/accounts", f"/accounts/{CRASH_ACCOUNT}", "/markets", "/markets/ETH-PERP", "/liquidations",
             "/bankruptcies", "/deleverages", "/rules", "/balances", "/reconcile", "/whatif",
             f"/events/{quote(CRASH_LIQUIDATION, safe='')}"]
    with serving(crash) as base:
        for n, path in enumerate(paths):
            dom = dump_dom(browser, f"{base}{path}?{point}", tmp_path / f"p{n}")
            assert re.search(r"<h1>[^<]+</h1>", dom) and "Internal error" not in dom and "Not found" not in dom, path
            assert "Traceback" not in dom and "reading after event #" in dom, path
            assert "as_of=2024-08-05T12%3A00%3A00.000000Z" in dom, f"{path}: the links keep the point"


HOSTILE = "<img src=x onerror=document.title='pwned'>"
SCRIPT = "<script>document.title='pwned'<\\script>"


def test_a_name_holding_markup_is_text_and_runs_nothing_in_a_browser(browser, db_url, tmp_path):
    """Accounts named ``<img src=x onerror=...>`` and ``<script>...`` appear as text on the accounts page and their
    own; no element of theirs is made and nothing they hold runs (the page title stays the console's)."""
    with Ledger.open(db_url) as ledger:
        ledger.init()
        ledger.append([listed(), deposit(HOSTILE, "10", id="d1"), deposit(SCRIPT, "10", id="d2")])
    with serving(db_url) as base:
        doms = [dump_dom(browser, f"{base}{path}", tmp_path / f"p{n}") for n, path in
                enumerate(["/accounts", f"/accounts/{quote(HOSTILE, safe='')}", f"/accounts/{quote(SCRIPT, safe='')}"])]
    for dom in doms:
        assert "pwned</title>" not in dom and "ledger console</title>" in dom
        assert "<img src=\"x\"" not in dom and "<script>document" not in dom
    assert "&lt;img src=x onerror=document.title='pwned'&gt;" in doms[0]
    assert "&lt;script&gt;document.title='pwned'&lt;\\script&gt;" in doms[0]
    assert f"<h1>Account {HOSTILE.replace('<', '&lt;').replace('>', '&gt;')}</h1>" in doms[1]
