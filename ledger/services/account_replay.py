"""One account, replayed from its own stream: the cost of its recent events, not of the log.

An account's cash, positions and fees depend only on the events of its stream
(``account:NAME``: its deposits, withdrawals, fills, liquidations and
bankruptcies). Valuing it needs the markets it touched: each market's listing
(the first event of ``market:M``) and its last mark at or before the point
asked for (the newest ``mark`` of that stream, read backwards through the
``(stream, stream_version)`` index). So a single account is replayed from its
latest account snapshot plus the events of its stream after it, at a cost
independent of how long the log (or the account's history) is.

Account snapshots are written after appends, for every account whose stream
passed a multiple of ``ACCOUNT_SNAPSHOT_EVERY`` events. They are caches like
the ledger's: checked against the chain on load, compared with the full replay
by the audit. A market with no mark yet at that point is valued at its last
trade price, which only the whole log knows: that rare case replays the log.
"""

from __future__ import annotations

from attrs import evolve

from ledger.domain import events as ev
from ledger.domain.fold import apply
from ledger.domain.snapshot import ACCOUNT_SNAPSHOT_FORMAT, dump_account, load_account
from ledger.domain.state import LedgerState, MarketState
from ledger.services import replay
from ledger.store import EventStore

__all__ = ["ACCOUNT_SNAPSHOT_EVERY", "ACCOUNT_PREFIX", "account_at", "write_account_snapshots"]

ACCOUNT_SNAPSHOT_EVERY = 256
"""Events of one account's stream between two of its snapshots."""
ACCOUNT_PREFIX = "account:"
_MARKET_PREFIX = "market:"


def account_at(store: EventStore, account: str, upto_seq: int | None = None) -> LedgerState:
    """A state holding ``account`` (if it exists by then) and the markets it touched, after event ``upto_seq``.

    Equal, for that account and those markets' valuation prices, to the full
    replay at the same point (tests hold them equal event by event).
    """
    head_seq = store.head()[0]
    head = store.row_at(head_seq if upto_seq is None else min(upto_seq, head_seq))
    if head is None:
        return LedgerState()
    stream = ACCOUNT_PREFIX + account
    state = LedgerState()
    version = 0
    found = store.latest_snapshot(stream, ACCOUNT_SNAPSHOT_FORMAT, head.seq)
    if found is not None:
        acct, version = load_account(found[1])
        state.accounts[account] = acct
    rows = list(store.read_stream(stream, after_version=version, upto_seq=head.seq))
    folded = [(row.seq, row.event()) for row in rows]
    touched = set(state.accounts[account].positions) if account in state.accounts else set()
    touched.update(event.market for _, event in folded if hasattr(event, "market"))
    for market in _listed_markets(store, head.seq):
        info = _market_at(store, market, head.seq)
        if info.mark_price is None and market in touched:  # valued at a last trade price: only the whole log knows it
            return _only(replay.state_at(store, head.seq), account)
        state.markets[market] = info
    for seq, event in folded:
        apply(state, event, seq)
    for market in touched:  # the fold set last-trade prices from this account's fills only
        state.markets[market] = evolve(state.markets[market], last_trade_price=None)
    state.seq, state.last_at, state.last_event_id = head.seq, head.event().at, head.event_id
    return state


def _listed_markets(store: EventStore, seq: int) -> list[str]:
    """Markets listed at or before ``seq`` (their settle assets decide which cash counts as equity)."""
    names = []
    for stream in store.stream_names(_MARKET_PREFIX):
        listing = store.stream_row(stream, 1)
        if listing is not None and listing.seq <= seq:
            names.append(stream[len(_MARKET_PREFIX):])
    return names


def _market_at(store: EventStore, market: str, seq: int) -> MarketState:
    """The market as listed, with its last mark at or before ``seq`` (None when it has none yet)."""
    stream = _MARKET_PREFIX + market
    listed, last = store.stream_row(stream, 1).event(), store.last_in_stream(stream, seq)
    mark = last.event().price if last is not None and last.type == ev.Mark.TYPE else None
    return MarketState(market, listed.settle_asset, listed.lot_size, listed.id, mark, None)


def _only(state: LedgerState, account: str) -> LedgerState:
    """``state`` narrowed to one account and the markets it holds."""
    narrow = LedgerState(seq=state.seq, last_at=state.last_at, last_event_id=state.last_event_id)
    if account in state.accounts:
        acct = state.accounts[account]
        narrow.accounts[account] = acct
        narrow.markets.update({m: state.markets[m] for m in acct.positions})
    return narrow


def write_account_snapshots(store: EventStore, state: LedgerState, head_hash: str, accounts: dict[str, int]) -> int:
    """Snapshot these accounts (name -> version of its stream) at ``state``, which is at ``head_hash``."""
    rows = [
        (ACCOUNT_PREFIX + name, dump_account(state.accounts[name], version))
        for name, version in sorted(accounts.items())
        if name in state.accounts
    ]
    store.save_snapshots(rows, state.seq, head_hash, ACCOUNT_SNAPSHOT_FORMAT)
    return len(rows)
