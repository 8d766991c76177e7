"""The events: small, frozen, past-tense facts.

Two families. *Ingested* events come from outside (files, the API):
``market_listed``, ``deposit``, ``withdrawal``, ``trade``, ``mark``,
``rules_activated``, and the perpetual account model's ``funding``,
``margin_mode`` and ``isolated_margin``. *Engine-made* events are appended by
the liquidation engine when a mark or a funding payment distresses an account
(or a trade closes an isolated position whose margin is negative):
``liquidation`` and ``bankruptcy``; they are never accepted from a file.

Fields are validated by type only (``instance_of(Decimal)`` refuses floats
rather than converting them); business rules (positive amounts, lot grid, known
markets) live in ``validation`` because they depend on the ledger's state.
Every event belongs to exactly one stream (see ``stream_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
from attrs import field, frozen
from attrs.validators import in_, instance_of, optional

__all__ = [
    "Event",
    "Close",
    "CLOSE_FIELDS",
    "REQUIRED_QTY_WHOLE",
    "flat_fields",
    "from_flat",
    "MarketListed",
    "Deposit",
    "Withdrawal",
    "Trade",
    "Mark",
    "RulesActivated",
    "Funding",
    "MarginMode",
    "IsolatedMargin",
    "CROSS",
    "ISOLATED",
    "MARGINS",
    "SIDES",
    "CHOICES",
    "Liquidation",
    "Bankruptcy",
    "EVENT_TYPES",
    "INGESTED_TYPES",
    "ENGINE_TYPES",
    "EngineEvent",
    "stream_of",
    "ACCOUNT_STREAM_PREFIX",
    "MARKET_STREAM_PREFIX",
    "FUNDING_STREAM_PREFIX",
    "ADL_STREAM_PREFIX",
    "LOSS_ALLOCATION_STREAM",
    "accounts_of",
    "ADL_ID_MARK",
    "LossAllocationActivated",
    "AutoDeleverage",
    "DeleverageFill",
    "ENGINE_ID_MARKS",
    "ACCOUNT_NAME_SEPARATORS",
    "engine_id",
    "LIQUIDATION_ID_MARK",
    "BANKRUPTCY_ID_MARK",
    "freeze",
    "thaw",
]

_dec = instance_of(Decimal)
_str = instance_of(str)

CHOICES = "choices"
"""The metadata key of a field that holds one of a few words (its validator's ``in_``): the codec reads them there
to refuse another word by naming them, so the words are declared once, with the field."""
SIDES = ("buy", "sell")


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data (dicts become read-only mappings)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, for encoding."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _utc(instance: Any, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if type(value) is datetime and value.tzinfo is UTC:  # the usual time (every decoded one): no offset to ask for
        return
    offset = value.utcoffset() if isinstance(value, datetime) else None
    if offset is None or offset.total_seconds() != 0:
        raise TypeError(f"{attribute.name} must be a UTC datetime, got {value!r}")


@frozen(kw_only=True)
class Event:
    """Common envelope: the idempotency key ``id`` and the business time ``at``."""

    TYPE: ClassVar[str] = ""
    id: str = field(validator=_str)
    at: datetime = field(validator=_utc)


@frozen(kw_only=True)
class MarketListed(Event):
    """A linear perpetual market opened: what it settles in and its quantity step."""

    TYPE: ClassVar[str] = "market_listed"
    market: str = field(validator=_str)
    settle_asset: str = field(validator=_str)
    lot_size: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class Deposit(Event):
    """Money arrived in an account from outside the venue."""

    TYPE: ClassVar[str] = "deposit"
    account: str = field(validator=_str)
    asset: str = field(validator=_str)
    amount: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class Withdrawal(Event):
    """Money left an account for outside the venue."""

    TYPE: ClassVar[str] = "withdrawal"
    account: str = field(validator=_str)
    asset: str = field(validator=_str)
    amount: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class Trade(Event):
    """A fill on a linear perpetual; ``fee`` is in the settle asset (negative: rebate)."""

    TYPE: ClassVar[str] = "trade"
    account: str = field(validator=_str)
    market: str = field(validator=_str)
    side: str = field(validator=in_(SIDES), metadata={CHOICES: SIDES})
    qty: Decimal = field(validator=_dec)
    price: Decimal = field(validator=_dec)
    fee: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class Mark(Event):
    """A mark price for a market; the liquidation engine checks accounts on it."""

    TYPE: ClassVar[str] = "mark"
    market: str = field(validator=_str)
    price: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class RulesActivated(Event):
    """From ``at`` on, rule ``version`` with ``params`` decides liquidations."""

    TYPE: ClassVar[str] = "rules_activated"
    version: str = field(validator=_str)
    params: Mapping[str, Any] = field(converter=freeze, validator=instance_of(Mapping))  # type: ignore[type-abstract]  # attrs asks for a class; Mapping is one


@frozen(kw_only=True)
class LossAllocationActivated(Event):
    """From ``at`` on, loss-allocation policy ``version`` with ``params`` allocates what the insurance fund cannot cover
    of a bankruptcy (before any: a socialized loss)."""

    TYPE: ClassVar[str] = "loss_allocation_activated"
    version: str = field(validator=_str)
    params: Mapping[str, Any] = field(converter=freeze, validator=instance_of(Mapping))  # type: ignore[type-abstract]  # attrs asks for a class; Mapping is one


CROSS, ISOLATED = "cross", "isolated"
MARGINS = (CROSS, ISOLATED)


@frozen(kw_only=True)
class Funding(Event):
    """A funding payment on a perpetual: every open position of ``market`` pays ``size × P × rate``.

    P is the market's valuation price at that moment (its last mark, or before
    any mark its last trade, which only a log written before the ingest refused
    funding without a mark can hold). A positive rate makes longs pay and shorts
    receive; the system ``funding`` account is the counterparty.
    """

    TYPE: ClassVar[str] = "funding"
    market: str = field(validator=_str)
    rate: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class MarginMode(Event):
    """From now on the account's position in ``market`` is margined ``cross`` (the default) or ``isolated``."""

    TYPE: ClassVar[str] = "margin_mode"
    account: str = field(validator=_str)
    market: str = field(validator=_str)
    mode: str = field(validator=in_(MARGINS), metadata={CHOICES: MARGINS})


@frozen(kw_only=True)
class IsolatedMargin(Event):
    """Cash moved from the account's cross cash into ``market``'s isolated margin (negative: back)."""

    TYPE: ClassVar[str] = "isolated_margin"
    account: str = field(validator=_str)
    market: str = field(validator=_str)
    amount: Decimal = field(validator=_dec)


@frozen(kw_only=True)
class Close:
    """Close ``qty`` of ``market`` with a ``side`` fill at ``price``, paying ``penalty``, and the figures that justify it.

    One value, shared: a rule version's decision holds it (``rules.base.Decision``)
    and the engine's liquidation event records it (``Liquidation.close``), so the
    explanation of a stored liquidation asks the version about the very close it
    decided, never a field-by-field copy. ``side`` is the side of the closing
    fill. ``penalty`` goes to the insurance fund. The ``*_before``/``*_after``
    figures are the margin scope's equity, maintenance margin and target (in the
    settle asset) around this close, and ``required_qty`` the unrounded quantity
    the rule's formula asked for (None when the rule closes whole positions).
    """

    market: str = field(validator=_str)
    side: str = field(validator=in_(SIDES), metadata={CHOICES: SIDES})
    qty: Decimal = field(validator=_dec)
    price: Decimal = field(validator=_dec)
    penalty: Decimal = field(validator=_dec)
    reason: str = field(validator=_str)
    equity_before: Decimal = field(validator=_dec)
    maintenance_before: Decimal = field(validator=_dec)
    target_before: Decimal = field(validator=_dec)
    equity_after: Decimal = field(validator=_dec)
    maintenance_after: Decimal = field(validator=_dec)
    target_after: Decimal = field(validator=_dec)
    required_qty: Decimal | None = field(validator=optional(_dec))


REQUIRED_QTY_WHOLE = "none"
"""How the outputs (``liquidations``, ``explain``) and payload schema 1 write a ``required_qty`` of a whole close."""


@frozen(kw_only=True)
class Liquidation(Event):
    """The engine closed part or all of a position at the mark: ``close``, as the rule decided it, for ``account``.

    Its figures are read through the close (``event.qty`` is ``event.close.qty``):
    the payload stores them flat, as it always has (``close_fields``).
    """

    TYPE: ClassVar[str] = "liquidation"
    account: str = field(validator=_str)
    rule_version: str = field(validator=_str)
    trigger: str = field(validator=_str)
    close: Close = field(validator=instance_of(Close))

    @classmethod
    def of(cls, **fields: Any) -> Liquidation:
        """From its flat fields (a payload's, or an ingest-shaped object's): the close's figures, and the rest."""
        figures = {name: fields.pop(name) for name in CLOSE_FIELDS}
        return cls(close=Close(**figures), **fields)

    @property
    def market(self) -> str:
        return self.close.market

    @property
    def side(self) -> str:
        return self.close.side

    @property
    def qty(self) -> Decimal:
        return self.close.qty

    @property
    def price(self) -> Decimal:
        return self.close.price

    @property
    def penalty(self) -> Decimal:
        return self.close.penalty

    @property
    def reason(self) -> str:
        return self.close.reason

    @property
    def equity_before(self) -> Decimal:
        return self.close.equity_before

    @property
    def maintenance_before(self) -> Decimal:
        return self.close.maintenance_before

    @property
    def target_before(self) -> Decimal:
        return self.close.target_before

    @property
    def equity_after(self) -> Decimal:
        return self.close.equity_after

    @property
    def maintenance_after(self) -> Decimal:
        return self.close.maintenance_after

    @property
    def target_after(self) -> Decimal:
        return self.close.target_after

    @property
    def required_qty(self) -> Decimal | None:
        return self.close.required_qty


CLOSE_FIELDS = tuple(a.name for a in attrs.fields(Close))
"""A liquidation's flat fields that are its close's."""


_LIQUIDATION_ORDER = ("id", "at", "account", "market", "side", "qty", "price", "penalty", "rule_version", "trigger",
                      "reason", "equity_before", "maintenance_before", "target_before", "equity_after",
                      "maintenance_after", "target_after", "required_qty")
"""A liquidation's flat fields in the order they were always shown (``explain``'s JSON lists them so)."""


def flat_fields(cls: type[Event]) -> list[attrs.Attribute[Any]]:
    """An event type's fields as its payload and its ingest shape hold them: a liquidation's close spread out flat."""
    out: list[attrs.Attribute[Any]] = []
    for attribute in attrs.fields(cls):
        out.extend(attrs.fields(Close) if attribute.name == "close" else [attribute])
    if cls is Liquidation:
        named = {attribute.name: attribute for attribute in out}
        assert set(named) == set(_LIQUIDATION_ORDER), "every field of a liquidation has its place"
        out = [named[name] for name in _LIQUIDATION_ORDER]
    return out


def from_flat(cls: type[Event], fields: dict[str, Any]) -> Event:
    """An event of ``cls`` from its flat fields (``flat_fields``)."""
    return Liquidation.of(**fields) if cls is Liquidation else cls(**fields)


@frozen(kw_only=True)
class Bankruptcy(Event):
    """An account's equity stayed negative with every position closed (or one isolated position's margin did).

    The ``deficit`` is covered by the insurance fund up to ``fund_before``
    (``insurance_covered``); any rest is a ``socialized_loss``, recorded
    honestly against the socialized-loss system account.
    """

    TYPE: ClassVar[str] = "bankruptcy"
    account: str = field(validator=_str)
    asset: str = field(validator=_str)
    deficit: Decimal = field(validator=_dec)
    fund_before: Decimal = field(validator=_dec)
    insurance_covered: Decimal = field(validator=_dec)
    socialized_loss: Decimal = field(validator=_dec)
    rule_version: str = field(validator=_str)
    trigger: str = field(validator=_str)
    market: str | None = field(default=None, validator=optional(_str))
    """The isolated position whose margin went bankrupt; None for a cross bankruptcy (the account's cross cash).
    Added in payload schema 2; the upcaster gives older bankruptcies None."""
    adl_covered: Decimal = field(default=Decimal(0), validator=_dec)
    """What auto-deleveraging counterparties paid (the ``auto_deleverage`` events after it): deficit =
    insurance_covered + adl_covered + socialized_loss. Added in payload schema 3; older bankruptcies had none."""


@frozen(kw_only=True)
class DeleverageFill:
    """One counterparty's part of an auto-deleveraging: it closes ``qty`` of its position (``size`` at
    ``entry_price`` before) at the mark with a ``side`` fill and pays ``haircut`` from its margin scope (``margin``:
    cross or isolated); ``basis`` is its queue score (ranked) or its weight (pro-rata), ``rank`` its place (1 first)."""

    account: str = field(validator=_str)
    margin: str = field(validator=in_(MARGINS), metadata={CHOICES: MARGINS})
    side: str = field(validator=in_(SIDES), metadata={CHOICES: SIDES})
    size: Decimal = field(validator=_dec)
    entry_price: Decimal = field(validator=_dec)
    qty: Decimal = field(validator=_dec)
    haircut: Decimal = field(validator=_dec)
    basis: str = field(validator=_str)
    rank: str = field(validator=_str)


@frozen(kw_only=True)
class AutoDeleverage(Event):
    """The loss-allocation policy in force placed ``residual`` of bankruptcy ``bankruptcy`` in ``market``.

    ``closed`` is what the bankrupt scope had closed there at ``mark`` (each
    unit carries ``residual / closed``); the fills close that much of the
    opposite positions and pay the haircuts; ``unfilled`` stays in the
    liquidation inventory and ``socialized`` (what no haircut paid, rounding
    residue included) is booked as a socialized loss by the bankruptcy.
    """

    TYPE: ClassVar[str] = "auto_deleverage"
    policy: str = field(validator=_str)
    params: Mapping[str, Any] = field(converter=freeze, validator=instance_of(Mapping))  # type: ignore[type-abstract]  # attrs asks for a class; Mapping is one
    bankruptcy: str = field(validator=_str)
    trigger: str = field(validator=_str)
    market: str = field(validator=_str)
    asset: str = field(validator=_str)
    mark: Decimal = field(validator=_dec)
    residual: Decimal = field(validator=_dec)
    closed: Decimal = field(validator=_dec)
    fills: tuple[DeleverageFill, ...] = field(validator=instance_of(tuple))
    unfilled: Decimal = field(validator=_dec)
    socialized: Decimal = field(validator=_dec)

    def narrowed_to(self, account: str) -> AutoDeleverage | None:
        """This event with ``account``'s fill alone (None when it has none): what replaying that one account folds,
        the other accounts not being kept there."""
        mine = tuple(fill for fill in self.fills if fill.account == account)
        return attrs.evolve(self, fills=mine) if mine else None


AnyEvent = (MarketListed | Deposit | Withdrawal | Trade | Mark | RulesActivated | Funding | MarginMode | IsolatedMargin
            | LossAllocationActivated | Liquidation | Bankruptcy | AutoDeleverage)

EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType(
    {cls.TYPE: cls for cls in (MarketListed, Deposit, Withdrawal, Trade, Mark, RulesActivated, Funding, MarginMode,
                               IsolatedMargin, LossAllocationActivated, Liquidation, Bankruptcy, AutoDeleverage)}
)
INGESTED_TYPES = frozenset(
    {"market_listed", "deposit", "withdrawal", "trade", "mark", "rules_activated", "funding", "margin_mode", "isolated_margin",
     "loss_allocation_activated"}
)
ENGINE_TYPES = frozenset({"liquidation", "bankruptcy", "auto_deleverage"})
EngineEvent = Liquidation | Bankruptcy | AutoDeleverage
"""What the liquidation engine records (never ingested)."""

SYSTEM_STREAM = "system"
ACCOUNT_STREAM_PREFIX = "account:"
"""An account's events form the stream ``account:NAME``."""
MARKET_STREAM_PREFIX = "market:"
"""A market's listing and marks form the stream ``market:NAME``."""
FUNDING_STREAM_PREFIX = "funding:"
"""A market's funding payments form the stream ``funding:NAME``: apart from its marks, so the newest row of
``market:NAME`` is still its last mark, and replaying one account reads its markets' few funding events only."""
LOSS_ALLOCATION_STREAM = "loss_allocation"
"""The activations of loss-allocation policies: apart from ``system`` (the rules'), whose last row is the rules in force."""
ADL_STREAM_PREFIX = "adl:"
"""A market's auto-deleveragings form the stream ``adl:NAME`` (each moves several accounts, as a funding does)."""
LIQUIDATION_ID_MARK = "/liq/"
BANKRUPTCY_ID_MARK = "/bankruptcy/"
ADL_ID_MARK = "/adl/"
ENGINE_ID_MARKS = (LIQUIDATION_ID_MARK, BANKRUPTCY_ID_MARK, ADL_ID_MARK)
"""The engine names its events ``TRIGGER/liq/ACCOUNT/MARKET`` and ``TRIGGER/bankruptcy/ACCOUNT/ASSET``; no ingested id
may contain these marks, so no input can take the id of a decision the engine has yet to make."""
ACCOUNT_NAME_SEPARATORS = ("/", "@", ":")
"""What an ingested account name may not contain: ``/`` separates the parts of an engine id, ``@`` and ``:`` those of
a reconcile statement's key (``NAME@MARKET``, ``system:NAME``). With these out of account names, every engine id and
every statement key names one thing only (#27 points 6 and 7): ``a`` isolated in ``b/USD`` and ``a/b`` cross in
``USD`` gave one bankruptcy id, and the whole mark was refused on every retry."""


def engine_id(trigger: str, mark: str, account: str, scope: str) -> str:
    """The id of the engine's decision ``mark`` (one of ``ENGINE_ID_MARKS``) at ``trigger`` for ``account`` in
    ``scope`` (a market, or a cross margin's asset). Unambiguous while the trigger holds no engine mark and the
    account no ``/`` (what admission refuses): the first mark ends the trigger, the next ``/`` the account."""
    return f"{trigger}{mark}{account}/{scope}"


def accounts_of(event: Event) -> list[str]:
    """The accounts an event moves by itself: its own account, or every account an auto-deleveraging filled (a mark,
    a funding or a listing names none: they move holders through prices)."""
    if isinstance(event, AutoDeleverage):
        return [fill.account for fill in event.fills]
    account = getattr(event, "account", None)
    return [] if account is None else [account]


def stream_of(event: Event) -> str:
    """The stream an event belongs to: its account, its market's funding, its market, or the system."""
    if isinstance(event, Funding):
        return f"{FUNDING_STREAM_PREFIX}{event.market}"
    if isinstance(event, AutoDeleverage):
        return f"{ADL_STREAM_PREFIX}{event.market}"
    if isinstance(event, LossAllocationActivated):
        return LOSS_ALLOCATION_STREAM
    account = getattr(event, "account", None)
    if account is not None:
        return f"{ACCOUNT_STREAM_PREFIX}{account}"
    market = getattr(event, "market", None)
    if market is not None:
        return f"{MARKET_STREAM_PREFIX}{market}"
    return SYSTEM_STREAM
