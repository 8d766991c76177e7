"""#27 point 13: fills far from the mark, and prices before a market's first mark, no longer move money by contract.

The attack as the adversary ran it: an isolated position on a 3,000 market,
then a fill at price 1: the position was bankrupt and 2,699 socialized. A
fill must now lie within a band around its market's last mark (25% by
default, ``--price-band``); before a market's first mark, within the band of
the fills before it, and no funding is taken until the mark exists. The band
decides what is accepted, never what a replay computes: a log that holds a
fill outside it replays, audits and re-runs in a what-if as it did.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger import InvalidBatch, Ledger
from tests.conftest import fixed_clock
from tests.support.builders import deposit, funding, isolated_margin, listed, margin_mode, mark, rules, trade
from tests.support.cli import run

D = Decimal


def _isolated_long(ledger: Ledger, account: str = "alice", margin: str = "400") -> None:
    """``account`` isolated long 1 ETH at 3,000 with ``margin`` in it; bob holds the other side."""
    ledger.append([listed("ETH-PERP", lot="0.01"), rules(markets={"ETH-PERP": {"maintenance_margin_rate": "0.01",
                                                                               "initial_margin_rate": "0.02"}}),
                   deposit(account, "1000"), deposit("bob", "100000"), mark("3000", market="ETH-PERP", t=1.2),
                   margin_mode(account, market="ETH-PERP"), isolated_margin(account, margin, market="ETH-PERP"),
                   trade(account, "buy", "1", "3000", market="ETH-PERP", t=2),
                   trade("bob", "sell", "1", "3000", market="ETH-PERP", t=2.1)])


def test_a_fill_at_1_on_a_3000_market_socialized_a_loss_without_the_band_and_is_refused_with_it(db_url, tmp_path):
    """The attack: mallory, isolated long 1 at 3,000 with 301 of margin, closes at price 1; without a band (as
    before) the 2,999 loss leaves a deficit of 2,698 nobody holds, which the ledger books as the others' loss. With
    the default band the same fill is refused naming it, and nothing is stored."""
    for banded, url in ((False, f"sqlite:///{tmp_path / 'before.db'}"), (True, db_url)):
        ledger = Ledger.open(url, clock=fixed_clock, price_band=D("0.25") if banded else None)
        ledger.init()
        _isolated_long(ledger, "mallory", "301")
        head = ledger.store.head()[0]
        attack = [trade("mallory", "sell", "1", "1", market="ETH-PERP", t=3, id="t-at-1")]
        if banded:
            with pytest.raises(InvalidBatch, match=r"event t-at-1: price 1 is outside the price band of ETH-PERP: "
                                                   r"within 25% of its last mark 3000 \(2250\.00 to 3750\.00\)"):
                ledger.append(attack)
            assert ledger.store.head()[0] == head, "nothing stored"
            assert ledger.bankruptcies() == []
        else:
            ledger.append(attack)
            [(_, bankrupt)] = ledger.bankruptcies()
            assert (bankrupt.account, bankrupt.socialized_loss) == ("mallory", D("2698")), "the attack worked"
        ledger.close()


def test_the_band_edges_are_exact_and_the_option_sets_it(db_url):
    """At 25% the fill at exactly 2,250 or 3,750 is taken and 2,249.99 refused; a band of 0.5 takes 1,500."""
    ledger = Ledger.open(db_url, clock=fixed_clock)
    ledger.init()
    _isolated_long(ledger)
    ledger.append([trade("bob", "buy", "0.01", "2250", market="ETH-PERP", t=3, id="low"),
                   trade("bob", "buy", "0.01", "3750", market="ETH-PERP", t=3, id="high")])
    with pytest.raises(InvalidBatch, match=r"price 2249\.99 is outside"):
        ledger.append([trade("bob", "buy", "0.01", "2249.99", market="ETH-PERP", t=3, id="below")])
    ledger.close()
    wide = Ledger.open(db_url, clock=fixed_clock, price_band=D("0.5"))
    wide.append([trade("bob", "buy", "0.01", "1500", market="ETH-PERP", t=3, id="wide")])
    wide.close()


def test_before_the_first_mark_fills_agree_with_each_other_and_funding_waits_for_the_mark(db_url):
    """A market without a mark: the second fill must lie within the band of the first (a self-trade at 1 after an
    honest fill at 3,000 is refused), and funding is refused until the first mark, which then unlocks it."""
    ledger = Ledger.open(db_url, clock=fixed_clock)
    ledger.init()
    ledger.append([listed("ETH-PERP", lot="0.01"), deposit("alice", "1000"), deposit("mallory", "1000"),
                   trade("alice", "buy", "0.1", "3000", market="ETH-PERP", t=2)])
    with pytest.raises(InvalidBatch, match=r"price 1 is outside the price band of ETH-PERP: within 25% of its last "
                                           r"fill \(no mark yet\) 3000"):
        ledger.append([trade("mallory", "sell", "0.1", "1", market="ETH-PERP", t=2.5, id="self")])
    with pytest.raises(InvalidBatch, match="market 'ETH-PERP' has no mark yet"):
        ledger.append([funding("0.01", market="ETH-PERP", t=3)])
    ledger.append([mark("3000", market="ETH-PERP", t=3), funding("0.01", market="ETH-PERP", t=4)])
    assert ledger.state().accounts["alice"].positions["ETH-PERP"].funding_paid == D("3")
    ledger.close()


def test_a_log_holding_a_fill_outside_the_band_replays_audits_and_reruns_as_before(sqlite_url):
    """The band decides acceptance only: a fill taken without it (an older release, or ``off``) is in the log for
    good; the replay, the audit and a what-if re-run of the same version take it as recorded."""
    unbanded = Ledger.open(sqlite_url, clock=fixed_clock, price_band=None)
    unbanded.init()
    _isolated_long(unbanded)
    unbanded.append([trade("bob", "buy", "0.5", "100", market="ETH-PERP", t=3, id="far")])
    before = unbanded.balances()
    unbanded.close()
    ledger = Ledger.open(sqlite_url, clock=fixed_clock)
    assert ledger.balances() == before
    assert ledger.audit().ok
    whatif = ledger.whatif("partial-v1")
    assert whatif is not None
    ledger.close()


def test_the_command_line_names_the_line_and_takes_the_band_option(tmp_path):
    """``ingest`` refuses the far fill naming FILE:LINE (exit 2, nothing stored); ``--price-band off`` takes it;
    a band that is no share is a usage error (exit 2) naming the option."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    assert run(url, "init")[0] == 0
    lines = [{"type": "market_listed", "id": "m", "at": "2024-08-05T00:00:00Z", "market": "ETH-PERP",
              "settle_asset": "USD", "lot_size": "0.01"},
             {"type": "deposit", "id": "d", "at": "2024-08-05T00:01:00Z", "account": "bob", "asset": "USD",
              "amount": "1000"},
             {"type": "mark", "id": "k", "at": "2024-08-05T00:02:00Z", "market": "ETH-PERP", "price": "3000"},
             {"type": "trade", "id": "t", "at": "2024-08-05T00:03:00Z", "account": "bob", "market": "ETH-PERP",
              "side": "buy", "qty": "0.1", "price": "1", "fee": "0"}]
    path = tmp_path / "far.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    status, _, err = run(url, "ingest", str(path))
    assert status == 2 and f"{path}:4" in err and "outside the price band" in err, err
    assert run(url, "verify")[1].startswith("ok: 0 events")
    for bad in ("0", "-0.1", "eleven", "11"):
        status, _, err = run(url, "--price-band", bad, "ingest", str(path))
        assert status == 2 and "--price-band" in err, (bad, err)
    status, _, err = run(url, "--price-band", "off", "ingest", str(path))
    assert status == 0, err
