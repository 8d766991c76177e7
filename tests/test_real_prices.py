"""Issue 12, the main job on real prices: Binance's BTCUSDT perpetual of 12 March 2020, minute by minute.

``examples/real_history.py`` turns its bars into marks (the high and the low
inside each bar, in the order the bar's direction implies, then the close);
the history goes through ingest, the audit and the report, and the demo's
summary in words reads the what-if against full-v1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from ledger import Ledger
from tests.conftest import ROOT, SHARED, fixed_clock
from tests.support.cli import run

MINUTES = SHARED / "data" / "binance_um_BTCUSDT_1m_2020-03-12_0931-1329.csv"
HOURS = SHARED / "data" / "binance_spot_BTCUSDT_1h_2020-03-11_2020-03-14.csv"


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    if not MINUTES.is_file():
        pytest.skip("../shared/data is not beside the project")
    out = tmp_path_factory.mktemp("real") / "real.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples" / "real_history.py"), str(MINUTES), str(out)], check=True)
    return out


def test_every_bar_becomes_its_extremes_then_its_close(history):
    """Every minute bar becomes three marks, its extremes then its close, in time order, spanning the crash's trough and peak."""
    marks = [json.loads(line) for line in history.read_text().splitlines() if '"type": "mark"' in line]
    assert len(marks) == 3 * 239
    prices = [Decimal(m["price"]) for m in marks]
    assert min(prices) == Decimal("5199.17") and max(prices) == Decimal("7388.82"), "the README's trough and peak"
    assert [m["at"] for m in marks] == sorted(m["at"] for m in marks)


def test_the_real_crash_goes_through_ingest_the_audit_and_the_report(history, tmp_path):
    """The real crash ingests, its liquidations (all triggered by marks) pass the audit, and the report draws its charts."""
    url = f"sqlite:///{tmp_path / 'real.db'}"
    with Ledger.open(url, clock=fixed_clock) as ledger:
        ledger.init()
        ledger.ingest_file(history)
        liquidations = ledger.liquidations()
        assert len(liquidations) > 10 and {e.trigger[:2] for _, e in liquidations} == {"k-"}
        report = ledger.audit()
        assert report.ok and report.liquidations_checked == len(liquidations)
        index = ledger.report(tmp_path / "report")
    page = index.read_text()
    assert page.count("src='data:image/png;base64,") >= 2 and "Open positions" in page


def test_the_hourly_spot_layout_is_read_newest_first_and_the_summary_speaks_in_words(tmp_path):
    """Hourly spot bars, stored newest first, become marks in time order with funding, and the what-if summary reads in words."""
    if not HOURS.is_file():
        pytest.skip("../shared/data is not beside the project")
    out = tmp_path / "hours.jsonl"
    subprocess.run([sys.executable, str(ROOT / "examples" / "real_history.py"), str(HOURS), str(out)], check=True)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    marks = [r for r in records if r["type"] == "mark"]
    assert marks[0]["at"] < marks[-1]["at"] and len(marks) == 3 * 96
    assert any(r["type"] == "funding" for r in records), "funding at 00:00, 08:00 and 16:00 inside the series"
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert run(url, "init")[0] == 0 and run(url, "ingest", str(out))[0] == 0
    code, whatif, _ = run(url, "whatif", "--rules", "full-v1", "--params", str(ROOT / "examples/params/full-v1.json"),
                          "--format", "json")
    assert code == 0
    words = subprocess.run([sys.executable, str(ROOT / "examples" / "summarize.py"), "R.html"], input=whatif,
                           capture_output=True, text=True, check=True).stdout
    assert words.startswith("In USD, partial-v1 made ") and "full-v1 would have made" in words and "R.html" in words


def test_the_market_comes_from_the_file(tmp_path):
    """#26 point 3: ETH bars make ETH-PERP, BTC bars BTC-PERP (ETH prices are never traded as BTC-PERP), from the
    file's symbol column or its name; a file that says neither is refused asking for --market."""
    if not HOURS.is_file():
        pytest.skip("../shared/data is not beside the project")
    eth = next(HOURS.parent.glob("*ETHUSDT_1h*.csv"))
    for bars, market in ((eth, "ETH-PERP"), (HOURS, "BTC-PERP"), (MINUTES, "BTC-PERP")):
        out = tmp_path / f"{bars.stem}.jsonl"
        done = subprocess.run([sys.executable, str(ROOT / "examples" / "real_history.py"), str(bars), str(out)],
                              check=True, capture_output=True, text=True)
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert done.stdout.strip() == market and {r["market"] for r in records if "market" in r} == {market}, bars
    anonymous = tmp_path / "bars.csv"
    anonymous.write_text(MINUTES.read_text())
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "real_history.py"), str(anonymous),
                           str(tmp_path / "x.jsonl")], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "give --market" in done.stderr
