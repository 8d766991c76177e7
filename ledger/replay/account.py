"""One account, replayed from its own stream: the cost of its recent events, not of the log.

An account's cash, positions and fees depend only on the events of its stream
(``account:NAME``: its deposits, withdrawals, fills, liquidations and
bankruptcies). Valuing it needs the markets it touched: each market's listing
(the first event of ``market:M``) and its last mark at or before the point
asked for (the newest ``mark`` of that stream, read backwards through the
``(stream, stream_version)`` index), and its markets' funding payments after
the snapshot (their own streams ``funding:M``, each priced at its market's mark
at that moment). So a single account is replayed from its
latest account snapshot plus the events of its stream after it, at a cost
independent of how long the log (or the account's history) is.

Account snapshots are written after appends, for every account whose stream
passed a multiple of ``ACCOUNT_SNAPSHOT_EVERY`` events. They are caches like
the ledger's: checked against the chain on load, compared with the full replay
by the audit. A market with no mark yet at that point is valued at its last
trade price, which only the whole log knows: that rare case replays the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from attrs import evolve

from ledger.domain import events as ev
from ledger.domain.events import (
    ACCOUNT_STREAM_PREFIX,
    ADL_STREAM_PREFIX,
    FUNDING_STREAM_PREFIX,
    LOSS_ALLOCATION_STREAM,
    MARKET_STREAM_PREFIX,
    SYSTEM_STREAM,
)
from ledger.domain.fold import apply
from ledger.domain.snapshot import ACCOUNT_SNAPSHOT_FORMAT, dump_account, load_account
from ledger.domain.state import LedgerState, MarketState, RulesInForce
from ledger.domain.timefmt import stored_time
from ledger.replay import load
from ledger.store import AccountSource, CachedLog

__all__ = ["ACCOUNT_SNAPSHOT_EVERY", "ACCOUNT_REPLAY_SOURCES", "account_at", "write_account_snapshots"]

ACCOUNT_REPLAY_SOURCES: Mapping[str, str] = {
    "market_listed": MARKET_STREAM_PREFIX,  # the markets listed by then, and their settle assets and lots
    "deposit": ACCOUNT_STREAM_PREFIX,
    "withdrawal": ACCOUNT_STREAM_PREFIX,
    "trade": ACCOUNT_STREAM_PREFIX,
    "mark": MARKET_STREAM_PREFIX,  # each market's last mark, and the mark a funding was paid at
    "rules_activated": SYSTEM_STREAM,  # the rules in force, for liquidation prices
    "funding": FUNDING_STREAM_PREFIX,  # the payments of the account's markets since its snapshot, merged in log order
    "margin_mode": ACCOUNT_STREAM_PREFIX,
    "isolated_margin": ACCOUNT_STREAM_PREFIX,
    "liquidation": ACCOUNT_STREAM_PREFIX,
    "bankruptcy": ACCOUNT_STREAM_PREFIX,
    "loss_allocation_activated": LOSS_ALLOCATION_STREAM,  # moves no account: not read here
    "auto_deleverage": ADL_STREAM_PREFIX,  # the fills in the account's markets since its snapshot, merged in log order
}
"""Where the one-account replay finds each event type that can move one account: the stream it reads it from. A new
type must be added here (and read from its stream), or that account's figures go silently wrong
(``tests/test_event_types.py`` holds the keys to ``EVENT_TYPES`` and each source to ``stream_of``)."""

ACCOUNT_SNAPSHOT_EVERY = 256
"""Events of one account's stream between two of its snapshots."""


def account_at(store: AccountSource, account: str, upto_seq: int | None = None) -> LedgerState:
    """A state holding ``account`` (if it exists by then) and every market listed by then, after event ``upto_seq``.

    The account's figures equal those of the full replay at the same point
    (tests hold them equal event by event); markets carry their last mark
    (their last trade price is not looked for: it is the whole log's).
    """
    head_seq = store.head()[0]
    head = store.row_at(head_seq if upto_seq is None else min(upto_seq, head_seq))
    if head is None:
        return LedgerState()
    stream = ACCOUNT_STREAM_PREFIX + account
    state = LedgerState()
    version, since = 0, 0
    found = store.snapshots.latest(stream, ACCOUNT_SNAPSHOT_FORMAT, head.seq)
    if found is not None:
        acct, version = load_account(found[1])
        state.accounts[account], since = acct, found[0]
    folded: list[tuple[int, ev.Event, Decimal | None]] = [
        (row.seq, row.event(), None) for row in store.read_stream(stream, after_version=version, upto_seq=head.seq)
    ]
    touched = set(state.accounts[account].positions) if account in state.accounts else set()
    touched.update(market for _, event, _ in folded if (market := getattr(event, "market", None)) is not None)
    state.markets.update(_markets_at(store, head.seq))
    if any(state.markets[m].mark_price is None for m in touched):  # valued at a last trade: the whole log's
        return _only(load.state_at(store, head.seq), account)
    funding = _funding_since(store, sorted(touched), since, head.seq)
    if funding is None:  # a funding priced at a last trade: the whole log's
        return _only(load.state_at(store, head.seq), account)
    funding += _fills_since(store, account, sorted(touched), since, head.seq)
    at_head = dict(state.markets)
    for seq, event, mark in sorted(folded + funding, key=lambda item: item[0]):
        if mark is not None:  # the funding's price: its market's mark at that moment
            assert isinstance(event, ev.Funding), "only a funding carries the mark it was paid at"
            state.markets[event.market] = evolve(state.markets[event.market], mark_price=mark)
        apply(state, event, seq)
    state.markets.update(at_head)  # the last marks, and no last-trade prices (the fold set them from this account's fills)
    activation = store.last_in_stream(SYSTEM_STREAM, head.seq)  # the rules in force, for liquidation prices
    if activation is not None:
        rules = activation.event()
        assert isinstance(rules, ev.RulesActivated)
        state.rules = RulesInForce(rules.version, rules.params, rules.id, rules.at)
    state.seq, state.last_at, state.last_event_id = head.seq, stored_time(head.at), head.event_id
    return state


def _funding_since(
    store: AccountSource, markets: list[str], after_seq: int, upto_seq: int
) -> list[tuple[int, ev.Event, Decimal | None]] | None:
    """Funding events of ``markets`` in (after_seq, upto_seq], each with its market's mark at that moment.

    They sit in their own streams (``funding:M``), a few a day, so reading them
    costs little; None when one of them came before its market's first mark.
    """
    if not markets:
        return []
    versions = store.stream_versions(FUNDING_STREAM_PREFIX, after_seq) if after_seq else {}
    out: list[tuple[int, ev.Event, Decimal | None]] = []
    for market in markets:
        stream = FUNDING_STREAM_PREFIX + market
        for row in store.read_stream(stream, after_version=versions.get(stream, 0), upto_seq=upto_seq):
            last = store.last_in_stream(MARKET_STREAM_PREFIX + market, row.seq)
            if last is None or last.type != ev.Mark.TYPE:
                return None
            out.append((row.seq, row.event(), last.event_as(ev.Mark).price))
    return out


def _fills_since(
    store: AccountSource, account: str, markets: list[str], after_seq: int, upto_seq: int
) -> list[tuple[int, ev.Event, Decimal | None]]:
    """The auto-deleveragings of ``markets`` in (after_seq, upto_seq] that filled ``account``, each narrowed to its
    fill (the other accounts are not kept here). Rare: one stream per market (``adl:M``)."""
    versions = store.stream_versions(ADL_STREAM_PREFIX, after_seq) if after_seq else {}
    out: list[tuple[int, ev.Event, Decimal | None]] = []
    for market in markets:
        stream = ADL_STREAM_PREFIX + market
        for row in store.read_stream(stream, after_version=versions.get(stream, 0), upto_seq=upto_seq):
            mine = row.event_as(ev.AutoDeleverage).narrowed_to(account)
            if mine is not None:
                out.append((row.seq, mine, None))
    return out


def _markets_at(store: AccountSource, seq: int) -> dict[str, MarketState]:
    """Every market listed at or before ``seq``, with its last mark by then (None when it has none yet).

    Their settle assets decide which of an account's cash counts as equity.
    """
    markets = {}
    for stream in store.stream_names(MARKET_STREAM_PREFIX):
        listing = store.stream_row(stream, 1)
        if listing is None or listing.seq > seq:
            continue
        listed, last = listing.event(), store.last_in_stream(stream, seq)
        assert isinstance(listed, ev.MarketListed) and last is not None, "a market's stream opens with its listing"
        marked = last.event() if last.type == ev.Mark.TYPE else None
        mark = marked.price if isinstance(marked, ev.Mark) else None
        markets[listed.market] = MarketState(listed.market, listed.settle_asset, listed.lot_size, listed.id, mark, None)
    return markets


def _only(state: LedgerState, account: str) -> LedgerState:
    """``state`` narrowed to one account (and every market)."""
    narrow = LedgerState(seq=state.seq, last_at=state.last_at, last_event_id=state.last_event_id, rules=state.rules)
    narrow.markets.update(state.markets)
    if account in state.accounts:
        narrow.accounts[account] = state.accounts[account]
    return narrow


def write_account_snapshots(store: CachedLog, state: LedgerState, head_hash: str, streams: Mapping[str, int]) -> int:
    """Snapshot the accounts of these streams (``account:NAME`` -> its version) at ``state``, which is at ``head_hash``."""
    rows = [
        (stream, dump_account(state.accounts[name], version))
        for stream, version in sorted(streams.items())
        if (name := stream.removeprefix(ACCOUNT_STREAM_PREFIX)) in state.accounts
    ]
    store.snapshots.save(rows, state.seq, head_hash, ACCOUNT_SNAPSHOT_FORMAT)
    return len(rows)
