"""#29: what each console page downloads is exactly what the CLI prints for the same point (JSON and CSV), and every
page honours its point: ``as_of`` (business time) and ``known_at`` (recorded time)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

from ledger import Ledger
from tests.support.builders import deposit, listed
from tests.support.cli import ok
from tests.support.console import CRASH_ACCOUNT, CRASH_LIQUIDATION, client

BEFORE_THE_CRASH = "2024-08-05T00:10:00Z"


def _json(test_client, path: str) -> object:
    answer = test_client.get(path)
    assert answer.status_code == 200, answer.text[-500:]
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


def test_each_json_download_is_the_clis_json_at_the_head(crash):
    """Balances, one account, its history, the engine's three records, an explanation and the rules: the console's
    JSON equals the CLI's, figure for figure (decimal strings)."""
    cli = {
        "/balances": ["balances"], f"/accounts/{CRASH_ACCOUNT}": ["account", CRASH_ACCOUNT],
        f"/accounts/{CRASH_ACCOUNT}?table=history": ["history", CRASH_ACCOUNT],
        "/liquidations": ["liquidations"], "/bankruptcies": ["bankruptcies"], "/deleverages": ["deleverages"],
        "/liquidations?account=trader-22": ["liquidations", "--account", "trader-22"],
        "/rules": ["rules", "list"],
    }
    with client(crash) as console:
        for path, args in cli.items():
            joined = "&" if "?" in path else "?"
            assert _json(console, f"{path}{joined}format=json") == json.loads(ok(crash, *args, "--format", "json")), path
        explained = _json(console, f"/events/{quote(CRASH_LIQUIDATION, safe='')}?format=json")
    assert explained == json.loads(ok(crash, "explain", CRASH_LIQUIDATION, "--format", "json"))


def test_json_downloads_at_an_as_of_are_the_clis_at_that_time(crash):
    """With ``as_of`` the console answers as ``--as-of`` (balances, account) and ``--to`` (history, liquidations) do;
    the figures differ from the head's, so the point was honoured."""
    with client(crash) as console:
        point = f"as_of={BEFORE_THE_CRASH}"
        balances = _json(console, f"/balances?{point}&format=json")
        account = _json(console, f"/accounts/{CRASH_ACCOUNT}?{point}&format=json")
        history = _json(console, f"/accounts/{CRASH_ACCOUNT}?{point}&table=history&format=json")
        liquidations = _json(console, f"/liquidations?{point}&format=json")
        head = _json(console, f"/accounts/{CRASH_ACCOUNT}?format=json")
    assert balances == json.loads(ok(crash, "balances", "--as-of", BEFORE_THE_CRASH, "--format", "json"))
    assert account == json.loads(ok(crash, "account", CRASH_ACCOUNT, "--as-of", BEFORE_THE_CRASH, "--format", "json"))
    assert history == json.loads(ok(crash, "history", CRASH_ACCOUNT, "--to", BEFORE_THE_CRASH, "--format", "json"))
    assert liquidations == json.loads(ok(crash, "liquidations", "--to", BEFORE_THE_CRASH, "--format", "json")) == []
    assert account["accounts"][CRASH_ACCOUNT]["equity"] != head["accounts"][CRASH_ACCOUNT]["equity"]


def test_csv_downloads_are_the_clis_csv(crash):
    """The balances statement, the positions and an account's history download as the CLI writes them, byte for byte
    (``--safe-csv`` with ``safe=1``)."""
    with client(crash) as console:
        pairs = {
            "/balances?format=csv&table=statement": ["balances", "--format", "csv"],
            "/balances?format=csv&table=positions": ["balances", "--positions", "--format", "csv"],
            "/balances?format=csv&table=statement&safe=1": ["balances", "--format", "csv", "--safe-csv"],
            f"/accounts/{CRASH_ACCOUNT}?format=csv&table=history": ["history", CRASH_ACCOUNT, "--format", "csv"],
            "/liquidations?format=csv": ["liquidations", "--format", "csv"],
            "/deleverages?format=csv": ["deleverages", "--format", "csv"],
        }
        for path, args in pairs.items():
            answer = console.get(path)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv"), path
            assert "attachment" in answer.headers["content-disposition"]
            assert answer.text == ok(crash, *args), path


def test_the_accounts_list_agrees_with_the_balances_and_the_rules(crash):
    """Each account's equity is the balances' figure; the margin ratio is maintenance / equity (8 places) and an
    account the engine liquidated is found by the "liquidated in a period" filter, one that was not is not."""
    with client(crash) as console:
        rows = _json(console, "/accounts?format=json")["accounts"]
        balances = _json(console, "/balances?format=json")
        window = _json(console, "/accounts?liquidated_from=2024-08-05T00:15:00Z&liquidated_to=2024-08-05T00:15:55Z"
                                "&format=json")["accounts"]
        risky = _json(console, "/accounts?at_risk=6.5&format=json")["accounts"]
    by_name = {row["account"]: row for row in rows}
    for name, account in balances["accounts"].items():
        assert by_name[name]["equity"] == account["equity"]
    for row in rows:
        if row["margin_ratio"] is not None and Decimal(row["maintenance_margin"]) > 0:
            exact = Decimal(row["maintenance_margin"]) / Decimal(row["equity"])
            assert abs(Decimal(row["margin_ratio"]) - exact) <= Decimal("0.000000005")
    assert {row["account"] for row in window} == {"trader-22"}, "the only liquidations in those 55 s are trader-22's"
    assert {row["account"] for row in risky} == {name for name, row in by_name.items() if row["distance_to_liquidation"]
                                                 and Decimal(row["distance_to_liquidation"]) <= Decimal("0.065")}
    assert risky and len(risky) < len(rows), "the filter keeps some accounts and leaves others out"


def test_the_insurance_fund_chart_ends_at_the_fund_in_the_balances(crash):
    """The insurance fund series (penalties in, covers out) ends, for each settle asset, at the fund the balances
    report holds, at the head and before the evening wick drained it."""
    ends = {}
    with client(crash) as console:
        for point in ("", "as_of=2024-08-05T12:00:00Z"):
            overview = _json(console, f"/?{point}&format=json")
            system = _json(console, f"/balances?{point}&format=json")["system"]["insurance_fund"]
            for asset, series in overview["insurance_fund"].items():
                assert series[-1]["fund"] == system[asset], (point, asset)
            ends[point] = Decimal(overview["insurance_fund"]["USD"][-1]["fund"])
    assert ends["as_of=2024-08-05T12:00:00Z"] > 0 and ends[""] == 0, "the crash filled the fund, the wick drained it"


def test_known_at_shows_only_what_was_recorded_by_then(db_url, tmp_path):
    """A page at ``known_at`` shows what the ledger had recorded by then, as ``history --known-at`` does; an ingest
    recorded later is left out, and the same page at the head shows it."""
    first, later = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    with Ledger.open(db_url, clock=lambda: first) as ledger:
        ledger.init()
        ledger.append([listed(), deposit("alice", "100", t=1, id="d1")])
    with Ledger.open(db_url, clock=lambda: later) as ledger:
        ledger.append([deposit("alice", "50", t=2, id="d2")])
    known = (first + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with client(db_url) as console:
        then = _json(console, f"/accounts/alice?known_at={known}&format=json")
        now = _json(console, "/accounts/alice?format=json")
        history = _json(console, f"/accounts/alice?known_at={known}&table=history&format=json")
        refused = console.get("/accounts/alice?known_at=2020-01-01")
    assert then["accounts"]["alice"]["cash"] == {"USD": "100"} and now["accounts"]["alice"]["cash"] == {"USD": "150"}
    assert history == json.loads(ok(db_url, "history", "alice", "--known-at", known, "--format", "json"))
    assert refused.status_code == 400 and "knew nothing" in refused.text


def test_the_account_pages_history_table_is_the_clis_history_page_by_page(crash):
    """The account page's history (read a page at a time, not replayed whole) shows the CLI's rows: every page of 7
    rows, at the head and as of before the crash, lists the same events in order, the last page the remainder."""
    for point, args in (("", []), (f"as_of={BEFORE_THE_CRASH}&", ["--to", BEFORE_THE_CRASH])):
        rows = json.loads(ok(crash, "history", CRASH_ACCOUNT, *args, "--format", "json"))
        with client(crash) as console:
            for page in range(1, -(-len(rows) // 7) + 1):
                answer = console.get(f"/accounts/{CRASH_ACCOUNT}?{point}per=7&page={page}")
                assert answer.status_code == 200
                table = answer.text.split('<table class="history">', 1)[1].split("</table>", 1)[0]
                shown = re.findall(r'<tr class="row-[a-z_]+"><td class="num">(\d+)</td>', table)
                assert [int(seq) for seq in shown] == [row["seq"] for row in rows[(page - 1) * 7:page * 7]], page
                assert f"{len(rows)} rows" in answer.text
