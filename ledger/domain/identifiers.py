"""The identifier profile a new account or market name meets, and the confusable skeleton that tells look-alikes apart.

``names`` makes every name NFC and refuses the characters nobody can see
(format, control, private-use, unassigned, odd spaces). That still let
through names that *print like another*: ``аlice`` with a Cyrillic ``а``,
``ａlice`` (fullwidth), ``𝐚lice`` (mathematical bold), ``al͏ice`` with a
combining grapheme joiner, a Hangul or Braille filler, `` alice`` with a
leading space. Two such accounts are two ledgers of money under one name on
a screen or a statement. This module holds the profile new names must meet,
after Unicode's UTS #39 (Unicode Security Mechanisms) and UAX #31
(identifiers):

- no space at either end;
- NFKC-stable: a fullwidth, mathematical, circled or superscript letter, a
  ligature or a compatibility filler is the compatibility form of a plain
  one, and is refused (write the plain one);
- outside printable ASCII, only identifier characters (XID_Continue: letters,
  marks, digits, connectors, what ``str.isidentifier`` accepts) that are not
  default-ignorable (``Default_Ignorable_Code_Point``: U+034F, U+FE0F,
  U+17B4, U+115F, ... draw nothing): symbols, emoji, blanks such as U+2800
  and non-ASCII punctuation are refused;
- digits of one decimal system (UTS #39 5.3: ``1`` and Bengali ``১`` look
  alike);
- UTS #39 5.2's "Highly Restrictive" level: one script (Common and Inherited
  characters go with any), or Latin with Han and Hiragana/Katakana, Han and
  Bopomofo, or Han and Hangul (how Japanese, Chinese and Korean are written).
  ``аlice`` (Cyrillic and Latin) is refused; ``Алиса``, ``Αλίκη``, ``愛麗絲``
  and ``アリス株式会社`` pass.

``skeleton`` is UTS #39's confusable skeleton: NFD, default-ignorables
removed, every character replaced by the prototype of its confusable class
(Unicode's confusables.txt), NFD again; two names with one skeleton look
alike (``alice``, ``aIice``, ``a1ice``, ``аlice``). The engine refuses a new
name whose skeleton an existing name of its namespace has
(``engine.new_names``).

The data is Unicode's, through maintained libraries, never copied here:
``confusable_homoglyphs`` (confusables.txt and the Script property),
``regex`` (``Default_Ignorable_Code_Point``), the standard library (NFKC,
XID_Continue, decimal digits). ``confusable_homoglyphs`` keeps the table as
pairs of look-alikes without saying which side is the prototype; a class's
representative is taken from the pairs instead (the prototype when the
data shows it, else the lower of a pair's two code points), which partitions
the code points as UTS #39's skeleton does: checked against ICU 77's
``SpoofChecker`` over every assigned code point when chosen, no two
characters ICU tells apart share a skeleton here, and only five of ICU's
classes are split here (look-alikes Unicode 16 added, and the line and
paragraph separators ``names`` refuses). Both tables are loaded at the first
new name a process checks (about 0.1 s), never at import.

Applied to new names only, by the engine's admission: a name already in the
ledger keeps working whatever it holds (no one's funds are stuck behind a
rule), and a stored log replays and audits as recorded.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

__all__ = ["refusal", "skeleton", "shown"]

_IGNORED_SCRIPTS = frozenset({"COMMON", "INHERITED"})
_HIGHLY_RESTRICTIVE = (frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}), frozenset({"LATIN", "HAN", "BOPOMOFO"}),
                       frozenset({"LATIN", "HAN", "HANGUL"}))
"""UTS #39 5.2 Highly Restrictive: a single script, or one of these (Japanese, Chinese, Korean with Latin)."""
_DIRECTION_MARKS = str.maketrans("", "", "\u200e\u200f")
"""Left-to-right and right-to-left marks the library's table keeps around right-to-left characters (for display)."""


def shown(name: str) -> str:
    """``name`` quoted, with its escapes beside it when it is not plain ASCII (a look-alike prints like its twin)."""
    return repr(name) if name.isascii() else f"{name!r} ({name!a})"


def _char(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}"


def refusal(name: str) -> str | None:
    """Why ``name`` (NFC, free of what ``names`` refuses) is outside the identifier profile; None when it is inside."""
    if name != name.strip(" "):
        return "begins or ends with a space"
    if name.isascii():
        return None  # printable ASCII (``names`` refused controls): one script, its own compatibility form
    if unicodedata.normalize("NFKC", name) != name:
        char = next(c for c in name if unicodedata.normalize("NFKC", c) != c)
        return (f"holds {_char(char)}, a compatibility form of {unicodedata.normalize('NFKC', char)!r} "
                "(not NFKC-stable): write the plain character")
    return _character_refusal(name) or _digit_refusal(name) or _script_refusal(name)


def _character_refusal(name: str) -> str | None:
    invisible = _ignorable_pattern().search(name)
    if invisible is not None:
        return f"holds {_char(invisible.group())}, an invisible (default-ignorable) character"
    beyond_ascii = "".join(char for char in name if not char.isascii())
    if ("_" + beyond_ascii).isidentifier():  # every one XID_Continue (the common case, in one call)
        return None
    char = next(c for c in beyond_ascii if not ("_" + c).isidentifier())
    return (f"holds {_char(char)}, not a letter, mark or digit: beyond printable ASCII a name holds only "
            "identifier characters (Unicode XID_Continue)")


def _digit_refusal(name: str) -> str | None:
    zeros = {ord(c) - unicodedata.decimal(c) for c in name if unicodedata.decimal(c, None) is not None}
    if len(zeros) > 1:
        return "mixes digits of different decimal systems (they look alike)"
    return None


def _script_refusal(name: str) -> str | None:
    script = _script_of()
    scripts: dict[str, str] = {}
    for char in name:
        scripts.setdefault(script(char), char)
    if "Unknown" in scripts:
        return f"holds {_char(scripts['Unknown'])}, of a script the identifier profile's data does not know"
    used = frozenset(scripts) - _IGNORED_SCRIPTS
    if len(used) <= 1 or any(used <= allowed for allowed in _HIGHLY_RESTRICTIVE):
        return None
    mixed = ", ".join(f"{s.title()} ({_char(scripts[s])})" for s in sorted(used))
    return (f"mixes scripts: {mixed}; a name is written in one script (or Latin with Han and Hiragana, Katakana, "
            "Bopomofo or Hangul: UTS #39's Highly Restrictive level)")


def skeleton(name: str) -> str:
    """UTS #39's confusable skeleton of ``name``: two names with one skeleton look alike."""
    decomposed = unicodedata.normalize("NFD", name)
    if not decomposed.isascii():
        decomposed = _ignorable_pattern().sub("", decomposed)
    return unicodedata.normalize("NFD", decomposed.translate(_prototypes()))


@cache
def _ignorable_pattern() -> Any:
    import regex  # Unicode's Default_Ignorable_Code_Point, which unicodedata does not expose

    return regex.compile(r"\p{Default_Ignorable_Code_Point}")


@cache
def _script_of() -> Callable[[str], str]:
    from confusable_homoglyphs import categories  # Unicode's Scripts.txt: a character's Script property

    alias: Callable[[str], str] = cache(categories.alias)  # a binary search in Python: once per character
    return alias


@cache
def _prototypes() -> dict[int, str]:
    """Every confusable character's class representative, as a ``str.translate`` table."""
    from confusable_homoglyphs import confusables  # Unicode's confusables.txt, as pairs of look-alikes

    table: dict[str, list[str]] = {}
    for key, entries in confusables.confusables_data.items():
        char = key.translate(_DIRECTION_MARKS)
        if len(char) == 1:
            table.setdefault(char, []).extend(entry["c"].translate(_DIRECTION_MARKS) for entry in entries)
    return {ord(char): _representative(char, table) for char in table}


def _representative(char: str, table: dict[str, list[str]]) -> str:
    """What ``char`` is replaced by in a skeleton. In confusables.txt each look-alike maps to one prototype (one or
    more characters) and a prototype to itself; the library lists each mapping both ways, so a character with several
    look-alikes is a prototype, one with a single look-alike a source mapped to it, unless the two only have each
    other: then either names the class, and the lower code point is taken."""
    found = table.get(char, [])
    if len(found) != 1:
        return char  # no look-alike, or the prototype several characters map to
    target = found[0]
    if len(target) > 1:
        return "".join(_representative(c, table) for c in target)  # m -> rn: each character of a prototype sequence
    if table.get(target) == [char]:
        return min(char, target)
    return target
