"""An account's history a page at a time: the cost of the account's own events and of one page, not of the log.

``history.account_history`` replays the whole log narrowly. On the
1,000,000-event benchmark an account that holds a position all along has
about 78,000 rows (one per mark of a market it holds) and takes 9 s: too slow
for a console page that shows 50 of them. The rows have a structure that lets a
page cost far less, with the same figures:

- The account's **own rows** (its stream ``account:NAME``, and its fills of
  auto-deleveragings in ``adl:M``) are few, and only they change its positions.
- Between two own rows, its other rows are the marks (``market:M``) and
  fundings (``funding:M``) of the markets it holds then. ``StreamSeqs`` keeps
  each such stream's sequence numbers (read once through the stream index, no
  payloads, extended as the log grows), so the rows between two own rows are
  counted and located by bisecting them: ``HistoryPlan`` is that map.
- A page's figures: the account as of the row before the page (its snapshot
  and stream, ``replay.account.account_at``), then the page's events folded in
  order, with the listings in between and, before each of its rows, the last
  mark of every market the account touched (what the whole log's state holds
  then, as far as this account's figures go).

``equity_rows`` gives the rows an equity chart needs (every own and funding
row, and marks sampled evenly between them), folded the same way from the
first event. Before a market's first mark, a position in it is valued at its
last trade price, any account's: up to the last such moment for the markets the
account touched (``HistoryPlan.marked_from``, early in a log whose markets are
marked from their start) the fold reads the whole log. Tests hold every page
and every sampled row equal to the whole replay's rows on generated histories
and on the worked examples (``tests/test_history_pages.py``).
"""

from __future__ import annotations

import heapq
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any, Protocol

from attrs import define, frozen

from ledger.domain import events as ev
from ledger.domain.events import ACCOUNT_STREAM_PREFIX, ADL_STREAM_PREFIX, FUNDING_STREAM_PREFIX, MARKET_STREAM_PREFIX
from ledger.domain.fold import apply
from ledger.domain.postings import Posting
from ledger.domain.scales import EXACT, Figures
from ledger.domain.state import LedgerState
from ledger.replay import load
from ledger.replay.account import account_at
from ledger.reports.history import history_row
from ledger.store import AccountSource, StoredEvent

__all__ = ["StreamSeqs", "HistoryPlan", "plan_history", "history_page", "equity_rows"]

CHART_MARKS = 150
"""About how many mark rows an equity chart samples (besides every own and funding row)."""


class StreamSeqs:
    """Each stream's sequence numbers in version order, read once and extended as the log grows (shared by every page
    of every account; safe across threads: a list handed out is never changed, a longer one replaces it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, list[int]]] = {}

    def upto(self, store: AccountSource, stream: str, seq: int) -> list[int]:
        """Every sequence number of ``stream`` at or before ``seq`` (and perhaps later ones: callers bisect)."""
        with self._lock:
            covers, seqs = self._known.get(stream, (0, []))
            if covers < seq:
                head = store.head()[0]
                seqs = seqs + store.stream_seqs(stream, after_version=len(seqs))
                self._known[stream] = (head, seqs)
            return seqs


@frozen
class _Span:
    """The account's rows between two own rows: the rows of these streams with sequence numbers in [first, last]."""

    first: int
    last: int
    marks: tuple[tuple[list[int], int, int], ...]
    """(a market stream's sequence numbers, the first index in the span, the index after the last)"""
    fundings: tuple[tuple[list[int], int, int], ...]
    """the same, of the held markets' funding streams"""
    count: int

    @property
    def ranges(self) -> tuple[tuple[list[int], int, int], ...]:
        return self.marks + self.fundings


@define
class HistoryPlan:
    """Where each row of an account's history up to ``upto_seq`` is, without reading the rows between its own."""

    account: str
    upto_seq: int
    own: dict[int, tuple[StoredEvent, ev.Event]]
    pieces: list[int | _Span]
    """In row order: an own row's sequence number, or the span of rows after it"""
    marks: dict[str, list[int]]
    """Each touched market's ``market:M`` sequence numbers (its listing first, then its marks)"""
    listings: list[int]
    """Every market's listing, by sequence number"""
    marked_from: int
    """Up to this event the whole log is folded: a market the account holds may have no mark yet (``_marked_from``)"""
    total: int


class _Seqs(Protocol):
    def upto(self, store: AccountSource, stream: str, seq: int) -> list[int]: ...


def _own_rows(store: AccountSource, account: str, upto_seq: int) -> dict[int, tuple[StoredEvent, ev.Event]]:
    """The account's own rows: its stream, and its fills of the auto-deleveragings in its markets (narrowed to it)."""
    own = {row.seq: (row, row.event()) for row in store.read_stream(ACCOUNT_STREAM_PREFIX + account, upto_seq=upto_seq)}
    for market in sorted({m for _, event in own.values() if (m := getattr(event, "market", None)) is not None}):
        for row in store.read_stream(ADL_STREAM_PREFIX + market, upto_seq=upto_seq):
            mine = row.event_as(ev.AutoDeleverage).narrowed_to(account)
            if mine is not None:
                own[row.seq] = (row, mine)
    return dict(sorted(own.items()))


_MOVES_POSITIONS = (ev.Trade, ev.Liquidation, ev.AutoDeleverage)


def _marked_from(own: dict[int, tuple[StoredEvent, ev.Event]], marks: dict[str, list[int]], upto_seq: int) -> int:
    """Up to which event the account's figures may need a market's last trade price: the latest first mark of a
    market the account had a position in before that mark; ``upto_seq`` when one has no mark yet; 0 if none."""
    first_fill: dict[str, int] = {}
    for seq, (_, event) in own.items():
        if isinstance(event, _MOVES_POSITIONS):
            first_fill.setdefault(event.market, seq)
    prefix = 0
    for market, seq in first_fill.items():
        first_mark = marks[market][1] if len(marks[market]) > 1 and marks[market][1] <= upto_seq else None
        if first_mark is None:
            return upto_seq
        if seq < first_mark:
            prefix = max(prefix, first_mark)
    return prefix


def plan_history(store: AccountSource, seqs: _Seqs, account: str, upto_seq: int) -> HistoryPlan:
    """The map of ``account``'s history rows up to ``upto_seq`` (see the module)."""
    own = _own_rows(store, account, upto_seq)
    listings = sorted(s[0] for stream in store.stream_names(MARKET_STREAM_PREFIX)
                      if (s := seqs.upto(store, stream, upto_seq)) and s[0] <= upto_seq)
    touched = sorted({m for _, event in own.values() if (m := getattr(event, "market", None)) is not None})
    marks = {m: seqs.upto(store, MARKET_STREAM_PREFIX + m, upto_seq) for m in touched}
    funding = {m: seqs.upto(store, FUNDING_STREAM_PREFIX + m, upto_seq) for m in touched}
    plan = HistoryPlan(account, upto_seq, own, [], marks, listings, _marked_from(own, marks, upto_seq), 0)
    fundings = {s for m in touched for s in funding[m] if s <= upto_seq}
    held: dict[int, list[str]] = {}
    for row, _, _, state in _fold(store, plan, 0, {**own, **_rows(store, fundings)}):
        if row.seq in own:
            held[row.seq] = sorted(m for m, p in state.account(account).positions.items() if p.size != 0)
    bounds = [*own, upto_seq + 1]
    for i, seq in enumerate(own):
        plan.pieces.append(seq)
        first, last = seq + 1, bounds[i + 1] - 1
        in_marks = tuple((s, bisect_left(s, first), bisect_right(s, last)) for s in (marks[m] for m in held[seq]))
        in_funding = tuple((s, bisect_left(s, first), bisect_right(s, last)) for s in (funding[m] for m in held[seq]))
        count = sum(high - low for _, low, high in in_marks + in_funding)
        if count:
            plan.pieces.append(_Span(first, last, in_marks, in_funding, count))
    plan.total = sum(1 if isinstance(piece, int) else piece.count for piece in plan.pieces)
    return plan


def _rows(store: AccountSource, seqs: set[int]) -> dict[int, tuple[StoredEvent, ev.Event]]:
    return {row.seq: (row, row.event()) for row in store.rows_at(seqs)}


def _fold(
    store: AccountSource, plan: HistoryPlan, after: int, items: dict[int, tuple[StoredEvent, ev.Event]],
) -> Iterator[tuple[StoredEvent, ev.Event, list[Posting], LedgerState]]:
    """Fold ``items`` (all after event ``after``) in log order onto the state after event ``after``; after each item,
    (its row, its event, its postings, the state).

    Up to ``plan.marked_from`` the whole log is folded (a market may be valued at its last trade, any account's).
    After it, only the items, the listings and, before each item, the last mark of every market the account
    touched: what the whole log's state holds then, as far as this account's figures go.
    """
    if not items:
        return
    last = max(items)
    if after < plan.marked_from:
        state = load.state_at(store, after)
        upto = min(last, plan.marked_from)
        for row in store.read(after_seq=after, upto_seq=upto):
            event = row.event()
            postings = apply(state, event, row.seq)
            if row.seq in items:
                yield row, event, postings, state
        after = upto
    else:
        state = account_at(store, plan.account, after)
    rest = {seq: item for seq, item in items.items() if seq > after}
    context = {s for s in plan.listings if after < s <= last}
    for marks in plan.marks.values():
        for seq in rest:
            at = bisect_right(marks, seq) - 1
            if at >= 1 and marks[at] > after:  # index 0 is the listing
                context.add(marks[at])
    extra = _rows(store, context - rest.keys())
    for seq, (row, event) in sorted({**extra, **rest}.items()):
        postings = apply(state, event, seq)
        if seq in rest:
            yield row, event, postings, state


def _span_seqs(span: _Span, skip: int, take: int) -> list[int]:
    """``take`` sequence numbers of ``span``'s rows after its first ``skip``."""
    low, high = span.first, span.last
    while low < high:  # the smallest sequence number with more than ``skip`` of the span's rows at or before it
        middle = (low + high) // 2
        if sum(bisect_right(s, middle, a, b) - a for s, a, b in span.ranges) > skip:
            high = middle
        else:
            low = middle + 1
    parts = []
    for s, a, b in span.ranges:
        at = bisect_left(s, low, a, b)
        parts.append(s[at:min(b, at + take)])
    return list(heapq.merge(*parts))[:take]


def history_page(store: AccountSource, plan: HistoryPlan, offset: int, limit: int,
                 figures: Figures = EXACT) -> list[dict[str, Any]]:
    """Rows ``offset`` to ``offset + limit`` of the account's history (``history.account_history``'s rows)."""
    wanted: list[int] = []
    at = 0
    for piece in plan.pieces:
        size = 1 if isinstance(piece, int) else piece.count
        if at + size > offset and len(wanted) < limit:
            skip = max(0, offset - at)
            take = min(size - skip, limit - len(wanted))
            wanted += [piece] if isinstance(piece, int) else _span_seqs(piece, skip, take)
        at += size
    return _folded_rows(store, plan, wanted, min(wanted, default=1) - 1, figures)


def _folded_rows(store: AccountSource, plan: HistoryPlan, wanted: list[int], after: int,
                 figures: Figures) -> list[dict[str, Any]]:
    """The rows ``wanted`` (sequence numbers), folded from the state after event ``after``."""
    own = {s: plan.own[s] for s in wanted if s in plan.own}
    items = {**own, **_rows(store, set(wanted) - own.keys())}
    return [history_row(state, plan.account, row, event, postings, figures)
            for row, event, postings, state in _fold(store, plan, after, items)]


def equity_rows(store: AccountSource, plan: HistoryPlan, marks: int = CHART_MARKS,
                figures: Figures = EXACT) -> list[dict[str, Any]]:
    """The rows an equity chart draws: every own and funding row, and about ``marks`` of the mark rows, evenly spaced
    (and the last one before each own row), each with the whole replay's figures."""
    wanted = [piece for piece in plan.pieces if isinstance(piece, int)]
    spans = [piece for piece in plan.pieces if isinstance(piece, _Span)]
    every = max(1, sum(span.count for span in spans) // max(1, marks))
    seen = 0
    for span in spans:
        last = 0
        for s, low, high in span.fundings:  # every funding row
            wanted += s[low:high]
        for s, low, high in span.marks:
            if high > low:
                wanted += s[low + (-seen) % every:high:every]
                seen += high - low
                last = max(last, s[high - 1])
        if last:
            wanted.append(last)  # the equity just before the account's next own row
    return _folded_rows(store, plan, sorted(set(wanted)), 0, figures)
