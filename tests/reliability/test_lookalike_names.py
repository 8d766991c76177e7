"""#27 point 8: names that look like another are refused when they are new, and honest names in any script still pass.

The attack: 12 of 19 look-alike names were accepted (Cyrillic and Greek letters in Latin names, fullwidth and
mathematical letters, invisible combining or filler characters, leading or trailing spaces), each a second account
that prints like the first. New names now meet an identifier profile after UTS #39 (``ledger.domain.identifiers``), and
one whose confusable skeleton an existing name of its namespace has is refused naming both; names already in the
ledger keep working.
"""

from __future__ import annotations

import json
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import InvalidBatch
from ledger.domain.identifiers import skeleton
from ledger.domain.state import LedgerState
from ledger.engine.session import fold_batch
from tests.support.builders import deposit, listed, withdrawal
from tests.support.cli import run

T0 = "2024-08-05T00:00:00Z"
MARKET = {"type": "market_listed", "id": "m-btc", "at": T0, "market": "BTC-PERP", "settle_asset": "USD", "lot_size": "0.001"}
HEADER = [MARKET, *({"type": "deposit", "id": f"d-{name}", "at": T0, "account": name, "asset": "USD", "amount": "10"}
                    for name in ("alice", "bob", "ABC"))]

ATTACKS = [  # (new account name, what the refusal says)
    ("\u0430lice", "mixes scripts: Cyrillic (U+0430 CYRILLIC SMALL LETTER A), Latin"),
    ("alic\u0435", "mixes scripts: Cyrillic (U+0435 CYRILLIC SMALL LETTER IE), Latin"),
    ("b\u03bfb", "mixes scripts: Greek (U+03BF GREEK SMALL LETTER OMICRON), Latin"),
    ("\uff41lice", "holds U+FF41 FULLWIDTH LATIN SMALL LETTER A, a compatibility form of 'a' (not NFKC-stable)"),
    ("\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e", "holds U+1D41A MATHEMATICAL BOLD SMALL A, a compatibility form"),
    ("al\u034fice", "holds U+034F COMBINING GRAPHEME JOINER, an invisible (default-ignorable) character"),
    ("alice\ufe0f", "holds U+FE0F VARIATION SELECTOR-16, an invisible (default-ignorable) character"),
    ("al\u17b4ice", "holds U+17B4 KHMER VOWEL INHERENT AQ, an invisible (default-ignorable) character"),
    ("alice\u3164", "holds U+3164 HANGUL FILLER, a compatibility form"),
    ("\u115falice", "holds U+115F HANGUL CHOSEONG FILLER, an invisible (default-ignorable) character"),
    ("alice\u2800", "holds U+2800 BRAILLE PATTERN BLANK, not a letter, mark or digit"),
    ("\u2800", "holds U+2800 BRAILLE PATTERN BLANK, not a letter, mark or digit"),
    (" alice", "begins or ends with a space"),
    ("alice ", "begins or ends with a space"),
    ("aIice", "looks like account 'alice', already in the ledger"),  # a capital I: ASCII alone can look alike
    ("a1ice", "looks like account 'alice', already in the ledger"),
    ("\u0410\u0412\u0421", "looks like account 'ABC', already in the ledger"),  # all Cyrillic: one script, still ABC
]
HONEST = ["Алиса", "Αλίκη", "Ελληνικά", "愛麗絲", "アリス株式会社", "山田Taro", "김철수", "محمد", "José", "Zoë", "straße",
          "Desk One", "l·l", "देव१२"]


def _ingest(ledger, tmp_path, lines: list[dict]) -> str:
    """The ingest's refusal (the file's path written FILE), or '' when the file was accepted."""
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    try:
        ledger.ingest_file(str(path))
    except InvalidBatch as exc:
        return str(exc).replace(str(path), "FILE")
    return ""


def _deposit(name: str, n: int = 1) -> dict:
    return {"type": "deposit", "id": f"d-new-{n}", "at": T0, "account": name, "asset": "USD", "amount": "1"}


def test_every_look_alike_name_is_refused_naming_its_line_and_nothing_is_stored(ledger, tmp_path):
    """Each attack name (look-alike scripts, fullwidth and mathematical letters, invisible and blank characters, spaces
    at either end, a skeleton an account already has) is refused naming its line, and the honest line before it in
    the same file is not stored either; a name of one script that looks like no account is accepted."""
    assert _ingest(ledger, tmp_path, HEADER) == ""
    for name, reason in ATTACKS:
        stored = ledger.head_seq()
        refusal = _ingest(ledger, tmp_path, [_deposit("carol", 0), _deposit(name)])
        assert f"FILE:2: new account name {name!r}" in refusal and reason in refusal, (name, refusal)
        assert refusal.endswith("nothing was stored") and ledger.head_seq() == stored
        assert not ledger.has_account("carol")
    assert _ingest(ledger, tmp_path, [_deposit("\u044c\u043e\u044c")]) == ""  # Cyrillic letters only: not "bob"


def test_a_market_that_looks_like_a_listed_one_is_refused_naming_both(ledger, tmp_path):
    """A new market is held to the same profile and to the markets' own namespace: ``BTC-PERP`` with a Cyrillic
    ``Е`` mixes scripts, and ``BOT-PERP`` (a letter O) looks like the listed ``B0T-PERP`` (a zero); an account may
    still be named like a market."""
    assert _ingest(ledger, tmp_path, [*HEADER, {**MARKET, "id": "m-b0t", "market": "B0T-PERP"}]) == ""
    refusal = _ingest(ledger, tmp_path, [{**MARKET, "id": "m-2", "market": "BTC-P\u0415RP"}])
    assert "FILE:1: new market name 'BTC-PЕRP' ('BTC-P\\u0415RP') mixes scripts: Cyrillic" in refusal, refusal
    refusal = _ingest(ledger, tmp_path, [{**MARKET, "id": "m-3", "market": "BOT-PERP"}])
    assert "FILE:1: new market name 'BOT-PERP' looks like market 'B0T-PERP', already in the ledger" in refusal, refusal
    assert _ingest(ledger, tmp_path, [_deposit("B0T-PERP")]) == ""  # accounts are another namespace


def test_honest_names_in_one_script_still_open_accounts(ledger, tmp_path):
    """Whole-Cyrillic, whole-Greek, Chinese, Japanese (with Latin), Korean, Arabic, Devanagari, accented Latin and
    spaced names are accepted, as are markets named in them."""
    lines = [_deposit(name, n) for n, name in enumerate(HONEST)] + [{**MARKET, "id": "m-cn", "market": "比特币-PERP"}]
    assert _ingest(ledger, tmp_path, [MARKET, *lines]) == ""
    assert all(ledger.has_account(unicodedata.normalize("NFC", name)) for name in HONEST)


def test_two_look_alikes_new_in_one_file_are_refused_naming_both(db_url, tmp_path):
    """A file opening ``alice`` and then ``aIice`` is refused at the second, naming the first (the names a batch
    opens count as it goes); exit 2 and nothing stored."""
    assert run(db_url, "init")[0] == 0
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in [MARKET, _deposit("alice", 1), _deposit("aIice", 2)]))
    code, _, err = run(db_url, "ingest", str(path))
    assert code == 2 and f"{path}:3: new account name 'aIice' looks like account 'alice'" in err, err
    assert "nothing was stored" in err and run(db_url, "verify")[1].startswith("ok: 0 events")


def test_accounts_opened_before_the_profile_keep_working_and_new_look_alikes_of_them_are_refused(ledger, tmp_path):
    """Accounts stored before the profile (written to the log directly, as an earlier release did) with a Cyrillic
    letter, a trailing space or a combining grapheme joiner still take deposits and withdrawals (no funds stuck); a
    new ``alice`` is refused as a look-alike of the stored ``аlice``; a what-if re-runs them all without refusing any."""
    old = ["\u0430lice", "bob ", "car\u034fol"]
    ledger.store.append([listed(), *(deposit(name, "100", t=1) for name in old)], "2024-08-05T00:01:00.000000Z")
    ledger.append([deposit(name, "5", t=2) for name in old] + [withdrawal(name, "50", t=3) for name in old])
    assert all(ledger.state().accounts[name].cash["USD"] == 55 for name in old)
    refusal = _ingest(ledger, tmp_path, [{**_deposit("alice"), "at": "2024-08-05T00:04:00Z"}])
    assert "FILE:1: new account name 'alice' looks like account 'аlice' ('\\u0430lice'), already in the ledger" in refusal
    assert ledger.whatif("full-v1").refused == []
    assert ledger.audit().ok


_ALPHABET = "alicebo1I0O|mrn -" + "\u0430\u0435\u043e\u03bf\u03b1\uff41\U0001d41a\u034f\ufe0f\u17b4\u3164\u115f\u2800\u00e9\u0301"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=_ALPHABET, min_size=1, max_size=8), min_size=1, max_size=12))
def test_no_two_accounts_a_ledger_accepts_look_alike(names):
    """For any names offered one by one (Latin, look-alike Cyrillic and Greek, digits that look like letters, fullwidth,
    invisible and blank characters, spaces), the accounts opened have distinct skeletons, and every name refused as
    a look-alike names an account with its skeleton."""
    state = LedgerState()
    fold_batch(state, [("m", listed())])
    for n, name in enumerate(names):
        try:
            fold_batch(state, [(f"line {n}", deposit(name, "1", id=f"d-{n}"))])
        except InvalidBatch as exc:
            reason = str(exc.errors[0])
            if "looks like account" in reason:
                assert any(skeleton(other) == skeleton(unicodedata.normalize("NFC", name)) for other in state.accounts)
    skeletons = [skeleton(name) for name in state.accounts]
    assert len(set(skeletons)) == len(skeletons), sorted(state.accounts)
