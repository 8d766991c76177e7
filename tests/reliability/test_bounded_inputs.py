"""#15 points 8, 9, 11 and 12: inputs bounded so that nothing is rounded away, nothing looks alike, nothing absurd is
believed, and nothing the engine derives from them is refused by its own audit.

Each written as the attack first (what the ledger did before), then the refusal naming the line, on both backends.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Funding, InvalidBatch, Ledger
from ledger.domain.money import CONTEXT, arithmetic
from tests.conftest import fixed_clock
from tests.support.builders import deposit, listed, mark, rules, trade
from tests.support.cli import run

T0 = "2024-08-05T00:00:00Z"


def _ingest(db_url, tmp_path, lines: list[dict]) -> tuple[int, str]:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    assert run(db_url, "init")[0] == 0
    code, _, err = run(db_url, "ingest", str(path))
    return code, err.replace(str(path), "FILE")


LISTED = {"type": "market_listed", "id": "m", "at": T0, "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"}


# -- point 9: money never rounded away -------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "reason"), [
    ("0." + "0" * 70 + "1", "amount has 71 decimal places, at most 18 are allowed"),  # the attack: 10^-71
    ("1000000000000000000", "amount is 10^18 or more"),
    ("0.0000000000000000001", "amount has 19 decimal places"),
])
def test_an_amount_the_books_cannot_hold_exactly_is_refused_naming_its_line(db_url, tmp_path, amount, reason):
    """An amount with more than 18 decimal places, or of 10^18 or more, is refused at ingest, naming its line."""
    code, err = _ingest(db_url, tmp_path, [
        {"type": "deposit", "id": "d-1", "at": T0, "account": "alice", "asset": "USD", "amount": "999"},
        {"type": "deposit", "id": "d-2", "at": T0, "account": "alice", "asset": "USD", "amount": amount},
    ])
    assert code == 2 and f"FILE:2: {reason}" in err


def test_at_the_bounds_every_posting_is_exact_and_a_rounding_sum_would_raise(ledger):
    """At the bounds (18 decimal places, a trillion) cash is booked exactly, and an inexact sum raises instead of rounding."""
    ledger.append([listed(lot="0.000000000000000001"), deposit("alice", "0.000000000000000001", t=1),
                   deposit("alice", "999999999999.999999999999999999", t=1, id="d-big")])
    assert ledger.state().accounts["alice"].cash["USD"] == Decimal("1000000000000.000000000000000000")
    with arithmetic(), pytest.raises(ArithmeticError):  # the context traps Inexact: a rounded sum is a bug, never silent
        Decimal("1e200") + Decimal("1e-200")
    assert CONTEXT.prec == 120


# -- point 12: absurd but well-formed values -------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "reason"), [
    ({"type": "trade", "id": "t-1", "at": T0, "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.001",
      "price": "60000", "fee": "-100000000000"}, "fee -100000000000 is outside what a venue charges on a fill of notional 60"),
    ({"type": "trade", "id": "t-1", "at": T0, "account": "alice", "market": "BTC-PERP", "side": "buy", "qty": "0.001",
      "price": "60000", "fee": "7"}, "a fee of at most 10%"),
    ({"type": "rules_activated", "id": "r", "at": T0, "version": "partial-v1", "params": {
        "liquidation_fee_rate": "0.002", "target_buffer": "100000000000000000",
        "markets": {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}}},
     "target_buffer must be in [0, 10]"),
    ({"type": "rules_activated", "id": "r", "at": T0, "version": "partial-v1", "params": {
        "liquidation_fee_rate": "0.002", "target_buffer": "0.1",
        "markets": {"BTC-PERP": {"maintenance_margin_rate": "0.000000000000000001", "initial_margin_rate": "0.01"}}}},
     "maintenance_margin_rate must be in [0.0001, 1)"),
    ({"type": "rules_activated", "id": "r", "at": T0, "version": "partial-v1", "params": {
        "liquidation_fee_rate": "0.5", "target_buffer": "0.1",
        "markets": {"BTC-PERP": {"maintenance_margin_rate": "0.005", "initial_margin_rate": "0.01"}}}},
     "liquidation_fee_rate must be in [0, 0.1]"),
])
def test_an_absurd_fee_or_parameter_is_refused_naming_its_line(db_url, tmp_path, line, reason):
    """A fee or rebate beyond what a venue charges on the fill, or a rule parameter out of range, is refused naming its line."""
    code, err = _ingest(db_url, tmp_path, [LISTED, line])
    assert code == 2 and "FILE:2: " in err and reason in err, err


def test_a_rebate_within_the_bound_is_accepted(ledger):
    """A negative fee (a rebate) within the bound is accepted and credited to the account's cash."""
    ledger.append([listed(), deposit("alice", "100", t=1), trade("alice", "buy", "1", "60000", fee="-600", t=2)])
    assert ledger.state().accounts["alice"].cash["USD"] == Decimal("700")


# -- point 11: names that look alike ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("account", "reason"), [
    ("al\u200bice", "account contains an invisible format character (U+200B)"),
    ("alice\u202e", "account contains an invisible format character (U+202E)"),
    ("al\u00a0ice", "account contains a space other than U+0020 (U+00A0)"),
])
def test_a_name_with_invisible_or_look_alike_characters_is_refused(db_url, tmp_path, account, reason):
    """A name with an invisible format character or a space other than U+0020 is refused, naming its line."""
    code, err = _ingest(db_url, tmp_path, [
        {"type": "deposit", "id": "d-1", "at": T0, "account": "alice", "asset": "USD", "amount": "1"},
        {"type": "deposit", "id": "d-2", "at": T0, "account": account, "asset": "USD", "amount": "1"},
    ])
    assert code == 2 and f"FILE:2: {reason}" in err, err


def test_names_are_normalised_to_nfc_so_one_name_is_one_account(db_url, tmp_path):
    """Names are normalised to NFC, so two spellings of one name are one account, and re-ingesting either stores nothing new."""
    composed, decomposed = "jos\u00e9", "jose\u0301"  # the same name, one code point or two
    code, _ = _ingest(db_url, tmp_path, [
        {"type": "deposit", "id": "d-1", "at": T0, "account": composed, "asset": "USD", "amount": "1"},
        {"type": "deposit", "id": "d-2", "at": T0, "account": decomposed, "asset": "USD", "amount": "2"},
    ])
    assert code == 0
    report = json.loads(run(db_url, "balances", "--format", "json")[1])
    assert list(report["accounts"]) == [composed] and Decimal(report["accounts"][composed]["cash"]["USD"]) == 3
    code, _ = _ingest(db_url, tmp_path, [  # and ingesting it again stores nothing new
        {"type": "deposit", "id": "d-2", "at": T0, "account": decomposed, "asset": "USD", "amount": "2"},
    ])
    assert code == 0 and run(db_url, "verify")[1].startswith("ok: 2 events")
    assert run(db_url, "audit")[0] == 0


# -- point 8: what the engine derives fits the limits its audit checks -----------------------------------------------

def test_long_names_and_wide_figures_the_engine_derives_pass_its_own_audit(db_url):
    """A 190-character mark id liquidating a 190-character account in a 190-character market (a 580-character
    liquidation id), and closes whose figures carry more digits than any input may: the audit re-derives them all."""
    account, market, mark_id = "a" * 190, "M" * 190, "k" * 190
    with Ledger.open(db_url, clock=fixed_clock) as ledger:
        ledger.init()
        rates = {market: {"maintenance_margin_rate": "0.0123456789012345", "initial_margin_rate": "0.0234567890123456"}}
        ledger.append([
            listed(market, lot="0.000000000000000001", id="m"),
            rules(markets=rates, fee="0.0012345678901234", buffer="0.333333"),
            deposit(account, "123.456789012345678", t=1, id="d-a"), deposit("mm", "100000000", t=1),
            trade(account, "buy", "0.123456789012345678", "9876.54321098765432", market=market, t=2, id="t-a"),
            trade("mm", "sell", "0.123456789012345678", "9876.54321098765432", market=market, t=2, id="t-mm"),
            mark("8765.432109876543210987", market=market, t=3, id=mark_id),
        ])
        made = [e for _, e in ledger.liquidations()]
        assert made and len(made[0].id) == 190 + 5 + 190 + 1 + 190
        assert max(len(str(e.equity_before).replace(".", "").lstrip("-0")) for e in made) > 30, "wider than any input"
        report = ledger.audit()
        assert report.ok, report.discrepancies
        assert report.liquidations_checked == len(made)


def test_an_ingested_id_or_name_longer_than_200_characters_is_refused(db_url, tmp_path):
    """An ingested id longer than 200 characters is refused, naming its line."""
    code, err = _ingest(db_url, tmp_path, [
        {"type": "deposit", "id": "d" * 201, "at": T0, "account": "alice", "asset": "USD", "amount": "1"}])
    assert code == 2 and "FILE:1: id is longer than 200 characters" in err


def test_the_python_api_holds_events_to_the_same_bounds_and_stores_nothing_of_a_refused_batch(ledger):
    """The Python API refuses out-of-bounds events as ingest does, and stores nothing of a refused batch."""
    with pytest.raises(InvalidBatch, match="account contains an invisible format character"):
        ledger.append([deposit("alice", "1", t=1), deposit("al\u200bice", "1", t=1, id="d-2")])
    with pytest.raises(InvalidBatch, match="event d-3: amount has 71 decimal places"):
        ledger.append([deposit("alice", "0." + "0" * 70 + "1", t=1, id="d-3")])
    with pytest.raises(InvalidBatch, match="id is longer than 200 characters"):
        ledger.append([deposit("alice", "1", t=1, id="d" * 201)])
    assert ledger.head_seq() == 0


def _extreme(draw, places: int, whole: int) -> str:
    """A decimal string at the edges of the bounds: up to ``whole`` digits before the point and ``places`` after."""
    digits = draw(st.integers(1, whole))
    integer = str(draw(st.integers(10 ** (digits - 1), 10**digits - 1)))
    fraction = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=places, max_size=places))).rstrip("0")
    return integer + ("." + fraction if fraction else "")


def _digits(draw, count: int) -> str:
    return "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=count, max_size=count)))


@st.composite
def extreme_histories(draw):
    lot = "0." + "0" * 17 + "1"  # the finest lot the bounds allow
    name = "n" * 200
    events = [listed(name[:200], lot=lot, id="m"),
              rules(markets={name: {"maintenance_margin_rate": "0.01" + _digits(draw, 16),
                                    "initial_margin_rate": "0.5"}},
                    fee="0.00" + _digits(draw, 16),
                    buffer="0.333333333333333333")]
    two = ["a" * 200, "b" * 200]
    for n, account in enumerate(two):
        events.append(deposit(account, _extreme(draw, 18, 11), t=1, id=f"d{n}"))
    price = _extreme(draw, 12, 6)
    size = "0." + _extreme(draw, 17, 1).replace(".", "")[:17].rjust(17, "0") + "1"
    events += [trade(two[0], "buy", size, price, market=name, t=2, id="t0"),
               trade(two[1], "sell", size, price, market=name, t=2, id="t1")]
    for n in range(draw(st.integers(1, 4))):
        move = Decimal(price) * Decimal(draw(st.integers(50, 150))) / 100
        events.append(mark(str(move.quantize(Decimal("0.000000000001"))), market=name, t=3 + n, id="k" * 190 + str(n)))
        events.append(Funding(id=f"f{n}", at=events[-1].at, market=name, rate=Decimal("0.0" + _digits(draw, 17))))
    return events


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=extreme_histories())
def test_generated_extremes_never_produce_an_event_the_audit_refuses(events):
    """Inputs at the bounds (200-character names and ids, 18 decimal places, 18-digit rates, the finest lot), marks and
    funding that liquidate: every event the engine derives passes the audit's own checks, and the books stay exact."""
    with Ledger.open("memory://", clock=fixed_clock) as ledger:
        ledger.init()
        for event in events:
            try:
                ledger.append([event])
            except InvalidBatch:
                continue  # a generated record the ledger refuses (a rate rounded past 18 places): stored nothing
        report = ledger.audit()
        assert report.ok, report.discrepancies
