"""How a page writes a figure for people (the CLI's table scales), and how a download carries it (exactly).

A page shows every amount at its asset's display scale, every price at its
market's and every quantity at its lot's, as the CLI's tables do
(``Ledger.scales``: ISO 4217's minor unit, the lot's places, ``--scale``);
a figure's exact value is its cell's ``title`` (a browser shows it on hover).
Downloads carry the exact figures, as the CLI's JSON and CSV do: JSON as
``ledger ... --format json`` prints it, CSV through the CLI's own writer
(``domain.csvcells``; ``safe=1`` is ``--safe-csv``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from starlette.responses import Response

from ledger.domain.csvcells import write_csv
from ledger.domain.scales import Figures
from ledger.domain.timefmt import format_time, parse_time

__all__ = ["Shown", "json_download", "csv_download", "NONE"]

NONE = "–"
"""What a page shows for a figure that does not exist (no mark yet, no liquidation price)."""


class Shown:
    """Figures for a page: at the display scales of ``figures``; ``None`` shown as ``NONE``."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def money(self, value: str | Decimal | None, asset: str) -> str:
        return NONE if value is None else self.figures.money(value, asset)

    def price(self, value: str | Decimal | None, market: str) -> str:
        return NONE if value is None else self.figures.price(value, market)

    def qty(self, value: str | Decimal | None, market: str) -> str:
        return NONE if value is None else self.figures.quantity(value, market)

    def mmoney(self, value: str | Decimal | None, market: str) -> str:
        """An amount in ``market``'s settle asset."""
        return NONE if value is None else self.figures.market_money(value, market)

    @staticmethod
    def percent(value: str | Decimal | None, places: int = 2) -> str:
        """A ratio as a percentage (0.0125 is 1.25 %)."""
        if value is None:
            return NONE
        shown = (Decimal(value) * 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        return f"{shown:,f} %"

    @staticmethod
    def time(value: str | None) -> str:
        """A stored time as people read it: ``2024-08-05 00:15:30Z`` (microseconds only when there are some)."""
        if not value:
            return NONE
        text = format_time(parse_time(value, "time"))
        day, clock = text[:-1].split("T")
        return f"{day} {clock.removesuffix('.000000')}Z"

    @staticmethod
    def exact(value: Any) -> str:
        return NONE if value is None else str(value)


def _filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "download"


def json_download(data: Any, name: str) -> Response:
    """``data`` as the CLI prints JSON (two-space indent, UTF-8 as it is), as a file named ``name.json``."""
    body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return Response(body, media_type="application/json; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{_filename(name)}.json"'})


def csv_download(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], name: str, *, safe: bool = False) -> Response:
    """Rows through the CLI's CSV writer (``safe``: ``--safe-csv``), as a file named ``name.csv``."""
    buffer = io.StringIO()
    write_csv(buffer, list(columns), rows, safe=safe, extras="ignore")
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{_filename(name)}.csv"'})
