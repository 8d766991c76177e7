"""#29: the console's tools. Reconcile takes an uploaded statement (cash or positions), with the CLI's options and
messages and a size limit; a what-if runs queued in the background, shows its progress, and ends in the CLI's
figures at a URL of its own. An ingest running while pages are read changes nothing shown for a fixed point."""

from __future__ import annotations

import json
import threading
import time

from ledger import Ledger
from tests.conftest import ROOT
from tests.support.cli import ok, run
from tests.support.console import CRASH_ACCOUNT, client, crash_history, ingest_lines

PARAMS = ROOT / "examples" / "params"


def _upload(console, text: str, name: str = "statement.csv", **fields: str):
    return console.post("/reconcile", files={"statement": (name, text.encode(), "text/csv")}, data=fields,
                        follow_redirects=True)


def test_a_statement_is_reconciled_as_the_cli_reconciles_it(crash, tmp_path):
    """The ledger's own balances CSV reconciles with no break; one changed figure is one break, the same as
    ``ledger reconcile --format json`` finds; the result keeps its URL and downloads the CLI's JSON."""
    statement = ok(crash, "balances", "--format", "csv")
    changed = statement.replace(f"{CRASH_ACCOUNT},USD,250.0", f"{CRASH_ACCOUNT},USD,251.0")
    assert changed != statement
    (tmp_path / "changed.csv").write_text(changed)
    with client(crash) as console:
        clean = _upload(console, statement)
        broken = _upload(console, changed, "changed.csv")
        downloaded = console.get(str(broken.url) + "&format=json" if "?" in str(broken.url) else str(broken.url) + "?format=json")
        report = json.loads(ok(crash, "balances", "--format", "json"))["accounts"]
        sizes = "".join(f"{name},{market},{p['size']}\n" for name, account in report.items()
                        for market, p in account["positions"].items())
        positions = _upload(console, "account,market,size\n" + sizes, "positions.csv")
    assert clean.status_code == 200 and "No breaks" in clean.text
    assert broken.status_code == 200 and "1 break(s)" in broken.text and "/reconcile/" in str(broken.url)
    code, out, _ = run(crash, "reconcile", str(tmp_path / "changed.csv"), "--format", "json")
    expected = [{**b, "where": b["where"].replace(f"{tmp_path}/", "")} for b in json.loads(out)["breaks"]]
    assert code == 1 and downloaded.json()["breaks"] == expected and expected[0]["where"] == "changed.csv:19"
    assert positions.status_code == 200 and "No breaks" in positions.text


def test_a_bad_statement_gets_the_clis_message_naming_its_line(crash):
    """A statement the reader refuses answers 400 with the CLI's message naming the uploaded file and the line (never
    a traceback, never the folder the console kept it in); a bad option gets the CLI's message too."""
    with client(crash) as console:
        bad = _upload(console, "account,asset,balance\nalice,USD,12x\n", "mine.csv")
        header = _upload(console, "who,what\nalice,USD\n", "odd.csv")
        tolerance = _upload(console, "account,asset,balance\n", "mine.csv", tolerance="a lot")
        nothing = console.post("/reconcile", data={"tolerance": "0"}, files={"other": ("x", b"", "text/csv")})
    assert bad.status_code == 400 and "mine.csv:2" in bad.text and "Traceback" not in bad.text
    assert "ledger-console-" not in bad.text and "/tmp" not in bad.text
    assert header.status_code == 400 and "odd.csv" in header.text
    assert tolerance.status_code == 400 and "--tolerance" in tolerance.text
    assert nothing.status_code == 400 and "choose a statement" in nothing.text


def test_an_upload_larger_than_the_limit_is_refused(crash):
    """A statement larger than the console's limit is refused (413) before it is reconciled."""
    with client(crash, upload_limit=1000) as console:
        answer = _upload(console, "account,asset,balance\n" + "alice,USD,1\n" * 200)
    assert answer.status_code == 413 and "larger than" in answer.text


def _finished(console, location: str) -> object:
    """The job page once the run has ended (polled: it refreshes itself while queued or running)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        page = console.get(location)
        assert page.status_code == 200, page.text[-2000:]
        if "http-equiv=\"refresh\"" not in page.text:
            return page
        assert "<progress" in page.text
        time.sleep(0.2)
    raise AssertionError("the what-if did not finish in 120 s")


def test_a_whatif_runs_in_the_background_and_keeps_its_url(crash):
    """A what-if is queued, then shows the side-by-side table and the cumulative chart; its JSON is the CLI's for the
    same versions and params, and its URL keeps answering."""
    params = (PARAMS / "full-v1.json").read_text()
    form = {"version_1": "full-v1", "params_1": params, "version_2": "tiered-v1",
            "params_2": (PARAMS / "tiered-v1.json").read_text()}
    with client(crash) as console:
        submitted = console.post("/whatif", data=form, follow_redirects=False)
        location = submitted.headers["location"]
        page = _finished(console, location)
        data = console.get(location + "?format=json").json()
        again = console.get(location)
        listed = console.get("/whatif")
    assert submitted.status_code == 303 and location.startswith("/whatif/jobs/")
    cli = ok(crash, "whatif", "--rules", "full-v1", "--params", str(PARAMS / "full-v1.json"), "--rules", "tiered-v1",
             "--params", str(PARAMS / "tiered-v1.json"), "--format", "json")
    assert data == json.loads(cli)
    assert "Side by side" in page.text and "<svg" in page.text and "tiered-v1" in page.text, page.text[-3000:]
    assert again.status_code == 200 and location in listed.text


def test_whatif_params_are_checked_with_the_clis_messages(crash):
    """Params a version refuses, or that are not JSON, are refused before anything runs (400), in the CLI's words,
    naming the world's params; a world without a version or policy for its params is refused too."""
    with client(crash) as console:
        refused = console.post("/whatif", data={"version_1": "full-v1", "params_1": '{"liquidation_fee_rate": "2"}'})
        garbled = console.post("/whatif", data={"version_1": "full-v1", "params_1": "{not json"})
        orphan = console.post("/whatif", data={"params_1": "{}"})
        unknown = console.post("/whatif", data={"version_1": "no-such-v9"})
    assert refused.status_code == 400 and "full-v1 refuses these params" in refused.text
    assert "world-1-params.json" in refused.text and "/tmp" not in refused.text
    assert garbled.status_code == 400 and "world-1-params.json" in garbled.text
    assert orphan.status_code == 400 and "without a rule version" in orphan.text
    assert unknown.status_code == 400 and "unknown rule version" in unknown.text


def test_an_ingest_while_pages_are_read_changes_nothing_shown_for_a_fixed_point(crash, tmp_path):
    """Pages at a fixed ``as_of`` and ``known_at`` read before, during and after an ingest of more events show the
    same thing, byte for byte; the same page at the head moves on."""
    with Ledger.open(crash) as ledger:
        known = next(iter(ledger.events())).recorded_at  # the crash was recorded at once, by one ingest
        head = ledger.head_seq()
    later = [{"type": "deposit", "id": f"late-{n}", "at": "2024-08-06T01:00:00Z", "account": CRASH_ACCOUNT,
              "asset": "USD", "amount": "1"} for n in range(3000)]
    point = f"as_of=2024-08-06T00:00:00Z&known_at={known}"
    paths = [f"/accounts/{CRASH_ACCOUNT}?{point}", f"/accounts?{point}", f"/balances?{point}&format=json",
             f"/markets/BTC-PERP?{point}", f"/?{point}&format=csv&table=insurance_fund"]
    with client(crash) as console:
        before = [console.get(path).text for path in paths]
        ingest = threading.Thread(target=ingest_lines, args=(crash, later, tmp_path))
        ingest.start()
        during = []
        while ingest.is_alive():
            during.append([console.get(path).text for path in paths])
        ingest.join()
        after = [console.get(path).text for path in paths]
        moved = console.get(f"/accounts/{CRASH_ACCOUNT}?format=json").json()
    assert during, "no page was read while the ingest ran: the test proved nothing"
    assert all(page == before for page in during) and after == before
    assert f"reading after event #{head}" in before[0]
    assert moved["seq"] > head and crash_history(tmp_path).exists()



def test_a_job_finishing_while_its_page_is_made_shows_one_state(crash):
    """The worker sets a job's result, then marks it done; a page made in between reads the state once and shows it
    whole: still running (and refreshing), never "done" with an empty result."""
    from ledger.web.jobs import Job

    class Finishing(Job):
        """A job the worker finishes just after the page first looks at it."""

        looked = False

        def __getattribute__(self, name: str):
            value = object.__getattribute__(self, name)
            if name == "state" and not object.__getattribute__(self, "looked"):
                object.__setattr__(self, "looked", True)
                object.__setattr__(self, "result", {"versions": ["full-v1"], "summary": {}, "accounts": []})
                object.__setattr__(self, "state", "done")
            return value

    with client(crash) as console:
        jobs = console.app.state.console.jobs
        job = Finishing("j-race", "a race", {}, 10, lambda ledger, advance: {}, state="running")
        jobs._jobs[job.id] = job
        page = console.get(f"/whatif/jobs/{job.id}")
        again = console.get(f"/whatif/jobs/{job.id}")
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text and "Running:" in page.text
    assert "Side by side" not in page.text
    assert 'http-equiv="refresh"' not in again.text and "Side by side" in again.text
