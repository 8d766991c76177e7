"""The fast writers of hashed and snapshotted text write exactly what the reference writers do.

A whole-ledger snapshot's text is bound in the log by its digest, so its
bytes are forever: ``canonical_json_of_plain`` (orjson) must write the text
of ``canonical_json`` (the standard library) byte for byte, and ``to_str``
(``str`` where it can) the text of ``format(value, "f")``.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import events as ev
from ledger.domain.jsontext import canonical_json, canonical_json_of_plain, canonical_object
from ledger.domain.money import to_str
from ledger.domain.snapshot import dump_state, load_state
from ledger.domain.state import LedgerState
from ledger.engine.session import fold_batch
from tests.conftest import at
from tests.support.builders import RATES, deposit, listed, mark, rules, trade
from tests.support.every_type import one_of_each

EVERY_CODE_POINT = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def reference_to_str(value: Decimal) -> str:
    """``to_str`` as it was written before its ``str`` fast path."""
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def test_every_code_point_is_written_alike_as_a_value_and_as_a_key():
    """Escapes (the quote, the backslash, each control character) and everything left raw, one code point at a time,
    then all of them in one string."""
    for char in EVERY_CODE_POINT:
        data = {char: [char, f"a{char}b"]}
        assert canonical_json_of_plain(data) == canonical_json(data), f"U+{ord(char):04X}"
    data = {"all": "".join(EVERY_CODE_POINT)}
    assert canonical_json_of_plain(data) == canonical_json(data)


def test_keys_are_sorted_by_code_point_across_every_plane():
    """One dict keyed by a sample of every block of 256 code points: sorted alike (UTF-8's byte order is code point
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
    """The rules' params are a developer's (a nested object of any shape): the snapshot writes them with
    ``canonical_json`` itself, and the whole text is still canonical."""
    state = LedgerState()
    for event in [listed(), rules(markets={"BTC-PERP": RATES["BTC-PERP"]}),
                  ev.LossAllocationActivated(id="la-ü", at=at(2), version="adl-ranked-v1",
                                             params={"cash_quantum": "0.01"})]:
        fold_batch(state, [(event.id, event)])
    text = dump_state(state)
    _text_is_canonical(text)
    assert json.loads(text)["loss_allocation_history"][0]["event_id"] == "la-ü"
