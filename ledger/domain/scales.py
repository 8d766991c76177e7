"""The places a person reads each figure at: one scale per asset (money) and per market (quantities, prices).

Tables are for people, JSON and CSV for machines. A table of balances where one
USD figure reads ``1200.0`` and the next ``90.731752000`` cannot be scanned
down a column, so tables print every figure of an asset at that asset's scale
and every quantity at its market's lot scale, with thousands grouped. JSON and
CSV keep the exact figures (a statement produced from the ledger must reconcile
back exactly), and so does ``reconcile``, whose breaks may be smaller than a cent.

Where the scales come from, so that every command prints the same figure the same way:

- a quantity of market M: the places of M's ``lot_size`` (every size and fill is a
  whole number of lots, so this never rounds);
- money in asset A: an explicit ``--scale A=N`` / ``$LEDGER_SCALES``, else A's
  ISO 4217 minor unit (USD 2, JPY 0, from the ``iso4217`` package's table), else 8
  places (the satoshi, the finest unit crypto venues carry an asset in);
- a price of market M: ``--scale M=N``, else the money scale of its settle asset.

Display rounding is half-even, except where rounding must lean one way (a
liquidation price rounds toward the side that liquidates earlier). A figure
that rounds to zero keeps its sign (``-0.00``): a balance that is not zero
never reads as if it were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol

from attrs import field, frozen

from ledger.domain.money import to_str

__all__ = ["Figures", "EXACT", "at_places", "Scales", "scales_of", "parse_scale_overrides", "UNLISTED_ASSET_PLACES"]

UNLISTED_ASSET_PLACES = 8
"""Money places of an asset ISO 4217 does not list (crypto): the satoshi's 8."""

MAX_PLACES = 18
"""The most places a scale may ask for: the ledger's own finest figure (``money.MAX_PLACES``)."""


class Figures(Protocol):
    """How a read model writes a figure: exactly (JSON, CSV) or at a display scale (tables)."""

    def money(self, value: Decimal | str, asset: str) -> str: ...

    def price(self, value: Decimal | str, market: str, rounding: str = ROUND_HALF_EVEN) -> str: ...

    def quantity(self, value: Decimal | str, market: str) -> str: ...

    def market_money(self, value: Decimal | str, market: str) -> str:
        """Money of ``market``'s settle asset (a fee, a penalty, a PnL, a funding payment)."""


class _Exact:
    """Every figure as the ledger holds it (the contract's decimal strings)."""

    def money(self, value: Decimal | str, asset: str) -> str:
        return to_str(Decimal(value))

    def price(self, value: Decimal | str, market: str, rounding: str = ROUND_HALF_EVEN) -> str:
        return to_str(Decimal(value))

    def quantity(self, value: Decimal | str, market: str) -> str:
        return to_str(Decimal(value))

    def market_money(self, value: Decimal | str, market: str) -> str:
        return to_str(Decimal(value))


EXACT: Figures = _Exact()


@lru_cache(maxsize=256)
def _iso_places(asset: str) -> int | None:
    """ISO 4217's minor unit of ``asset`` (None if ISO does not list it, or lists it without one, like gold)."""
    from iso4217 import Currency  # imported where a table is drawn, not on every command

    try:
        exponent = Currency(asset.upper()).exponent
    except ValueError:
        return None
    return exponent


def _places_of(step: Decimal) -> int:
    """The places of a lot size: 0.001 → 3, 0.50 → 1, 10 → 0."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


_DISPLAY = Context(prec=MAX_PLACES + 60, traps=[InvalidOperation])
"""Display rounding is meant to be inexact: its own context, so it runs inside the ledger's exact one too."""


def at_places(value: Decimal | str, places: int, rounding: str = ROUND_HALF_EVEN, *, grouped: bool = False) -> str:
    """``value`` rounded to ``places`` for display (thousands grouped if ``grouped``); the figure itself is untouched."""
    shown = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=rounding, context=_DISPLAY)
    return f"{shown:,f}" if grouped else f"{shown:f}"


def _grouped(value: Decimal, places: int, rounding: str) -> str:
    return at_places(value, places, rounding, grouped=True)


def _frozen_map(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@frozen
class Scales:
    """The display scale of every asset and market a ledger lists (see the module docstring for where each comes from)."""

    settle_assets: Mapping[str, str] = field(converter=_frozen_map)
    lot_places: Mapping[str, int] = field(converter=_frozen_map)
    overrides: Mapping[str, int] = field(factory=dict, converter=_frozen_map)

    def money_places(self, asset: str) -> int:
        if asset in self.overrides:
            return self.overrides[asset]
        iso = _iso_places(asset)
        return UNLISTED_ASSET_PLACES if iso is None else iso

    def price_places(self, market: str) -> int:
        if market in self.overrides:
            return self.overrides[market]
        asset = self.settle_assets.get(market)
        return self.money_places(asset) if asset is not None else UNLISTED_ASSET_PLACES

    def quantity_places(self, market: str) -> int:
        return self.lot_places.get(market, UNLISTED_ASSET_PLACES)

    def money(self, value: Decimal | str, asset: str) -> str:
        return _grouped(Decimal(value), self.money_places(asset), ROUND_HALF_EVEN)

    def price(self, value: Decimal | str, market: str, rounding: str = ROUND_HALF_EVEN) -> str:
        return _grouped(Decimal(value), self.price_places(market), rounding)

    def quantity(self, value: Decimal | str, market: str) -> str:
        return _grouped(Decimal(value), self.quantity_places(market), ROUND_HALF_EVEN)

    def market_money(self, value: Decimal | str, market: str) -> str:
        asset = self.settle_assets.get(market)
        places = self.money_places(asset) if asset is not None else UNLISTED_ASSET_PLACES
        return _grouped(Decimal(value), places, ROUND_HALF_EVEN)


def scales_of(markets: Iterable[tuple[str, str, Decimal]], overrides: Mapping[str, int] | None = None) -> Scales:
    """The scales of a ledger whose markets are ``(market, settle_asset, lot_size)``."""
    listed = list(markets)
    return Scales(
        settle_assets={market: asset for market, asset, _ in listed},
        lot_places={market: _places_of(lot) for market, _, lot in listed},
        overrides=overrides or {},
    )


def parse_scale_overrides(text: str | Iterable[str] | None) -> dict[str, int]:
    """``"USD=2,BTC=8 BTC-PERP=1"`` (or the pieces) → ``{"USD": 2, "BTC": 8, "BTC-PERP": 1}``; ValueError naming a bad one."""
    pieces = [text] if isinstance(text, str) else list(text or [])
    out: dict[str, int] = {}
    for piece in (p for chunk in pieces for p in chunk.replace(",", " ").split()):
        name, sep, places = piece.partition("=")
        if not sep or not name or not places.isdigit() or int(places) > MAX_PLACES:
            raise ValueError(f"scale {piece!r}: expected NAME=PLACES with PLACES a whole number 0..{MAX_PLACES} "
                             f"(an asset such as USD=2, or a market's prices such as BTC-PERP=1)")
        out[name] = int(places)
    return out
