"""#29: the console is safe to leave running: loopback by default, a token otherwise (401 without it), names shown
as text whatever they hold, unknown pages and ids answered 404, and never a traceback on a page."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote

from ledger import Ledger
from ledger.app.console import ConsoleReads
from ledger.web.security import session_value
from tests.conftest import ROOT
from tests.support.builders import deposit, listed
from tests.support.cli import run
from tests.support.console import CRASH_ACCOUNT, client
from tests.support.tampering import insert_tail_deposit

TOKEN = "s3cret-token-of-the-console-0123"
HOSTILE = ["<script>alert(1)<\\script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>', "a?b#c&d=e .."]
"""Account names that are markup, an attribute break-out, and query and escape syntax (a name may not hold ``/``)."""


def test_a_host_beyond_loopback_is_refused_without_a_token(tmp_path, sqlite_url):
    """``serve --host 0.0.0.0`` (or a LAN address) without ``--token-file`` exits 2 with a clear message, before it
    opens anything; so does a token file whose token is too short to guess at."""
    for host in ("0.0.0.0", "192.168.1.20", "example.org"):
        code, _, err = run(sqlite_url, "serve", "--host", host)
        assert code == 2 and "not a loopback address" in err and "--token-file" in err, (host, err)
    short = tmp_path / "token"
    short.write_text("short\n")
    code, _, err = run(sqlite_url, "serve", "--host", "0.0.0.0", "--token-file", str(short))
    assert code == 2 and "at least 16 characters" in err


def test_with_a_token_every_request_needs_it(crash):
    """With a token, a request without it, or with another, gets 401 (the login form, and the Bearer scheme named);
    the bearer token, or the cookie the login form sets (not the token itself), gets the page."""
    with client(crash, token=TOKEN) as console:
        bare = console.get(f"/accounts/{CRASH_ACCOUNT}")
        wrong = console.get("/", headers={"Authorization": "Bearer not-the-token-at-all-0000"})
        download = console.get("/balances?format=json")
        good = console.get(f"/accounts/{CRASH_ACCOUNT}", headers={"Authorization": f"Bearer {TOKEN}"})
        refused_login = console.post("/login", data={"token": "guess"})
        login = console.post("/login", data={"token": TOKEN}, follow_redirects=False)
        cookie = login.cookies.get("ledger_console")
        console.cookies.set("ledger_console", cookie)
        after = console.get("/")
    assert bare.status_code == wrong.status_code == download.status_code == refused_login.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer") and 'name="token"' in bare.text
    assert CRASH_ACCOUNT not in bare.text and "accounts" not in download.text
    assert good.status_code == 200 and CRASH_ACCOUNT in good.text
    assert login.status_code == 303 and cookie == session_value(TOKEN) and TOKEN not in cookie
    assert "httponly" in login.headers["set-cookie"].lower() and "samesite=strict" in login.headers["set-cookie"].lower()
    assert after.status_code == 200


def test_another_host_name_is_refused_on_loopback(crash):
    """On loopback the console answers only to its own names: a page whose site rebinds its name to 127.0.0.1 cannot
    read it through a visitor's browser (421)."""
    with client(crash) as console:
        assert console.get("/", headers={"Host": "evil.example"}).status_code == 421
        assert console.get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_every_answer_forbids_scripts_and_framing(crash):
    """Every answer, error pages included, carries a policy under which no script runs and no frame holds it."""
    with client(crash) as console:
        for path in ("/", "/nope", f"/accounts/{CRASH_ACCOUNT}?format=json"):
            headers = console.get(path).headers
            assert "default-src 'none'" in headers["content-security-policy"] and "script" not in \
                headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"


def test_names_holding_markup_are_shown_as_text(db_url):
    """Accounts named with markup appear as text on every page that names them (escaped), and their links carry the
    name percent-encoded whole, so each still opens its own page."""
    with Ledger.open(db_url) as ledger:
        ledger.init()
        ledger.append([listed(), *[deposit(name, "10", id=f"d{n}") for n, name in enumerate(HOSTILE)]])
    with client(db_url) as console:
        pages = [console.get(path).text for path in ("/accounts", "/balances", "/deleverages")]
        for name in HOSTILE:
            own = console.get(f"/accounts/{quote(name, safe='')}")
            assert own.status_code == 200, name
            pages.append(own.text)
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text and "<svg onload" not in text
    assert "&lt;script&gt;alert(1)&lt;\\script&gt;" in pages[0] and "&lt;img src=x onerror=alert(1)&gt;" in pages[0]
    assert f'href="/accounts/{quote(HOSTILE[0], safe="")}"' in pages[0]


def test_unknown_pages_accounts_markets_and_ids_answer_404_pages(crash):
    """An unknown page, account, market or event id, or an id that is not an engine decision, is a 404 page saying
    what was not found; a bad parameter is a 400 page naming it."""
    with client(crash) as console:
        for path in ("/nope", "/accounts/nobody", "/markets/XYZ-PERP", "/events/no-such-event", "/events/k-btc-33",
                     "/whatif/jobs/unknown", "/reconcile/unknown"):
            answer = console.get(path)
            assert answer.status_code == 404 and "404" in answer.text and "<title>" in answer.text, path
        bad = console.get("/accounts?as_of=2024-08-05T00:10:00")
        before = console.get(f"/events/{quote('k-btc-33/liq/trader-22/BTC-PERP', safe='')}?as_of=2024-08-05T00:10:00Z")
    assert bad.status_code == 400 and "has no offset" in bad.text
    assert before.status_code == 404 and "recorded after" in before.text


def test_a_failure_shows_a_page_and_logs_its_details(crash, monkeypatch, caplog):
    """An unexpected failure answers a 500 page with a reference and nothing of the exception; the traceback goes to
    the ``ledger`` logger under that reference."""
    def broken(self, point):
        raise RuntimeError("the secret inner detail")

    monkeypatch.setattr(ConsoleReads, "risk", broken)
    with caplog.at_level(logging.ERROR, logger="ledger"), client(crash) as console:
        answer = console.get("/accounts")
    assert answer.status_code == 500
    assert "Traceback" not in answer.text and "secret inner detail" not in answer.text and "RuntimeError" not in answer.text
    reference = answer.text.split("<code>")[1].split("</code>")[0]
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info and "secret inner detail" in str(logged[0].exc_info[1])


def test_a_keyed_console_refuses_an_unproven_tail_with_a_clear_page(db_url, tmp_path):
    """With a key, rows no seal proves are never shown: every page answers 409 with the CLI's message (run
    ``ledger verify`` and ``ledger audit``), as a keyed read refuses them."""
    key = tmp_path / "key"
    Ledger.generate_key(key)
    with Ledger.open(db_url, key=key) as sealed:
        sealed.init()
        sealed.append([listed(), deposit("alice", "10", id="d1")])
    with Ledger.open(db_url) as unsealed:  # a row INSERTed behind the ledger's back: no seal proves it
        insert_tail_deposit(unsealed.store, "forged", "mallory", "5")
    with client(db_url, key=key) as console:
        answers = [console.get(path) for path in ("/", "/accounts/alice", "/balances?format=json")]
    for answer in answers:
        assert answer.status_code == 409 and "not sealed" in answer.text and "ledger verify" in answer.text
        assert "Traceback" not in answer.text


def test_serve_starts_on_loopback_and_answers_until_stopped(crash):
    """``ledger serve`` on a free loopback port answers the overview (200, read-only) and says where it listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ledger", "--db", crash, "serve", "--port", str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        answer = None
        deadline = time.monotonic() + 30
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as opened:
                    answer = (opened.status, opened.read().decode())
            except OSError:
                time.sleep(0.2)
        assert answer is not None and answer[0] == 200 and "read-only" in answer[1], server.poll()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert f"ledger console on http://127.0.0.1:{port}/" in err and "read-only" in err


def test_a_form_posted_from_another_site_is_refused(crash):
    """A what-if or an upload posted by a page of another site (its Origin not the console's) is refused (421); the
    console's own form (same Origin) is taken."""
    with client(crash) as console:
        foreign = console.post("/whatif", data={"version_1": "full-v1"}, headers={"Origin": "https://evil.example"})
        own = console.post("/whatif", data={"version_1": "no-such-v9"}, headers={"Origin": "http://127.0.0.1"})
    assert foreign.status_code == 421
    assert own.status_code == 400 and "unknown rule version" in own.text
