"""The perpetual account model (issue 16): funding payments, isolated margin, liquidation prices.

Every example runs on both backends (the ``ledger`` fixture), through the
public API; the refusals also through the CLI's ingest (exit 2, file:line,
nothing stored).
"""

from __future__ import annotations

import csv
import json
import re
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch, Mark
from ledger.domain.postings import trial_balance
from ledger.domain.state import LedgerState, clone
from ledger.engine.liquidation import liquidation_price, scope_view, version_in_force
from ledger.engine.session import fold_batch
from ledger.reports.balances import balances
from tests.support.builders import (
    deposit,
    funding,
    isolated_margin,
    margin_mode,
    mark,
    rules,
    trade,
    two_markets,
)
from tests.support.cli import run
from tests.support.histories import MARKETS, activations

D = Decimal
FLAT_04 = {"BTC-PERP": {"maintenance_margin_rate": "0.004", "initial_margin_rate": "0.01"},
           "ETH-PERP": {"maintenance_margin_rate": "0.01", "initial_margin_rate": "0.02"}}
"""A maintenance rate of 0.4% on BTC-PERP: the issue's liquidation-price figures."""


def four_places(text: str) -> Decimal:
    return D(text).quantize(D("0.0001"), ROUND_HALF_EVEN)


def report_of(ledger, account: str) -> dict:
    return balances(ledger.state())["accounts"][account]


def refused(ledger, events, *needles: str) -> str:
    head = ledger.head_seq()
    with pytest.raises(InvalidBatch) as info:
        ledger.append(events)
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert ledger.head_seq() == head, "nothing of a refused batch is stored"
    return message


# -- 1. funding ---------------------------------------------------------------------------------------------------

def long_and_short(ledger, rules_event=None):
    ledger.append([*two_markets(), *([rules_event] if rules_event else []),
                   deposit("alice", "10000"), deposit("bob", "10000"),
                   trade("alice", "buy", "0.5", "60000", fee="3"), trade("bob", "sell", "0.5", "60000", fee="3"),
                   mark("58000", t=3)])


def test_funding_moves_cash_from_longs_to_shorts_at_the_mark_and_nowhere_else(ledger):
    """Funding moves size × mark × rate from the longs' cash to the shorts', touching neither PnL nor entry; the books balance."""
    long_and_short(ledger)
    before = ledger.state()
    ledger.append([funding("0.0001", t=4, id="f-1")])
    state = ledger.state()
    payment = D("0.5") * D("58000") * D("0.0001")  # 2.9: size x P x rate, P the last mark
    alice, bob = state.accounts["alice"], state.accounts["bob"]
    assert alice.cash["USD"] == before.accounts["alice"].cash["USD"] - payment
    assert bob.cash["USD"] == before.accounts["bob"].cash["USD"] + payment
    assert alice.positions["BTC-PERP"].funding_paid == payment and bob.positions["BTC-PERP"].funding_paid == -payment
    for name in ("alice", "bob"):  # not PnL, not the entry price
        assert state.accounts[name].positions["BTC-PERP"].realized_pnl == before.accounts[name].positions["BTC-PERP"].realized_pnl
        assert state.accounts[name].positions["BTC-PERP"].entry_price == D("60000")
    assert state.system["funding"]["USD"] == 0, "longs and shorts equal: funding sums to zero"
    assert all(total == 0 for total in trial_balance(state).values())
    shown = report_of(ledger, "alice")["positions"]["BTC-PERP"]
    assert D(shown["funding_paid"]) == payment and D(shown["unrealized_pnl"]) == D("-1000")
    assert D(report_of(ledger, "bob")["positions"]["BTC-PERP"]["funding_paid"]) == -payment


def test_a_negative_rate_makes_shorts_pay_and_an_unbalanced_book_leaves_the_venue_the_difference(ledger):
    """A negative funding rate makes shorts pay longs; when the sides are unequal the venue's funding account holds the net."""
    ledger.append([*two_markets(), deposit("alice", "10000"), deposit("bob", "10000"),
                   trade("alice", "buy", "0.3", "60000"), trade("bob", "sell", "0.5", "60000"), mark("60000", t=3),
                   funding("-0.001", t=4)])
    state = ledger.state()
    assert state.accounts["alice"].cash["USD"] == D("10000") + D("18")  # long receives 0.3 x 60000 x 0.001
    assert state.accounts["bob"].cash["USD"] == D("10000") - D("30")
    assert state.system["funding"]["USD"] == D("12"), "the venue's funding account holds the net"


def test_before_any_mark_funding_is_refused_and_one_a_log_holds_still_replays_at_the_last_trade(ledger):
    """An append refuses funding before its market's first mark (#27 point 13: a fill's price would value every
    position); a log written before that rule replays as it did: such a funding priced at the market's last trade,
    whichever account made it."""
    events = [*two_markets(), deposit("alice", "10000"), deposit("bob", "10000"),
              trade("alice", "buy", "1", "60000", t=2), trade("bob", "sell", "0.2", "61000", t=2.5)]
    ledger.append(events)
    with pytest.raises(InvalidBatch, match="market 'BTC-PERP' has no mark yet"):
        ledger.append([funding("0.001", t=4)])
    recorded = LedgerState()
    fold_batch(recorded, [(e.id, e) for e in [*events, funding("0.001", t=4)]])  # no input limits: as recorded
    assert recorded.accounts["alice"].positions["BTC-PERP"].funding_paid == D("61")


def test_funding_paid_starts_again_when_the_position_closes_or_flips(ledger):
    """Funding paid is kept through a partial close and starts again from zero when the position flips to the other side."""
    long_and_short(ledger)
    ledger.append([funding("0.001", t=4), trade("alice", "sell", "0.2", "58000", t=5)])
    assert ledger.state().accounts["alice"].positions["BTC-PERP"].funding_paid == D("29"), "a partial close keeps it"
    ledger.append([trade("alice", "sell", "0.5", "58000", t=6)])  # 0.3 long -> 0.2 short: a new position
    assert ledger.state().accounts["alice"].positions["BTC-PERP"].funding_paid == 0


def test_funding_that_distresses_an_account_liquidates_it_with_the_funding_as_trigger_and_the_audit_agrees(ledger):
    """Funding that distresses an account liquidates it at the last mark with the funding as trigger, and the audit agrees."""
    ledger.append([*two_markets(), rules(), deposit("alice", "3200"), deposit("bob", "100000"),
                   trade("alice", "buy", "1", "60000"), trade("bob", "sell", "1", "60000"), mark("57500", t=3)])
    # alice: E = 3200 - 2500 = 700 >= MM 287.5; a 1.5% funding costs her 862.5
    result = ledger.append([funding("0.015", t=4, id="f-big")])
    liquidations = [e for _, e in ledger.liquidations()]
    assert result.engine_events >= 1 and liquidations, "the funding liquidated alice"
    assert {e.trigger for e in liquidations} == {"f-big"} and {e.account for e in liquidations} == {"alice"}
    assert all(e.price == D("57500") and e.id.startswith("f-big/liq/alice/") for e in liquidations)
    assert [record["trigger"] for record in ledger.liquidation_records()] == ["f-big"] * len(liquidations)
    report = ledger.audit()
    assert report.ok, report.discrepancies
    assert report.liquidations_checked == len(liquidations)


@pytest.mark.parametrize(("line", "needle"), [
    ('{"type": "funding", "id": "f-x", "at": "2024-08-05T08:00:00Z", "market": "DOGE-PERP", "rate": "0.0001"}',
     "unknown market 'DOGE-PERP'"),
    ('{"type": "funding", "id": "f-x", "at": "2024-08-05T08:00:00Z", "market": "ETH-PERP", "rate": "0.0001"}',
     "neither a mark nor a trade"),
    ('{"type": "funding", "id": "f-x", "at": "2024-08-05T08:00:00Z", "market": "BTC-PERP", "rate": "1"}',
     "rate must be between -1 and 1"),
    ('{"type": "funding", "id": "f-x", "at": "2024-08-05T08:00:00Z", "market": "BTC-PERP", "rate": "-1.5"}',
     "rate must be between -1 and 1"),
    ('{"type": "funding", "id": "f-x", "at": "2024-08-05T08:00:00Z", "market": "BTC-PERP", "rate": 0.0001}',
     "JSON number 0.0001 is not allowed"),
    ('{"type": "funding", "id": "f-x", "at": "2024-08-05T08:00:00Z", "market": "BTC-PERP", "rate": "1e-4"}',
     "not a plain decimal string"),
    ('{"type": "funding", "id": "f-1", "at": "2024-08-05T08:00:00Z", "market": "BTC-PERP", "rate": "0.0002"}',
     "already stored with different content"),
])
def test_a_bad_funding_line_is_refused_naming_file_and_line_and_nothing_is_stored(db_url, tmp_path, line, needle):
    """A bad funding line (unknown or unpriced market, rate not between -1 and 1, bad figure, reused id) is refused by line.
    Ingest exits 2 naming the file and line, and nothing of the file is stored."""
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join([
        '{"type": "market_listed", "id": "m-btc", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"}',
        '{"type": "market_listed", "id": "m-eth", "at": "2024-08-05T00:00:00Z", "market": "ETH-PERP", "settle_asset": "USD", "lot_size": "0.01"}',
        '{"type": "deposit", "id": "d-1", "at": "2024-08-05T00:01:00Z", "account": "alice", "asset": "USD", "amount": "1000"}',
        '{"type": "trade", "id": "t-1", "at": "2024-08-05T00:02:00Z", "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.01", "price": "60000", "fee": "0"}',
        '{"type": "mark", "id": "k-1", "at": "2024-08-05T00:03:00Z", "market": "BTC-PERP", "price": "58900"}',
        '{"type": "funding", "id": "f-1", "at": "2024-08-05T08:00:00Z", "market": "BTC-PERP", "rate": "0.0001"}',
    ]) + "\n")
    assert run(db_url, "init")[0] == 0 and run(db_url, "ingest", str(good))[0] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "deposit", "id": "d-2", "at": "2024-08-05T08:00:00Z", "account": "bob", "asset": "USD", "amount": "5"}\n'
                   + line + "\n")
    code, out, err = run(db_url, "ingest", str(bad))
    assert code == 2 and f"{bad}:2" in err and needle in err, err
    code, out, _ = run(db_url, "balances", "--format", "json")
    assert "bob" not in json.loads(out)["accounts"], "nothing of the refused file is stored"


# -- 2. isolated margin --------------------------------------------------------------------------------------------

def isolated_bob(ledger, rules_event=None, margin="1000", cash="5000", events=()):
    ledger.append([*two_markets(), *([rules_event] if rules_event else []), deposit("bob", cash),
                   margin_mode("bob"), isolated_margin("bob", margin), *events])


def test_an_isolated_position_settles_fees_pnl_and_funding_against_its_margin_and_hands_back_the_rest(ledger):
    """An isolated position settles fees, PnL and funding against its own margin, and on closing hands the rest to cross cash."""
    isolated_bob(ledger, events=[
        trade("bob", "buy", "1", "10000", fee="4", t=2), mark("10500", t=3), funding("0.001", t=4),
        trade("bob", "sell", "0.4", "10600", fee="2", t=5),
    ])
    bob = ledger.state().accounts["bob"]
    assert bob.cash["USD"] == D("4000"), "cross cash: 5000 less the 1000 moved in, nothing else"
    # margin: 1000 - 4 fee - 10.5 funding + 0.4 x 600 realized - 2 fee
    assert bob.isolated["BTC-PERP"] == D("1223.5")
    shown = report_of(ledger, "bob")
    position = shown["positions"]["BTC-PERP"]
    assert position["margin_mode"] == "isolated" and D(position["isolated_margin"]) == D("1223.5")
    assert D(position["isolated_equity"]) == D("1223.5") + D("0.6") * (D("10500") - D("10000"))
    assert D(shown["cross_equity"]) == D("4000")
    assert D(shown["equity"]) == D("4000") + D(position["isolated_equity"]), "equity stays the total"
    ledger.append([trade("bob", "sell", "0.6", "10700", fee="1", t=6)])  # closes it: 1223.5 + 420 - 1 comes back
    bob = ledger.state().accounts["bob"]
    assert bob.isolated["BTC-PERP"] == 0 and bob.cash["USD"] == D("4000") + D("1642.5")
    rows = ledger.history("bob")
    assert rows[-1]["id"] == "t-bob-6-BTC-PERP" and D(rows[-1]["cash"]["USD"]) == D("5642.5")
    funding_rows = [r for r in rows if r["type"] == "funding"]
    assert len(funding_rows) == 1 and "paid 10.5" in funding_rows[0]["what"]


def test_an_isolated_position_is_liquidated_alone_and_its_bankruptcy_never_touches_cross_cash(ledger):
    """An isolated position in distress is liquidated alone, and its bankruptcy is never paid from the account's cross cash."""
    ledger.append([*two_markets(), rules(markets=FLAT_04, buffer="0"), deposit("carol", "5000"), deposit("bob", "5000"),
                   deposit("dave", "100000"),
                   trade("carol", "sell", "0.1", "10000", t=1.2),  # a cross position that earns the crash
                   margin_mode("bob"), isolated_margin("bob", "1000"),
                   trade("bob", "buy", "1", "10000", t=2), trade("dave", "sell", "0.9", "10000", t=2)])
    assert ledger.append([mark("9100", t=3)]).engine_events == 0, "900 of 1000 lost: isolated equity 100 >= MM 36.4"
    ledger.append([mark("8000", t=4, id="k-crash")])
    made = [e for _, e in ledger.liquidations()]
    assert [(e.account, e.market, e.qty) for e in made] == [("bob", "BTC-PERP", D("1"))]
    assert made[0].equity_before == D("-1000") and made[0].maintenance_before == D("32")
    bankruptcies = ledger.bankruptcies()
    assert [(b.account, b.market, b.deficit) for _, b in bankruptcies] == [("bob", "BTC-PERP", D("1000"))]
    state = ledger.state()
    assert state.accounts["bob"].cash["USD"] == D("4000"), "the cross cash never pays for the isolated position"
    assert state.accounts["bob"].isolated["BTC-PERP"] == 0
    assert state.system["socialized_loss"]["USD"] == D("-1000"), "the fund was empty: socialized"
    assert ledger.audit().ok


def test_a_trade_closing_an_isolated_position_in_deficit_is_that_positions_bankruptcy(ledger):
    """A trade closing an isolated position at a loss beyond its margin is that position's bankruptcy; cross cash is spared."""
    isolated_bob(ledger, margin="100", events=[trade("bob", "buy", "1", "10000", t=2),
                                               trade("bob", "sell", "1", "9850", fee="1", t=3, id="t-close")])
    (_, bankruptcy), = ledger.bankruptcies()
    assert bankruptcy.trigger == "t-close" and bankruptcy.market == "BTC-PERP" and bankruptcy.deficit == D("51")
    assert bankruptcy.rule_version == "none" and bankruptcy.id == "t-close/bankruptcy/bob/BTC-PERP"
    state = ledger.state()
    assert state.accounts["bob"].cash["USD"] == D("4900") and state.accounts["bob"].isolated["BTC-PERP"] == 0
    assert ledger.audit().ok
    explained = ledger.explain(bankruptcy.id)
    assert explained["trigger"]["type"] == "trade" and explained["account_before"]["margin"] == "isolated BTC-PERP"


def test_a_cross_accounts_distress_never_touches_its_isolated_position_and_vice_versa(ledger):
    """A cross account in distress is liquidated without touching its isolated position or that position's margin."""
    ledger.append([*two_markets(), rules(markets=FLAT_04, buffer="0"), deposit("bob", "3000"), deposit("dave", "100000"),
                   margin_mode("bob", market="ETH-PERP"), isolated_margin("bob", "2000", market="ETH-PERP"),
                   trade("bob", "buy", "1", "3000", market="ETH-PERP", t=2),
                   trade("bob", "buy", "1", "10000", t=2), trade("dave", "sell", "1", "10000", t=2),
                   trade("dave", "sell", "1", "3000", market="ETH-PERP", t=2)])
    ledger.append([mark("9000", t=3)])  # cross: 1000 - 1000 = 0 < MM 36: the BTC position goes, not ETH
    made = [e for _, e in ledger.liquidations()]
    assert {(e.account, e.market) for e in made} == {("bob", "BTC-PERP")}
    state = ledger.state()
    assert state.accounts["bob"].positions["ETH-PERP"].size == 1 and state.accounts["bob"].isolated["ETH-PERP"] == D("2000")


def test_each_isolated_position_keeps_its_own_rule_memory(ledger):
    """stepped-v1's cooldown after a partial close of the cross account does not cool the isolated position."""
    from tests.support.builders import stepped

    ledger.append([*two_markets(), stepped(threshold="1000", fraction="0.2", cooldown="600", fee="0"),
                   deposit("bob", "30000"), deposit("dave", "1000000"),
                   margin_mode("bob", market="ETH-PERP"), isolated_margin("bob", "1500", market="ETH-PERP"),
                   trade("bob", "buy", "5", "10000", t=2), trade("dave", "sell", "5", "10000", t=2),
                   trade("bob", "buy", "50", "3000", market="ETH-PERP", t=2),
                   trade("dave", "sell", "50", "3000", market="ETH-PERP", t=2)])
    ledger.append([mark("4310", t=3)])  # the cross account (BTC): E = 28500 - 28450 = 50 < MM 107.75, steps down
    assert [e.account + "/" + e.market for _, e in ledger.liquidations()] == ["bob/BTC-PERP"]
    # a minute later the isolated ETH position: E = 1500 - 250 = 1250 < MM 1497.5, above the backstop's 0.6667 x MM
    ledger.append([mark("2995", market="ETH-PERP", t=4)])
    eth = [e for _, e in ledger.liquidations() if e.market == "ETH-PERP"]
    assert eth and eth[0].reason.startswith("step"), "its own memory: no cooldown from the cross account's close"


def test_balances_keep_every_field_and_add_the_perpetual_ones(ledger):
    """Balances keep every earlier field of an account and of a position, and add the perpetual ones beside them.
    Account: cross equity, isolated margins; position: funding paid, margin mode, liquidation price, isolated margin, equity."""
    isolated_bob(ledger, rules(markets=FLAT_04), events=[trade("bob", "buy", "1", "10000", t=2), mark("10000", t=3)])
    shown = report_of(ledger, "bob")
    assert set(shown) >= {"cash", "positions", "equity", "cross_equity", "isolated_margin"}
    position = shown["positions"]["BTC-PERP"]
    assert set(position) == {"size", "entry_price", "mark_price", "unrealized_pnl", "realized_pnl", "funding_paid",
                             "margin_mode", "liquidation_price", "isolated_margin", "isolated_equity"}
    assert shown["cash"] == {"USD": "4000"} and shown["isolated_margin"] == {"BTC-PERP": "1000"}


def test_a_liquidation_closing_an_isolated_position_hands_back_what_is_left_of_its_margin(ledger):
    """full-v1 closes the whole position with equity left: the rest goes back to cross cash in the same event."""
    ledger.append([*two_markets(), rules(version="full-v1", markets=FLAT_04, fee="0.002", buffer=None),
                   deposit("bob", "5000"), deposit("dave", "100000"), margin_mode("bob"), isolated_margin("bob", "1000"),
                   trade("bob", "buy", "1", "10000", t=2), trade("dave", "sell", "1", "10000", t=2), mark("9030", t=3)])
    (_, liquidation), = ledger.liquidations()
    # isolated equity 1000 - 970 = 30 < MM 36.12; penalty 0.002 x 9030 = 18.06; 11.94 left comes back
    assert liquidation.equity_before == D("30") and liquidation.penalty == D("18.06")
    bob = ledger.state().accounts["bob"]
    assert bob.isolated["BTC-PERP"] == 0 and bob.cash["USD"] == D("4000") + D("11.94")
    assert "isolated margin 11.940 back to cross cash" in ledger.history("bob")[-1]["what"]
    assert ledger.bankruptcies() == []


def test_reconcile_names_isolated_margins_and_the_funding_account_and_export_carries_the_new_fields(ledger, tmp_path):
    """Reconcile checks isolated margins (``account@market``) and the funding account, and export carries the perpetual fields."""
    isolated_bob(ledger, events=[deposit("alice", "1000", t=1.7), trade("bob", "buy", "1", "10000", t=2),
                                 trade("alice", "sell", "0.5", "10000", t=2), mark("10000", t=3), funding("0.001", t=4)])
    statement = tmp_path / "statement.csv"
    statement.write_text("account,asset,balance\nalice,USD,1005\nbob,USD,4000\nbob@BTC-PERP,USD,980\n"
                         "system:funding,USD,5\n")
    lines, breaks = ledger.reconcile(statement, include_system=True)
    assert lines == 4
    mine = {(b["account"], b["asset"]): b for b in breaks}
    assert D(mine["bob@BTC-PERP", "USD"]["ledger"]) == 990  # 1000 - 10 funding: the statement's 980 breaks
    assert ("alice", "USD") not in mine and ("bob", "USD") not in mine and ("system:funding", "USD") not in mine
    counts = ledger.export(tmp_path / "out", "csv")
    rows = list(csv.DictReader((tmp_path / "out" / "events.csv").open()))
    assert counts["events"] == len(rows)
    assert [(r["type"], r["rate"]) for r in rows if r["type"] == "funding"] == [("funding", "0.001")]
    assert [(r["account"], r["mode"]) for r in rows if r["type"] == "margin_mode"] == [("bob", "isolated")]
    balances_csv = (tmp_path / "out" / "balances.csv").read_text()
    assert "bob@BTC-PERP,USD,990" in balances_csv and "system:funding,USD,5" in balances_csv
    exported = {r["account"]: r for r in csv.DictReader((tmp_path / "out" / "positions.csv").open())}
    assert exported["bob"]["margin_mode"] == "isolated" and Decimal(exported["bob"]["funding_paid"]) == 10


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.integers(1, 500), min_size=1, max_size=6), rate=st.integers(-9999, 9999),
       isolated=st.lists(st.booleans(), min_size=12, max_size=12), price=st.integers(5000, 20000))
def test_funding_sums_to_zero_across_positions_when_longs_and_shorts_are_equal(sizes, rate, isolated, price):
    """Each long's size is matched by shorts of the same total (split differently), cross or isolated: what the longs
    pay the shorts receive, to the last digit, and the system funding account is unchanged."""
    events = [*two_markets(), deposit("mm", "100000000")]
    total = sum(sizes)
    shorts = [total // 2, total - total // 2] if total > 1 else [total]
    book = [(f"l{n}", "buy", size) for n, size in enumerate(sizes)] + [(f"s{n}", "sell", size) for n, size in enumerate(shorts) if size]
    events += [deposit(name, "100000") for name, _, _ in book]
    fenced = [name for n, (name, _, _) in enumerate(book) if isolated[n % len(isolated)]]
    events += [margin_mode(name, t=1.5) for name in fenced] + [isolated_margin(name, "50000", t=1.6) for name in fenced]
    events += [trade(name, side, str(D("0.001") * size), str(price), t=2) for name, side, size in book]
    events += [mark(str(price), t=3), funding(str(D(rate) / 100000), t=4)]
    state = LedgerState()
    fold_batch(state, [(e.id, e) for e in events])
    assert state.system["funding"].get("USD", D(0)) == 0
    paid = sum((a.positions["BTC-PERP"].funding_paid for a in state.accounts.values() if "BTC-PERP" in a.positions), D(0))
    assert paid == 0
    assert all(total == 0 for total in trial_balance(state).values())


@pytest.mark.parametrize(("events", "needle"), [
    ([isolated_margin("bob", "6000", t=1.7)], "exceeds the cross cash 4000"),
    ([isolated_margin("bob", "-1000.01", t=1.7)], "below zero"),
    ([isolated_margin("bob", "100", market="ETH-PERP", t=1.7)], "margins ETH-PERP cross"),
    ([trade("bob", "buy", "1", "10000", t=2), margin_mode("bob", "cross", t=2.5)], "has an open position of 1"),
    ([margin_mode("bob", "cross", t=2.5)], "still has 1000 of isolated margin"),
    ([trade("bob", "buy", "1", "10000", t=2), isolated_margin("bob", "-950", t=2.5)], "below its initial margin 100"),
    ([trade("bob", "buy", "30", "100", market="ETH-PERP", t=2), trade("carol", "sell", "30", "100", market="ETH-PERP", t=2),
      margin_mode("carol", t=2.5), isolated_margin("carol", "990", t=2.5)],
     "leave the cross equity 10 of 'carol' below its initial margin 60"),
])
def test_isolated_margin_refusals_name_the_event_and_store_nothing(ledger, events, needle):
    """An isolated margin move or mode switch that breaks a margin rule is refused with its reason, and nothing is stored."""
    isolated_bob(ledger, rules(markets=FLAT_04), events=[deposit("carol", "1000", t=1.7)])
    refused(ledger, events, needle)


# -- 3. liquidation price ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("side", "expected"), [("buy", "9036.1446"), ("sell", "10956.1753")])
def test_the_issues_liquidation_prices_of_an_isolated_position(ledger, side, expected):
    """An isolated long's and short's liquidation prices are the issue's figures, in the full and the one-account replay alike."""
    isolated_bob(ledger, rules(markets=FLAT_04), events=[trade("bob", side, "1", "10000", t=2), mark("10000", t=3)])
    price = report_of(ledger, "bob")["positions"]["BTC-PERP"]["liquidation_price"]
    assert four_places(price) == D(expected)
    account = ledger.account("bob")
    assert four_places(balances(account, "bob", system=False)["accounts"]["bob"]["positions"]["BTC-PERP"]
                       ["liquidation_price"]) == D(expected), "the one-account replay shows the same price"


def test_no_liquidation_price_without_rules_or_for_a_long_its_margin_fully_covers(ledger):
    """A position has no liquidation price while no rules are in force, nor does a long whose margin covers its whole notional."""
    isolated_bob(ledger, margin="1000", events=[trade("bob", "buy", "0.05", "10000", t=2), mark("10000", t=3)])
    assert report_of(ledger, "bob")["positions"]["BTC-PERP"]["liquidation_price"] is None, "no rules in force"
    ledger.append([rules(markets=FLAT_04, t=4, id="r-late")])
    assert report_of(ledger, "bob")["positions"]["BTC-PERP"]["liquidation_price"] is None, "1000 covers 500 of notional"


def test_the_liquidation_price_table_rounds_toward_the_side_that_liquidates_earlier(db_url, tmp_path):
    """In tables a liquidation price rounds toward earlier liquidation (a short's down, a long's up) at its market's scale."""
    history = tmp_path / "h.jsonl"
    lines = [
        {"type": "market_listed", "id": "m", "at": "2024-08-05T00:00:00Z", "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"},
        {"type": "rules_activated", "id": "r", "at": "2024-08-05T00:00:00Z", "version": "full-v1",
         "params": {"liquidation_fee_rate": "0", "markets": {"BTC-PERP": FLAT_04["BTC-PERP"]}}},
        {"type": "deposit", "id": "d", "at": "2024-08-05T00:00:00Z", "account": "bob", "asset": "USD", "amount": "1000"},
        {"type": "deposit", "id": "d2", "at": "2024-08-05T00:00:00Z", "account": "amy", "asset": "USD", "amount": "1000"},
        {"type": "trade", "id": "t", "at": "2024-08-05T00:00:00Z", "account": "bob", "market": "BTC-PERP", "side": "sell", "qty": "1", "price": "10000", "fee": "0"},
        {"type": "trade", "id": "t2", "at": "2024-08-05T00:00:00Z", "account": "amy", "market": "BTC-PERP", "side": "buy", "qty": "1", "price": "10000", "fee": "0"},
    ]
    history.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert run(db_url, "init")[0] == 0 and run(db_url, "ingest", str(history))[0] == 0
    code, out, _ = run(db_url, "balances")  # the table (plain, piped): prices at USD's 2 places, for reading
    assert code == 0
    assert "liq 10,956.17 " in out, "a short's price rounds down (10956.17529...)"
    assert "liq 9,036.15 " in out, "a long's rounds up (9036.14457...)"
    code, out, _ = run(db_url, "--scale", "BTC-PERP=4", "balances", "--positions")  # this market's prices at 4 places
    assert code == 0
    assert re.search(r"\bbob\s.*\s10,956\.1752\s", out) and re.search(r"\bamy\s.*\s9,036\.1446\s", out), out


# -- liquidation prices over generated accounts -------------------------------------------------------------------

@st.composite
def accounts(draw):
    """One account 'a' against a well-funded counterparty: cash, one or two positions (either side), one of them
    perhaps isolated with part of the cash as its margin, the marks moved from the entries."""
    events = [*two_markets(), draw(activations), deposit("a", str(draw(st.integers(200, 20000)))),
              deposit("mm", "100000000")]
    markets = draw(st.sampled_from([["BTC-PERP"], ["ETH-PERP"], ["BTC-PERP", "ETH-PERP"]]))
    isolated = draw(st.sampled_from([None, *markets]))
    if isolated is not None:
        events += [margin_mode("a", market=isolated, t=1.5), isolated_margin("a", str(draw(st.integers(50, 150))),
                                                                             market=isolated, t=1.6)]
    for market in markets:
        lot, base = MARKETS[market]
        side = draw(st.sampled_from(["buy", "sell"]))
        qty = str(lot * draw(st.integers(1, 300 if market == "BTC-PERP" else 200)))
        events += [trade("a", side, qty, str(base), market=market, t=2),
                   trade("mm", "sell" if side == "buy" else "buy", qty, str(base), market=market, t=2)]
    for market in markets:
        _, base = MARKETS[market]
        events.append(mark(str(D(base) * draw(st.integers(970, 1030)) / 1000), market=market, t=3))
    return events


def _liquidates(state, market, price) -> bool:
    trial = clone(state)
    outcome = fold_batch(trial, [("probe", Mark(id="probe", at=state.last_at, market=market, price=price))])
    return any(getattr(e, "account", None) == "a" for e in outcome.to_append[1:])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=accounts())
def test_a_mark_just_past_the_liquidation_price_liquidates_and_one_just_before_does_not(events):
    """A mark one tick past an account's liquidation price liquidates it and one tick before does not."""
    state = LedgerState()
    try:
        fold_batch(state, [(e.id, e) for e in events])
    except InvalidBatch:
        return  # the generated account could not be opened (an isolated margin move refused): nothing to check
    acct = state.accounts["a"]
    version, params = version_in_force(state.rules)
    tick = D("0.0001")
    for market in acct.open_markets():
        price = liquidation_price(state, "a", market, state.rules)
        long = acct.positions[market].size > 0
        scope = acct.scope_of(market)
        view = scope_view(state, "a", scope, "USD")
        (trigger,) = [t for t in version.triggers(view, params) if t.market == market]
        if price is None:
            assert long, "a short can always be squeezed"
            assert not _liquidates(state, market, tick), "no price above zero distresses it"
            continue
        assert (price <= trigger.price) if long else (price >= trigger.price), "the index's bound would miss it"
        past, before = (price - tick, price + tick) if long else (price + tick, price - tick)
        if past > 0:
            assert _liquidates(state, market, past), f"{market} {'long' if long else 'short'}: {past} past {price}"
        assert not _liquidates(state, market, before), f"{market}: {before} before {price} liquidates"
