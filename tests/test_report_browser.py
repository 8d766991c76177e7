"""The HTML report looked at as a person would: rendered by headless Chromium, its charts on screen.

The several-versions report is opened in a real browser (``LEDGER_TEST_BROWSER``,
which ``scripts/test.sh`` provides) and screenshotted whole; the screenshot
must show the cumulative-notional chart, drawn in colours only that chart uses
(one line per version), and no broken image.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from freezegun import freeze_time
from PIL import Image

from rules import registry
from tests.conftest import ROOT
from tests.support.cli import ok, run

BROWSER = os.environ.get("LEDGER_TEST_BROWSER") or None
PARAMS = ROOT / "examples" / "params"
TAB_GREEN, TAB_RED = (44, 160, 44), (214, 39, 40)
"""matplotlib's third and fourth cycle colours: tiered-v1's and stepped-v1's lines (the account charts draw two lines)"""


@pytest.fixture(scope="module")
def browser() -> str:
    if BROWSER is None:
        if os.environ.get("LEDGER_TEST_REQUIRE_BROWSER"):
            pytest.fail("LEDGER_TEST_REQUIRE_BROWSER is set but no browser was found (scripts/browser.sh installs one)")
        pytest.skip("no headless browser (set LEDGER_TEST_BROWSER; scripts/test.sh installs Chromium)")
    return BROWSER


@pytest.fixture(scope="module")
def crash(browser, crash_url) -> str:
    """The session's crash ledger (every test here only reads it); its URL."""
    return crash_url


@pytest.fixture(scope="module")
def versions_report(crash, tmp_path_factory) -> tuple[list[str], Path]:
    """The report of every registered version but the one in force, side by side on the crash (with its example
    params): the versions, and the report's folder."""
    in_force = json.loads(ok(crash, "rules", "list", "--format", "json"))["in_force"]
    versions = [name for name in registry.names() if name != in_force]
    out = tmp_path_factory.mktemp("versions") / "r"
    args = ["report", "--out", str(out)]
    for version in versions:
        args += ["--whatif", version, "--params", str(PARAMS / f"{version}.json")]
    ok(crash, *args)
    return versions, out


def sweep_report(url: str, grid: Path, tmp_path: Path) -> str:
    """The report page of a serial sweep of ``grid`` under partial-v1 (written to tmp_path/r)."""
    code, out, err = run(url, "sweep", "--rules", "partial-v1", "--grid", str(grid), "--format", "json", "--workers", "1")
    assert code == 0, err
    rows = tmp_path / "sweep.json"
    rows.write_text(out)
    code, _, err = run(url, "report", "--out", str(tmp_path / "r"), "--sweep", str(rows))
    assert code == 0, err
    return (tmp_path / "r" / "index.html").read_text()


def dump_dom(browser: str, page: Path, profile: Path, *flags: str) -> str:
    """The page's DOM as the browser laid it out (``flags``: a window size, a time budget)."""
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}", *flags,
         "--dump-dom", page.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout


def screenshot(browser: str, page: Path, out: Path, profile: Path) -> Image.Image:
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--window-size=1200,12000", f"--screenshot={out}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    return Image.open(out).convert("RGB")


def test_the_versions_report_shows_one_cumulative_line_per_version_in_a_browser(browser, versions_report, tmp_path):
    """The versions report is a self-contained page whose cumulative-notional chart, one line per version, shows in a browser."""
    _, out = versions_report
    page = (out / "index.html").read_text()
    assert "rule versions side by side" in page and "data-file='versions.png'" in page
    # self-contained: the page alone, moved where no PNG is beside it, still shows every chart
    alone = tmp_path / "mailed" / "report.html"
    alone.parent.mkdir()
    alone.write_text(page)
    assert "src='data:image/png;base64," in page and not re.search(r"src='(?!data:)", page)

    shot = screenshot(browser, alone, tmp_path / "shot.png", tmp_path / "profile")
    colours = {colour for _, colour in shot.getcolors(maxcolors=1 << 20)}
    assert TAB_GREEN in colours and TAB_RED in colours, "the versions chart is not on screen"
    # every image on the page was drawn: the same page with its images removed shows neither colour
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"src='data:[^']*'", "src='missing.png'", page))
    colours_without = {c for _, c in screenshot(browser, bare, tmp_path / "bare.png", tmp_path / "profile2").getcolors(1 << 20)}
    assert TAB_GREEN not in colours_without


def _cents(figure: str) -> str:
    return f"{Decimal(figure).quantize(Decimal('0.01')):,}"


def test_the_versions_report_says_in_words_what_each_version_did_to_whom_in_a_browser(browser, crash, versions_report,
                                                                                     tmp_path):
    """#26 point 2: with several versions side by side, the summary in words keeps its per-account sentences for
    each version (how many accounts ended better and worse off than under it) and names each world's insurance fund
    (what it paid, what it was left with) and its socialized loss, as the what-if's JSON has them; on screen."""
    versions, out = versions_report
    args = [arg for version in versions for arg in ("--rules", version, "--params", str(PARAMS / f"{version}.json"))]
    data = json.loads(ok(crash, "whatif", *args, "--format", "json"))
    actual = ", ".join(data["actual_versions"])
    dom = dump_dom(browser, out / "index.html", tmp_path / "p")
    words = " ".join(re.findall(r"<p class=\"summary\">([^<]*)</p>", dom)).replace("&amp;", "&")
    usd = data["summary"]["USD"]
    for world in ["actual", *versions]:
        name = f"What happened ({actual})" if world == "actual" else f"Under {world}"
        assert (f"{name}: the insurance fund paid {_cents(usd['insurance_fund_used'][world])} and ended at "
                f"{_cents(usd['insurance_fund_end'][world])}; {_cents(usd['socialized_loss'][world])} was socialized.") in words
    for version in versions:
        change = [Decimal(a["equity_actual"].split()[-1]) - Decimal(a[f"equity_{version}"].split()[-1])
                  for a in data["accounts"]]
        better, worse = sum(d > 0 for d in change), sum(d < 0 for d in change)
        assert better or worse, f"the crash leaves every account the same under {version}: the test proves nothing"
        for count, how in ((better, "better"), (worse, "worse")):
            if count:
                said = f"{count} account{'s' if count > 1 else ''} ended {how} off under {actual} than under {version} ("
                assert said in words, said


def test_the_report_shows_each_open_positions_liquidation_price_in_a_browser(browser, tmp_path):
    """The issue's isolated long and short (9,036.1446 and 10,956.1752 at 4 places, toward earlier liquidation),
    every figure of the table at its scale: sizes at the lot's 3 places, USD at 2, BTC-PERP's prices at ``--scale``'s 4."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    rates = {"BTC-PERP": {"maintenance_margin_rate": "0.004", "initial_margin_rate": "0.01"}}
    t = "2024-08-05T00:00:00Z"
    lines = [
        {"type": "market_listed", "id": "m", "at": t, "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"},
        {"type": "rules_activated", "id": "r", "at": t, "version": "full-v1", "params": {"liquidation_fee_rate": "0", "markets": rates}},
        *[{"type": "deposit", "id": f"d-{a}", "at": t, "account": a, "asset": "USD", "amount": "5000"} for a in ("amy", "bob")],
        *[{"type": "margin_mode", "id": f"mm-{a}", "at": t, "account": a, "market": "BTC-PERP", "mode": "isolated"} for a in ("amy", "bob")],
        *[{"type": "isolated_margin", "id": f"im-{a}", "at": t, "account": a, "market": "BTC-PERP", "amount": "1000"} for a in ("amy", "bob")],
        {"type": "trade", "id": "t-a", "at": t, "account": "amy", "market": "BTC-PERP", "side": "buy", "qty": "1", "price": "10000", "fee": "0"},
        {"type": "trade", "id": "t-b", "at": t, "account": "bob", "market": "BTC-PERP", "side": "sell", "qty": "1", "price": "10000", "fee": "0"},
    ]
    history = tmp_path / "h.jsonl"
    history.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert run(url, "init")[0] == 0 and run(url, "ingest", str(history))[0] == 0
    code, _, err = run(url, "--scale", "BTC-PERP=4", "report", "--out", str(tmp_path / "r"))
    assert code == 0, err
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
         "--dump-dom", (tmp_path / "r" / "index.html").as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    assert "<h2>Open positions</h2>" in dom
    assert "<td>amy</td><td>BTC-PERP</td><td>1.000</td><td>10,000.0000</td>" in dom and "<td>9,036.1446</td>" in dom
    assert "<td>bob</td><td>BTC-PERP</td><td>-1.000</td>" in dom and "<td>10,956.1752</td>" in dom
    assert dom.count("<td>1,000.00</td>") == 2, "each isolated margin at USD's 2 places"
    assert dom.count("<td>isolated</td>") == 2


VIRIDIS_TOP, VIRIDIS_BOTTOM = (253, 231, 36), (68, 1, 84)
"""viridis at 1 and 0: a heatmap's highest and lowest cells (nothing else in the report is drawn in them)."""


def test_the_sweep_report_draws_a_heatmap_per_figure_in_a_browser(browser, tmp_path):
    """The sweep report draws a heatmap for each figure of the grid, and the heatmaps show on screen in a browser."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0 and run(url, "ingest", str(ROOT / "examples" / "sample-history.jsonl"))[0] == 0
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001", "0.01"], "target_buffer": ["0.1", "1"]}}))
    page = sweep_report(url, grid, tmp_path)
    assert "<h2>Rule sweep</h2>" in page and "rows: liquidation_fee_rate, columns: target_buffer" in page
    figures = ("liquidations", "closed_notional", "penalties", "bankruptcies", "socialized_loss",
               "insurance_fund_end", "accounts_wiped_out")
    assert all(f"alt='{figure} heatmap, partial-v1, USD'" in page for figure in figures)
    shot = screenshot(browser, tmp_path / "r" / "index.html", tmp_path / "shot.png", tmp_path / "profile")
    colours = {colour for _, colour in shot.getcolors(maxcolors=1 << 20)}
    assert VIRIDIS_TOP in colours and VIRIDIS_BOTTOM in colours, "no heatmap on screen"
    bare = tmp_path / "r" / "bare.html"
    bare.write_text(re.sub(r"src='data:image/png;base64,[^']*'(?= alt='[a-z_]+ heatmap)", "src='missing.png'", page))
    without = {c for _, c in screenshot(browser, bare, tmp_path / "bare.png", tmp_path / "profile2").getcolors(1 << 20)}
    assert VIRIDIS_TOP not in without, "the colours came from the heatmaps, not from another chart"


def test_the_report_sets_the_loss_allocation_policies_side_by_side_in_a_browser(browser, crash, tmp_path):
    """`report --loss-allocation` on the main job's crash (the fund runs dry) adds the policies side by side: the
    summary in words, a chart of how each world paid its bankruptcies (the socialized share in tab:red, which no
    other chart of this report uses) and the accounts that paid most, the same as the what-if's JSON; on screen."""
    url = crash
    policies = ["--loss-allocation", "socialize-v1", "--loss-params", str(PARAMS / "socialize-v1.json"),
                "--loss-allocation", "adl-prorata-v1", "--loss-params", str(PARAMS / "adl-prorata-v1.json")]
    code, _, err = run(url, "report", "--out", str(tmp_path / "r"), *policies)
    assert code == 0, err
    code, out, _ = run(url, "whatif", *policies, "--format", "json")
    top = json.loads(out)["loss_allocation"]["adl-prorata-v1"]["paid_by"][0]
    page = (tmp_path / "r" / "index.html").read_text()
    assert "<h2>Loss allocation: policies side by side</h2>" in page and "data-file='allocation-0.png'" in page
    assert f"<td>adl-prorata-v1</td><td>{top['account']}</td><td>USD</td><td>{top['fills']}</td>" in page
    assert "Under adl-prorata-v1: a deficit of" in page and f"most: {top['account']}" in page
    shot = screenshot(browser, tmp_path / "r" / "index.html", tmp_path / "shot.png", tmp_path / "profile")
    assert TAB_RED in {colour for _, colour in shot.getcolors(maxcolors=1 << 20)}, "the allocation chart is not on screen"
    bare = tmp_path / "r" / "bare.html"
    bare.write_text(re.sub(r"src='data:image/png;base64,[^']*'(?= alt='how each world)", "src='missing.png'", page))
    without = {c for _, c in screenshot(browser, bare, tmp_path / "bare.png", tmp_path / "profile2").getcolors(1 << 20)}
    assert TAB_RED not in without, "the red came from the allocation chart, not from another"


@freeze_time("2026-03-04 05:06:07")
def test_the_report_states_its_provenance_and_fits_the_page_in_a_browser(browser, crash, tmp_path):
    """#26 point 2: the report opens with where it comes from (generated when, from which database, up to which event
    and chain hash, the activations in force with their params, what it compares), its what-if figures are at their
    display scale, and in a 700-pixel window nothing is wider than the page (charts shrink to fit)."""
    url = crash
    params = PARAMS / "full-v1.json"
    code, _, err = run(url, "report", "--out", str(tmp_path / "r"), "--whatif", "full-v1", "--params", str(params))
    assert code == 0, err
    head = run(url, "verify")[1].split()
    whatif = json.loads(run(url, "whatif", "--rules", "full-v1", "--params", str(params), "--format", "json")[1])
    page = tmp_path / "r" / "index.html"
    probe = tmp_path / "r" / "probe.html"  # the same page, telling its laid-out width through its title
    probe.write_text(page.read_text().replace("</body>", "<script>document.title = 'width ' + "
                                              "document.documentElement.scrollWidth;</script></body>"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}",
         "--window-size=700,900", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    assert "<h2>Provenance</h2>" in dom and "2026-03-04T05:06:07.000000Z (UTC)" in dom and url in dom
    assert f"event #{head[1]}" in dom and head[-1] in dom, "the head and its chain hash"
    assert "r-partial-v1" in dom and "la-ranked" in dom and "adl-ranked-v1" in dom, "every activation, with its params"
    assert f"rule version full-v1 with params {params}" in dom
    notional = Decimal(whatif["summary"]["USD"]["notional_liquidated"]["alternative"])
    assert f"<td>{notional.quantize(Decimal('0.01')):,}</td>" in dom, "the what-if's figures at USD's 2 places"
    width = int(re.search(r"<title>width (\d+)</title>", dom).group(1))
    assert width <= 700, f"the page is {width} pixels wide in a 700-pixel window: something does not fit"


def test_every_chart_names_its_axes_and_their_units(tmp_path, monkeypatch):
    """#26 point 2: an account's chart says its time axis is UTC and its figures are in the settle asset."""
    from ledger.reports import html as report
    from ledger.reports.plotting import plt
    from ledger.reports.timeline import Series

    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)
    series = Series("amy", ["2024-08-05T00:00:00.000000Z", "2024-08-05T00:10:00.000000Z"])
    series.equity, series.maintenance, series.target = [1, 2], [0, 0], [0, 0]
    report._chart(series, tmp_path / "a.png", "USD")
    [figure] = drawn
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in figure.axes] == [("time (UTC)", "USD")]


def test_a_sweep_of_three_parameters_draws_every_slice_in_a_browser(browser, tmp_path):
    """#26 point 2: with a third parameter (here the loss-allocation policy) the report draws one set of heatmaps per
    value of it, each titled with the value it holds, never silently one slice; every one shows on screen."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0 and run(url, "ingest", str(ROOT / "examples" / "sample-history.jsonl"))[0] == 0
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"grid": {"liquidation_fee_rate": ["0.001", "0.01"], "target_buffer": ["0.1", "1"],
                                         "loss_allocation": ["socialize-v1", {"version": "adl-ranked-v1",
                                                                              "params": {"cash_quantum": "0.01"}}]}}))
    page = sweep_report(url, grid, tmp_path)
    assert "one set of heatmaps for each value of loss_allocation (every slice)" in page
    for policy in ("socialize-v1", "adl-ranked-v1"):
        assert f"<h3>partial-v1, USD, loss_allocation={policy}</h3>" in page
        assert f"alt='penalties heatmap, partial-v1, USD, loss_allocation={policy}'" in page
    shot = screenshot(browser, tmp_path / "r" / "index.html", tmp_path / "shot.png", tmp_path / "profile")
    assert VIRIDIS_TOP in {colour for _, colour in shot.getcolors(maxcolors=1 << 20)}
    images = re.findall(r"data-file='(sweep-\d+\.png)'", page)
    assert len(images) == 2 * 7, "every figure, for each of the two slices"
