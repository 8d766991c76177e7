"""The names an append brings into the ledger: the rules only a new name must meet, and the names it must not look like.

An account name is new when the state holds no account of that name (the
first event naming it opens it); a market name when its listing comes. Only
then are the rules that came after names were first accepted applied: an
account name holds no separator (``ACCOUNT_NAME_SEPARATORS``: engine ids and
statement keys split one way only), every new name meets the identifier
profile (``domain.identifiers``: no space at either end, NFKC-stable, no
invisible or non-identifier character, one script), and none may share its
confusable skeleton with a name already in its namespace (accounts with
accounts, markets with markets): ``a1ice`` or ``аlice`` beside ``alice`` is
refused, naming both. A name already in the ledger is never checked again,
so an account opened before a rule keeps taking deposits and withdrawals (no
one's funds are stuck behind it), and nothing here runs when a stored log is
replayed or audited: it is folded as recorded.

The skeletons of the names in the state are computed once per engine session,
at its first new name, and kept as new names are folded (a batch that opens
``alice`` then ``aIice`` refuses the second); rebuilt whenever the state grew
some other way (another writer's rows) or is another state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.domain import events as ev
from ledger.domain.identifiers import refusal, shown, skeleton
from ledger.domain.state import LedgerState
from ledger.errors import InvalidEvent

__all__ = ["NewNames"]


class _Namespace:
    """One namespace's names (the state's own mapping, by identity), by skeleton (the first name of each)."""

    def __init__(self, kind: str, names: Mapping[str, Any]) -> None:
        self.kind, self.names, self.count = kind, names, 0
        self.by_skeleton: dict[str, str] = {}
        for name in names:
            self.add(name, skeleton(name))

    def add(self, name: str, key: str) -> None:
        self.by_skeleton.setdefault(key, name)
        self.count += 1

    def admit(self, name: str) -> str:
        """``name``'s skeleton; ``InvalidEvent`` when it is outside the identifier profile or looks like a name here."""
        reason = refusal(name)
        if reason is not None:
            raise InvalidEvent(f"new {self.kind} name {shown(name)} {reason}")
        key = skeleton(name)
        twin = self.by_skeleton.get(key)
        if twin is not None:
            raise InvalidEvent(f"new {self.kind} name {shown(name)} looks like {self.kind} {shown(twin)}, already in "
                               "the ledger (one confusable skeleton, UTS #39): choose a name that cannot be taken for it")
        return key


class NewNames:
    """The new-name checks of one engine session, with the skeletons of the names its state holds."""

    def __init__(self) -> None:
        self._spaces: dict[str, _Namespace] = {}
        self._pending: list[tuple[_Namespace, str, str]] = []

    def check(self, state: LedgerState, event: ev.Event) -> None:
        """``InvalidEvent`` when ``event`` brings a name into ``state`` that may not come in."""
        self._pending = []
        account = getattr(event, "account", None)
        if isinstance(account, str) and account not in state.accounts:
            separator = next((c for c in ev.ACCOUNT_NAME_SEPARATORS if c in account), None)
            if separator is not None:
                raise InvalidEvent(f"account {account!r} contains {separator!r}: account names may not contain "
                                   f"{', '.join(repr(c) for c in ev.ACCOUNT_NAME_SEPARATORS)} (they separate the "
                                   "parts of the engine's ids and of reconcile statements)")
            self._admit(self._space("account", state.accounts), account)
        if isinstance(event, ev.MarketListed) and event.market not in state.markets:
            self._admit(self._space("market", state.markets), event.market)

    def folded(self, state: LedgerState) -> None:
        """After the event last checked was folded into ``state``: its new names join their namespaces."""
        pending, self._pending = self._pending, []
        for space, name, key in pending:
            if name in space.names and space.count + 1 == len(space.names):
                space.add(name, key)  # otherwise the count no longer matches, and the namespace is rebuilt when next asked

    def _admit(self, space: _Namespace, name: str) -> None:
        self._pending.append((space, name, space.admit(name)))

    def _space(self, kind: str, names: Mapping[str, Any]) -> _Namespace:
        space = self._spaces.get(kind)
        if space is None or space.names is not names or space.count != len(names):
            space = self._spaces[kind] = _Namespace(kind, names)
        return space
