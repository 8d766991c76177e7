"""What fresh input must stay within: limits set by whoever appends, not stored in the log.

Like the future tolerance, the price band guards the write path against
input that is well formed but no venue could mean (#27 point 13): a fill at
price 1 on a 3,000 market moves money by contract (it bankrupted an isolated
position and socialized 2,699), and a fill before a market's first mark set
the price a funding payment then valued every position at. These limits
decide what is *accepted*; they never change what a replay, an audit or a
what-if computes from what was accepted (a what-if world re-runs recorded
events without them), so a ledger's history replays the same whatever band
its writers used.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from attrs import Factory, field, frozen

from ledger.domain import events as ev
from ledger.domain.money import EXACT_METHODS, to_str
from ledger.domain.state import LedgerState
from ledger.domain.timefmt import format_time
from ledger.errors import InvalidEvent

__all__ = ["InputLimits", "DEFAULT_PRICE_BAND", "MAX_PRICE_BAND"]

DEFAULT_PRICE_BAND = Decimal("0.25")
"""A fill's price may differ from its market's last mark by at most this share of it (25%: far wider than any
minute of the 2024-08-05 crash, far narrower than a fill at 1 on a 3,000 market)."""
MAX_PRICE_BAND = Decimal(10)
"""The widest band an operator may set (a fill at up to 11× the mark): wider is no band."""


@frozen
class InputLimits:
    """``not_after``: the latest business time accepted (the recording time plus the tolerance). ``price_band``: the
    share of the reference price a fill may differ from it (None: no band)."""

    not_after: datetime | None = None
    price_band: Decimal | None = DEFAULT_PRICE_BAND
    _factors: tuple[Decimal, Decimal] | None = field(init=False, eq=False, repr=False, default=Factory(
        lambda self: None if self.price_band is None else (
            EXACT_METHODS.subtract(1, self.price_band), EXACT_METHODS.add(1, self.price_band)), takes_self=True))
    """(1 − band, 1 + band), once per limits object: every fill is held to them"""

    def check_time(self, event: ev.Event) -> None:
        """One event stamped in the far future would refuse every real event after it as going backwards, forever."""
        if self.not_after is not None and event.at > self.not_after:
            raise InvalidEvent(
                f"business time {format_time(event.at)} is later than the recording time plus the tolerance "
                f"({format_time(self.not_after)}): an event from the future would block every event after it"
            )

    def check_prices(self, state: LedgerState, event: ev.Event) -> None:
        """A fill within the band of its market's last mark (before the first mark, of the fills before it); a funding
        payment only once its market has a mark (before it, the valuation would be a fill's price)."""
        if isinstance(event, ev.Funding) and state.markets[event.market].mark_price is None:
            raise InvalidEvent(f"market {event.market!r} has no mark yet: a funding payment is valued at the mark "
                               "(before the first one, it would take a fill's price)")
        if not isinstance(event, ev.Trade) or self.price_band is None:
            return
        market = state.markets[event.market]
        reference, what = ((market.mark_price, "last mark") if market.mark_price is not None
                           else (market.last_trade_price, "last fill (no mark yet)"))
        if reference is None:
            return  # the first fill of a market with no mark: nothing to hold it to
        below, above = self._factors  # type: ignore[misc]  # set with the band
        low, high = EXACT_METHODS.multiply(reference, below), EXACT_METHODS.multiply(reference, above)
        if not low <= event.price <= high:
            raise InvalidEvent(
                f"price {to_str(event.price)} is outside the price band of {event.market}: within "
                f"{to_str((self.price_band * 100).normalize())}% of its {what} {to_str(reference)} "
                f"({to_str(low)} to {to_str(high)}); a fill that far off moves money by contract (--price-band sets it)"
            )
