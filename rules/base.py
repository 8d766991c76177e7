"""What a rule sees, what it decides, and the interface every version provides.

A rule sees one account in one settle asset (``AccountView``): its cash and its
open positions, each valued at the current mark. A version owns its margin
model: maintenance and initial margin, the distress test, the target a
decision restores, the price ranges inside which a position cannot be
distressed (``Trigger``, for the ledger's liquidation index), the decision
itself and its explanation. It returns a ``Decision``: closing fills
(``Close``) in order, each carrying the figures that justify it, and possibly
a ``Bankruptcy`` when equity stays negative with every position closed.

A decision may read its ``DecisionContext`` (the triggering event's business
time, the insurance fund, and what the version's earlier decisions for the
account recorded) and nothing else: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from attrs import field, frozen

from ledger.domain.events import Close
from ledger.domain.money import ZERO

__all__ = [
    "PositionView", "AccountView", "Close", "Bankruptcy", "Decision", "DecisionContext", "Trigger", "RuleVersion",
    "MarketRates", "Params", "ParamDoc", "equity", "ScopePosition", "ScopeTriggers", "scope_positions",
    "triggers_of_view", "TriggerStands",
]


@frozen
class MarketRates:
    maintenance_margin_rate: Decimal
    initial_margin_rate: Decimal


@frozen
class Params:
    """Validated parameters of a rule version (``extra`` holds version-specific keys)."""

    liquidation_fee_rate: Decimal
    target_buffer: Decimal
    markets: Mapping[str, MarketRates]
    extra: Mapping[str, Any] = field(factory=dict)


@frozen
class PositionView:
    market: str
    size: Decimal
    entry_price: Decimal
    mark: Decimal
    lot_size: Decimal


@frozen
class AccountView:
    account: str
    settle_asset: str
    cash: Decimal
    positions: tuple[PositionView, ...]


def equity(account: AccountView) -> Decimal:
    """E = settle cash + Σ size × (mark − entry): the accounting definition every version shares."""
    return account.cash + sum((p.size * (p.mark - p.entry_price) for p in account.positions), ZERO)


@frozen
class Bankruptcy:
    deficit: Decimal
    fund_before: Decimal
    insurance_covered: Decimal
    socialized_loss: Decimal


@frozen
class Decision:
    closes: tuple[Close, ...] = ()
    bankruptcy: Bankruptcy | None = None


@frozen
class ParamDoc:
    """One parameter of a version, as ``ledger rules list`` shows it: its key, what it means, its valid range."""

    name: str
    meaning: str
    range: str


@frozen
class DecisionContext:
    """What a decision may read besides the account and the params."""

    at: datetime
    """business time of the triggering event (a mark), exactly as stored"""
    insurance_fund: Decimal
    """the fund's balance in the account's settle asset, before this decision"""
    last_partial_close: datetime | None = None
    """when this version last closed part (not all) of a position of this account, strictly before ``at``
    (under any activation of it; what earlier decisions of the version recorded, folded from the log)"""


class Trigger(NamedTuple):
    """Where one position's mark must go before the account can be distressed through it.

    A long can be distressed only at a mark <= ``price``, a short only at a
    mark >= ``price``; between, the account is safe whatever this market does
    (while the other markets stay put). ``price`` is rounded towards the mark,
    so the accounts the index names are always a superset of the distressed.
    A version that cannot bound a position gives ``Infinity`` for a long and
    ``-Infinity`` for a short: the position is then checked at every mark.
    """

    market: str
    long: bool
    price: Decimal


ScopePosition = tuple[str, Decimal, Decimal, Decimal]
"""An open position as the liquidation index hands it to ``ScopeTriggers.scope_triggers``: (market, size, entry
price, mark), a plain tuple."""


def scope_positions(account: AccountView) -> list[ScopePosition]:
    """The view's positions as ``ScopeTriggers.scope_triggers`` takes them."""
    return [(p.market, p.size, p.entry_price, p.mark) for p in account.positions]


class ScopeTriggers(Protocol):
    """What a version may add to ``RuleVersion``: its triggers from a margin scope's plain figures, no view built.

    The liquidation index re-indexes an account at most of its fills, and that
    upkeep was about a third of an ingest. Building an ``AccountView`` and a
    ``PositionView`` per position for it, then a ``Trigger`` per position that
    the index turns back into a plain tuple, was about a quarter of the upkeep
    (``docs/performance.md``, thirteenth part). The index asks a version that
    has ``scope_triggers`` for it instead of ``triggers``. The two must give
    the very same triggers, and ``tests/test_scope_triggers.py`` holds every
    registered version that has it to that. A version without it loses
    nothing but that speed.
    """

    def scope_triggers(self, cash: Decimal, positions: Sequence[ScopePosition], params: Any) -> list[tuple[str, bool, Decimal]]:
        """``triggers`` of the scope whose cash is ``cash`` and whose open positions are ``positions`` (by market),
        each as a plain (market, long, price): what ``triggers`` of that scope's view gives, whatever its account's
        name, settle asset and lots (a version's triggers read the cash, and each position's market, size, entry
        price and mark, only)."""


class TriggerStands(Protocol):
    """What a version may add to ``RuleVersion``: whether an account's triggers still stand after a fill that took part
    (or all) of one of its positions off, so that the liquidation index need not recompute them.

    39% of the benchmark history's fills take a position down, and each recomputed
    its account's triggers (the index's upkeep was a quarter of an ingest).
    The answer must be safe: True only when, after the fill, the triggers the
    account holds still name it at every mark that could distress it (a
    superset, as ever): E − MM nowhere in their range below its least value
    there before the fill (not below it at every price: a long sold below a
    rising mark has less there). ``tests/test_trigger_stands.py`` holds every
    registered version that has it to that over generated scopes and fills.
    It may read only the params ``trigger_key`` names: what-if worlds whose
    keys are equal share one index, and so its answers. The flat-rate model
    and tiered-v1 answer by ``rules.triggers.reduction_keeps``. A version
    without it loses nothing but that speed: its account is re-indexed at
    every fill.
    """

    def trigger_stands(self, trigger: Decimal, is_long: bool, qty: Decimal, price: Decimal, fee: Decimal, market: str,
                       params: Any) -> bool:
        """Whether the triggers of a cross margin scope stand after a fill in ``market`` took ``qty`` (> 0, at most the
        position's size: its side stays, or it closes) off the position whose trigger was ``trigger`` (a long's when
        ``is_long``), at ``price``, paying ``fee`` (negative: a rebate) from the scope's cash."""


def triggers_of_view(version: ScopeTriggers, account: AccountView, params: Any) -> list[Trigger]:
    """``triggers`` of a version that finds them by its ``scope_triggers``: the view's cash and positions, plainly,
    and each trigger back as a ``Trigger`` (what the flat-rate model and tiered-v1 answer ``triggers`` with)."""
    return [Trigger(*trigger) for trigger in version.scope_triggers(account.cash, scope_positions(account), params)]


class RuleVersion(Protocol):
    """The shape every registered version has: its margin model, its decision and its explanation.

    ``Params`` here stands for the version's own parsed, typed parameters.
    """

    name: str
    summary: str
    parameters: tuple[ParamDoc, ...]
    """every key its params take, with meaning and range (generated into ``rules list`` and the docs)"""
    may_leave_distressed: str | None
    """None: a decision never leaves the account (or isolated position) distressed, and the property tests hold the
    version to that; otherwise the reason it may (the tests then skip that one check for scopes it just decided)"""

    def parse_params(self, raw: Mapping[str, Any]) -> Any:
        """The version's typed params; ``InvalidRuleParams`` naming the key for anything off-shape or out of range."""

    def margined_markets(self, params: Any) -> frozenset[str]:
        """The markets these params give margin for (every listed market must be one)."""

    def maintenance(self, account: AccountView, params: Any) -> Decimal:
        """Maintenance margin of the account (the sum over its positions)."""

    def initial(self, account: AccountView, params: Any) -> Decimal:
        """Initial margin of the account (a withdrawal must leave equity at or above it)."""

    def position_maintenance(self, position: PositionView, params: Any) -> Decimal: ...

    def position_initial(self, position: PositionView, params: Any) -> Decimal: ...

    def is_distressed(self, account: AccountView, params: Any) -> bool:
        """Whether the account must be liquidated now."""

    def target(self, account: AccountView, params: Any) -> Decimal:
        """The margin figure a decision restores equity to (or the trigger itself for versions without a target)."""

    def triggers(self, account: AccountView, params: Any) -> Sequence[Trigger]:
        """One ``Trigger`` per open position of a non-distressed account (see ``Trigger``)."""

    def trigger_key(self, raw: Mapping[str, Any]) -> Any:
        """The part of the raw params ``triggers`` depends on: two params with the same key give every account the
        same triggers, so what-if worlds that differ only elsewhere (a fee rate, a target buffer) share one
        liquidation index (``ledger.compliance.differential``). Returning ``raw`` whole is always right; a smaller
        key only shares more. ``tests/test_differential.py`` holds every version to it."""

    def liquidation_price(self, account: AccountView, market: str, params: Any) -> Decimal | None:
        """The mark of ``market`` at which the account would first be distressed, all other marks unchanged; None
        when no price can (``rules.liquidation_price``). Never on the safe side of the position's ``Trigger``."""

    def decide(self, account: AccountView, params: Any, context: DecisionContext) -> Decision:
        """The closes (and bankruptcy) for a distressed account."""

    def explain(self, account: AccountView, params: Any, close: Close) -> dict[str, str]:
        """Why ``close`` (made from ``account`` as it was just before it): the formula and the figures, as text."""
