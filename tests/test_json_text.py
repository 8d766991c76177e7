"""The fast writers of hashed and snapshotted text write exactly what the reference writers do.

A whole-ledger snapshot's text is bound in the log by its digest, so its
bytes are forever: ``canonical_json_of_plain`` (orjson) must write the text
of ``canonical_json`` (the standard library) byte for byte, and ``to_str``
(``str`` where it can) the text of ``format(value, "f")``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import events as ev
from ledger.domain.jsontext import canonical_json, canonical_json_of_plain, canonical_object
from ledger.domain.money import to_str
from ledger.domain.snapshot import dump_state, load_state
from ledger.domain.state import AccountState, LedgerState, MarketState, Position, RulesInForce
from ledger.engine.session import fold_batch
from tests.conftest import at
from tests.support.builders import RATES, deposit, listed, mark, rules, trade
from tests.support.every_type import one_of_each


def every_code_point() -> list[str]:
    """Every code point but the surrogates (about 94 MiB as a list: built in the test that needs it, not held)."""
    return [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def reference_to_str(value: Decimal) -> str:
    """``to_str`` as it was written before its ``str`` fast path."""
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def test_every_code_point_is_written_alike_as_a_value_and_as_a_key():
    """Escapes (the quote, the backslash, each control character) and everything left raw, one code point at a time,
    then all of them in one string."""
    chars = every_code_point()
    for char in chars:
        data = {char: [char, f"a{char}b"]}
        assert canonical_json_of_plain(data) == canonical_json(data), f"U+{ord(char):04X}"
    data = {"all": "".join(chars)}
    assert canonical_json_of_plain(data) == canonical_json(data)


def test_keys_are_sorted_by_code_point_across_every_plane():
    """One dict keyed by every 251st code point, from every plane: sorted alike (UTF-8's byte order is code point
    order; a writer sorting UTF-16 units would put U+FF5A after U+1F600)."""
    data = {chr(c) + "k": str(c) for c in range(0, sys.maxunicode + 1, 251) if not 0xD800 <= c <= 0xDFFF}
    data.update({"\uff5a": "z", "\U0001f600": "face", "\u00e9": "e"})
    assert canonical_json_of_plain(data) == canonical_json(data)


@pytest.mark.parametrize("value", [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**40, True, False, None])
def test_integers_booleans_and_none_are_written_alike_past_64_bits_too(value):
    """orjson refuses an integer past 64 bits: the reference writes it."""
    assert canonical_json_of_plain({"v": [value]}) == canonical_json({"v": [value]})


def test_a_lone_surrogate_falls_back_to_the_reference_writer():
    """orjson refuses a string that is not valid Unicode; the reference writes it raw, and so the text is the same."""
    data = {"name": "a\ud800b", "\udfff": 1}
    assert canonical_json_of_plain(data) == canonical_json(data)


def test_what_orjson_alone_would_write_is_refused_or_written_as_the_reference_does():
    """A time, a dataclass or a subclass of a plain type would be written by orjson where the standard library refuses
    or writes it otherwise: passed through, orjson refuses, so a slip raises (or writes) as it always did."""
    with pytest.raises(TypeError):
        canonical_json_of_plain({"last_at": datetime(2026, 1, 1, tzinfo=UTC)})
    with pytest.raises(TypeError):
        canonical_json_of_plain([Pair(1, 2)])

    class Name(str):
        pass

    data = {Name("b"): [Name("x")], "a": True}
    assert canonical_json_of_plain(data) == canonical_json(data)


@dataclass
class Pair:
    left: int
    right: int


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=40,
)


@given(PLAIN)
def test_generated_plain_data_is_written_alike(data):
    """Nested lists and objects of any text, integers past 64 bits, booleans and None: the same text."""
    assert canonical_json_of_plain(data) == canonical_json(data)


@given(st.dictionaries(st.text(max_size=6), PLAIN, max_size=8))
def test_an_object_written_a_member_at_a_time_is_the_whole_object_s_text(members):
    """``canonical_object`` of members written one by one is ``canonical_json`` of the whole (keys sorted alike,
    escaped alike)."""
    assert canonical_object({key: canonical_json(value) for key, value in members.items()}) == canonical_json(members)


def test_a_float_is_where_the_writers_differ_so_a_snapshot_holds_none():
    """The reason ``canonical_json_of_plain`` takes no float: the two writers disagree on one silently."""
    assert canonical_json_of_plain([1e-7]) != canonical_json([1e-7])  # "1e-7" against "1e-07"
    assert canonical_json_of_plain([float("nan")]) != canonical_json([float("nan")])  # "null" against "NaN"


DECIMALS = st.builds(
    lambda sign, digits, exponent: Decimal((sign, digits, exponent)),
    st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=40).map(tuple), st.integers(-70, 70),
) | st.decimals(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [Decimal(x) for x in ("0", "-0", "0E-8", "-0E-8", "0E+3", "-0E+3", "1E-6", "1E-7", "0.000001", "0.0000001",
                          "1E+1", "10", "-0.00", "123.4500", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity")])


@given(DECIMALS)
def test_to_str_is_the_fixed_point_text_of_every_decimal(value):
    """Every sign, digit count and exponent, the zeros and the special values: never scientific notation, and the
    text ``format(value, "f")`` gives."""
    assert to_str(value) == reference_to_str(value)


def test_to_str_at_the_edges_of_scientific_notation():
    """Where ``str`` switches to scientific notation (six zeros after the point, a positive exponent) and negative
    zero, the text is still fixed-point."""
    assert [to_str(Decimal(x)) for x in ("1E-6", "1E-7", "1.5E+3", "-0", "-0.0", "0E-9", "-0E+2", "12.300")] == [
        "0.000001", "0.0000001", "1500", "0", "-0.0", "0.000000000", "0", "12.300"]


def _text_is_canonical(text: str) -> None:
    """A snapshot's text is the reference writer's text of its own content (sorted, compact, the same escapes)."""
    assert text == canonical_json(json.loads(text))
    assert orjson.loads(text) == json.loads(text)


def test_every_snapshot_of_a_history_of_every_type_is_the_reference_text():
    """After every event of a history holding every event type (rules, loss allocation, isolated margin, funding,
    liquidations, bankruptcy, deleveraging), the snapshot is canonical JSON of what it holds, and loads back."""
    _, _, states = one_of_each()
    for text in states:
        _text_is_canonical(text)
        assert dump_state(load_state(text)) == text


def test_a_snapshot_of_names_from_every_plane_is_the_reference_text():
    """Account names outside ASCII (accents, Greek, Han from the first plane and past it) and one with a quote and a
    backslash sort and escape in the snapshot as the reference writer does."""
    names = ["zoë", "Ωμέγα", "账户", "\U00020000户", 'quote"back\\slash', "alice", "Zed", "\u00e9"]
    history = [listed(), rules(markets={"BTC-PERP": RATES["BTC-PERP"]})]
    history += [deposit(name, "100000", t=1 + n / 100) for n, name in enumerate(names)]
    history += [trade(name, "buy" if n % 2 else "sell", "0.5", "60000", t=2 + n / 100) for n, name in enumerate(names)]
    history += [mark("59000", t=3)]
    state = LedgerState()
    for event in history:
        fold_batch(state, [(event.id, event)])
    assert set(names) <= set(state.accounts)
    text = dump_state(state)
    _text_is_canonical(text)
    assert list(json.loads(text)["accounts"]) == sorted(state.accounts)
    assert dump_state(load_state(text)) == text


def test_rules_params_are_written_by_the_reference_writer_whatever_they_hold():
    """The rules' params are a developer's object, of any shape (``RulesActivated.params`` is any mapping, through
    the Python API): the snapshot writes them with ``canonical_json`` itself, a float as the standard library
    writes it ("1e-07", where orjson writes "1e-7")."""
    state = LedgerState()
    for event in [listed(), rules(markets={"BTC-PERP": RATES["BTC-PERP"]}),
                  ev.LossAllocationActivated(id="la-ü", at=at(2), version="adl-ranked-v1",
                                             params={"cash_quantum": "0.01"})]:
        fold_batch(state, [(event.id, event)])
    text = dump_state(state)
    _text_is_canonical(text)
    assert json.loads(text)["loss_allocation_history"][0]["event_id"] == "la-ü"
    odd = RulesInForce("partial-v1", ev.freeze({"rate": 1e-7, "nested": [{"z": 2**70, "a": None}]}), "r-odd", at(3))
    state.rules_history, state.loss_allocation_history = [*state.rules_history, odd], [odd]
    text = dump_state(state)
    _text_is_canonical(text)
    assert '"rate":1e-07' in text and '"z":1180591620717411303424' in text


def odd_figures() -> LedgerState:
    """A state whose every kind of figure holds decimals ``str`` would write in scientific notation or as a negative
    zero: each must be written fixed-point, as ``format(value, "f")`` writes it."""
    state = LedgerState()
    for event in [listed(), rules(markets={"BTC-PERP": RATES["BTC-PERP"]}), deposit("alice", "1000")]:
        fold_batch(state, [(event.id, event)])
    odd = [Decimal(x) for x in ("0E-8", "1E-7", "1.5E+3", "-0", "-0.00", "12.300", "-2E+1")]
    state.accounts["alice"] = AccountState(
        "alice", MappingProxyType({"USD": odd[0], "EUR": odd[1]}),
        MappingProxyType({"BTC-PERP": Position(odd[2], odd[3], odd[4], odd[6])}),
        MappingProxyType({"USD": odd[5]}), MappingProxyType({"BTC-PERP": odd[1]}))
    market = state.markets["BTC-PERP"]
    state.markets["BTC-PERP"] = MarketState(market.market, market.settle_asset, odd[1], market.listed_by, odd[2], odd[0])
    state.system["insurance_fund"] = {"USD": odd[6]}
    return state


def test_every_kind_of_figure_is_written_fixed_point():
    """Cash, positions, fees, isolated margins, market prices and lots, system balances: no exponent, no "-0"."""
    text = dump_state(odd_figures())
    data = json.loads(text)
    assert data["accounts"]["alice"] == {
        "cash": {"EUR": "0.0000001", "USD": "0.00000000"}, "fees": {"USD": "12.300"},
        "isolated": {"BTC-PERP": "0.0000001"}, "positions": {"BTC-PERP": ["1500", "0", "-0.00", "-20"]}}
    assert data["markets"]["BTC-PERP"][1:] == ["0.0000001", "m-BTC-PERP", "1500", "0.00000000"]
    assert data["system"]["insurance_fund"] == {"USD": "-20"}
    _text_is_canonical(text)


GOLDEN = {
    "every type": "321c2698fda9e4f5df8d5eeb367335eef70bdeb987d197d082ce6995393d4296",
    "odd figures": "6daeacdf8ea2fbfb4064498af4dff2350043d595616f437200d0626838e26370",
}
"""sha256 over the sha256 of each snapshot text, as c406e32 wrote them (the standard library's writer alone, before
orjson wrote any): a snapshot's digest is stored in the log, so these bytes may never change."""


def _digest(texts: list[str]) -> str:
    whole = hashlib.sha256()
    for text in texts:
        whole.update(hashlib.sha256(text.encode()).digest())
    return whole.hexdigest()


def test_the_snapshots_are_the_bytes_the_standard_library_alone_wrote():
    """After every event of the history of every type, and the state of odd figures: the very bytes of c406e32."""
    _, _, states = one_of_each()
    assert _digest(states) == GOLDEN["every type"]
    assert _digest([dump_state(odd_figures())]) == GOLDEN["odd figures"]
