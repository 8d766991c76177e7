"""Generated histories (hypothesis strategies) and the runner that folds them, asserting the invariants as it goes.

``steps`` draws one ingested event as a plain tuple (deposits, withdrawals,
fills, marks with crashes, funding, margin modes and isolated margin moves
over ``ACCOUNTS`` and two ``MARKETS``); ``activations`` draws a rule
activation of every registered version; ``header`` opens a history and
``to_event`` turns a step into its event. ``run_history`` folds them one
batch each through an engine session, dropping what the ledger refuses, and
``check_after`` asserts after every accepted event what must always hold;
``fold_one_by_one`` folds any events so, with or without a liquidation index
(what the index's tests compare).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import strategies as st

from ledger import InvalidBatch
from ledger.domain import events as ev
from ledger.domain.postings import trial_balance
from ledger.domain.state import LedgerState
from ledger.engine.liquidation import scope_view, version_in_force
from ledger.engine.session import fold_batch
from tests.support.builders import (
    deposit,
    funding,
    isolated_margin,
    loss_allocation,
    margin_mode,
    mark,
    rules,
    stepped,
    tiered,
    trade,
    two_markets,
    withdrawal,
)

__all__ = ["D", "ACCOUNTS", "MARKETS", "steps", "activations", "policies", "to_event", "header", "run_history",
           "check_after", "fold_one_by_one"]

D = Decimal
ACCOUNTS = ["a0", "a1", "a2", "a3"]
MARKETS = {"BTC-PERP": (D("0.001"), 60000), "ETH-PERP": (D("0.01"), 3000)}


@st.composite
def steps(draw):
    kind = draw(st.sampled_from(["deposit", "withdrawal", "trade", "trade", "trade", "mark", "mark", "mark",
                                 "funding", "margin_mode", "isolated_margin", "isolated_margin", "loss_allocation"]))
    if kind == "loss_allocation":  # a policy switched mid-history: the next bankruptcies allocate under it
        return ("loss_allocation", draw(st.sampled_from(["socialize-v1", "adl-ranked-v1", "adl-prorata-v1"])),
                draw(st.sampled_from(["0.00000001", "0.01", "1"])), draw(st.sampled_from(["notional", "profit"])))
    account = draw(st.sampled_from(ACCOUNTS))
    market = draw(st.sampled_from(sorted(MARKETS)))
    lot, base = MARKETS[market]
    if kind == "deposit":
        return ("deposit", account, str(draw(st.integers(1, 5000))))
    if kind == "withdrawal":
        return ("withdrawal", account, str(draw(st.integers(1, 3000))))
    if kind == "funding":  # up to 5% a payment: large enough to liquidate, now and then
        return ("funding", market, str(D(draw(st.integers(-500, 500))) / 10000))
    if kind == "margin_mode":
        return ("margin_mode", account, market, draw(st.sampled_from(["isolated", "isolated", "cross"])))
    if kind == "isolated_margin":
        return ("isolated_margin", account, market, str(draw(st.integers(-1500, 2500).filter(bool))))
    move = draw(st.one_of(*[st.integers(985, 1015)] * 5, st.integers(700, 1300)))
    price = str(D(base) * D(move) / 1000)
    if kind == "mark":
        return ("mark", market, price)
    qty = str(lot * draw(st.integers(1, 3000 if market == "BTC-PERP" else 2000)))
    fee = str(D(draw(st.integers(-50, 300))) / 100)
    return ("trade", account, market, draw(st.sampled_from(["buy", "sell"])), qty, price, fee)


activations = st.one_of(
    st.builds(
        lambda version, fee, buffer: rules(version=version, fee=fee, buffer=buffer),
        st.sampled_from(["partial-v1", "full-v1"]),
        st.sampled_from(["0", "0.001", "0.002", "0.005", "0.01"]),
        st.sampled_from(["0", "0.1", "0.25", "0.5"]),
    ),
    st.builds(  # tiered-v1 needs (1+b)·mmr > f in every bracket: fees below the lowest rate
        lambda fee, buffer: tiered(fee=fee, buffer=buffer),
        st.sampled_from(["0", "0.001", "0.002", "0.004"]),
        st.sampled_from(["0", "0.1", "0.25", "0.5"]),
    ),
    st.builds(
        stepped,
        st.sampled_from(["0", "0.001", "0.005"]),
        st.sampled_from(["1000", "50000", "100000"]),
        st.sampled_from(["0.1", "0.2", "0.5", "1"]),
        st.sampled_from(["0", "30", "90"]),  # steps are a minute apart: 0 and 30 never cool, 90 does
        st.sampled_from(["0.5", "0.6667", "1"]),
    ),
)


def to_event(step, n: int):
    t = 10 + n
    if step[0] == "loss_allocation":
        _, version, quantum, weight = step
        params = {} if version == "socialize-v1" else {"cash_quantum": quantum} | (
            {"weight": weight} if version == "adl-prorata-v1" else {})
        return loss_allocation(version, t=t, id=f"s{n}", **params)
    if step[0] == "deposit":
        return deposit(step[1], step[2], t=t, id=f"s{n}")
    if step[0] == "withdrawal":
        return withdrawal(step[1], step[2], t=t, id=f"s{n}")
    if step[0] == "mark":
        return mark(step[2], market=step[1], t=t, id=f"s{n}")
    if step[0] == "funding":
        return funding(step[2], market=step[1], t=t, id=f"s{n}")
    if step[0] == "margin_mode":
        return margin_mode(step[1], step[3], market=step[2], t=t, id=f"s{n}")
    if step[0] == "isolated_margin":
        return isolated_margin(step[1], step[3], market=step[2], t=t, id=f"s{n}")
    _, account, market, side, qty, price, fee = step
    return trade(account, side, qty, price, market=market, fee=fee, t=t, id=f"s{n}")


policies = st.one_of(
    st.none(),
    st.builds(loss_allocation, st.just("socialize-v1")),
    st.builds(lambda q: loss_allocation("adl-ranked-v1", cash_quantum=q), st.sampled_from(["0.00000001", "0.01", "1"])),
    st.builds(lambda q, w: loss_allocation("adl-prorata-v1", cash_quantum=q, weight=w),
              st.sampled_from(["0.00000001", "0.01", "1"]), st.sampled_from(["notional", "profit"])),
)
"""A loss-allocation policy for a generated history (or none: the residual is socialized)."""


def header(activation=None, policy=None):
    """Two markets, the activation (if any), the loss-allocation policy (if any), 2,000 USD for every account, and two
    isolated positions-to-be: a2 fences off BTC-PERP with 800, a3 fences off ETH-PERP with 500 (generated steps
    switch modes and move margin too)."""
    return [
        *two_markets(), *([activation] if activation is not None else []), *([policy] if policy is not None else []),
        *[deposit(a, "2000", t=1, id=f"d-{a}") for a in ACCOUNTS],
        margin_mode("a2", market="BTC-PERP", t=1.5, id="mm-a2"),
        isolated_margin("a2", "800", market="BTC-PERP", t=1.6, id="im-a2"),
        margin_mode("a3", market="ETH-PERP", t=1.7, id="mm-a3"),
        isolated_margin("a3", "500", market="ETH-PERP", t=1.8, id="im-a3"),
    ]


def generated_ledger(activation, policy, history):
    """An in-memory ledger holding ``history`` appended record by record after its header, as an ingest appends it
    (a refused record stores nothing)."""
    from ledger import Ledger

    ledger = Ledger.open("memory://")
    ledger.init()
    ledger.append(header(activation, policy))
    for n, step in enumerate(history):
        with contextlib.suppress(InvalidBatch):
            ledger.append([to_event(step, n)])
    return ledger


def fold_one_by_one(events, index=None, substitute=None, *, refused_ok=True):
    """``events`` folded into a fresh state one batch each, as an ingest of one record at a time decides them, by an
    engine session with the liquidation ``index`` (None: every exposed account scanned) deciding with
    ``substitute``'s rules: (the state, every event appended, the engine's among them). A refused event stores
    nothing and is dropped, or raises where none may be (``refused_ok=False``: a case's own fixture)."""
    state, appended = LedgerState(), []
    for event in events:
        try:
            appended += fold_batch(state, [(event.id, event)], substitute=substitute, index=index).to_append
        except InvalidBatch:
            if not refused_ok:
                raise
    return state, appended


def run_history(activation, history, policy=None):
    """Feed events one batch each; returns (state, appended events, engine events)."""
    state = LedgerState()
    appended, engine = [], []
    for event in header(activation, policy) + [to_event(step, n) for n, step in enumerate(history)]:
        cash_before = {name: acct.cash.get("USD", D(0)) for name, acct in state.accounts.items()}
        try:
            outcome = fold_batch(state, [(event.id, event)])
        except InvalidBatch:
            continue
        appended += outcome.to_append
        engine += [e for e in outcome.to_append if e.TYPE in ev.ENGINE_TYPES]
        check_after(state, event, outcome.to_append, cash_before)
    return state, appended, engine


def _moves_cross_cash(event, state) -> set[str]:
    """The accounts whose cross cash ``event`` may move: its own account's, but only through its cross book."""
    if event.TYPE in ("deposit", "withdrawal", "isolated_margin"):
        return {event.account}
    if event.TYPE in ("trade", "liquidation"):  # isolated: only what is left when the position closes comes back
        return {event.account}
    if event.TYPE == "funding":
        return {name for name in state.accounts_in_market(event.market) if not state.accounts[name].is_isolated(event.market)}
    if event.TYPE == "bankruptcy" and event.market is None:
        return {event.account}
    if event.TYPE == "auto_deleverage":  # a cross fill's haircut; an isolated one closed whole returns its margin
        return {fill.account for fill in event.fills}
    return set()


def check_after(state, event, made, cash_before):
    assert all(total == 0 for total in trial_balance(state).values()), trial_balance(state)
    movers = set().union(_moves_cross_cash(event, state), *(_moves_cross_cash(e, state) for e in made))
    for name, before in cash_before.items():
        if name not in movers:
            assert state.accounts[name].cash.get("USD", D(0)) == before, f"{name}'s cross cash moved at {event.id}"
    for e in [event, *made]:  # an isolated position's loss never reaches cross cash: it only gets back what is left
        if e.TYPE in ("trade", "liquidation") and state.accounts[e.account].is_isolated(e.market):
            assert state.accounts[e.account].cash.get("USD", D(0)) >= cash_before.get(e.account, D(0)), e.id
        if e.TYPE == "bankruptcy" and e.market is not None:
            assert state.accounts[e.account].isolated[e.market] == 0
    if event.TYPE in ("mark", "funding"):
        version, params = version_in_force(state.rules)
        # a version that says why it may leave a scope distressed is not held to it for the scopes it just decided
        decided = {e.account for e in made if e.TYPE in ("liquidation", "bankruptcy")}
        excused = decided if version.may_leave_distressed else set()
        excused |= {fill.account for e in made if e.TYPE == "auto_deleverage" for fill in e.fills}  # its turn: next
        for account in sorted(set(state.accounts_in_market(event.market)) - excused):
            scope = state.accounts[account].scope_of(event.market)
            view = scope_view(state, account, scope, "USD")
            assert not version.is_distressed(view, params), f"{account} ({scope or 'cross'}) left distressed after {event.id}"
    for adl in (e for e in made if e.TYPE == "auto_deleverage"):  # what the policy placed adds up, and nothing flips
        assert sum((f.haircut for f in adl.fills), D(0)) + adl.socialized == adl.residual, adl.id
        assert sum((f.qty for f in adl.fills), D(0)) + adl.unfilled == adl.closed, adl.id
        assert all(f.qty > 0 and f.haircut >= 0 for f in adl.fills) and adl.unfilled >= 0 and adl.socialized >= 0, adl.id
        assert all(state.accounts[f.account].positions[adl.market].size * (1 if f.side == "buy" else -1) <= 0
                   for f in adl.fills), f"{adl.id}: a fill flipped a position"
    for bankrupt in (e for e in made if e.TYPE == "bankruptcy"):
        assert bankrupt.insurance_covered + bankrupt.adl_covered + bankrupt.socialized_loss == bankrupt.deficit
    for liq in (e for e in made if e.TYPE == "liquidation"):
        assert (liq.qty > 0 and liq.penalty >= 0 and liq.equity_after >= 0) or liq.penalty == 0
        if liq.reason.startswith("partial"):
            required, lot = D(liq.required_qty), state.markets[liq.market].lot_size
            assert required <= liq.qty < required + lot
            assert liq.equity_after >= liq.target_after
