"""Charts as inline SVG, drawn in Python from the exact figures: no plotting library, no script, no float.

A chart is a time axis (UTC) and one value axis in one unit: lines (steps for
a balance that holds until the next event, straight for sampled prices) and
marks (a liquidation, a funding payment) placed on them, each mark a link to
the event's own page and titled with what it was (a browser shows the title
on hover). Coordinates are computed in Decimal from integer microseconds and
rounded to a tenth of a pixel; every text is escaped. A long series is thinned
to the first, lowest, highest and last point of each pixel column, so a
one-minute crash in a day of marks stays on the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from attrs import field, frozen
from markupsafe import Markup, escape

__all__ = ["Line", "Marks", "time_chart", "COLOURS"]

COLOURS = {
    "equity": "#1f77b4", "maintenance": "#ff7f0e", "target": "#9467bd", "liquidation": "#d62728",
    "funding": "#2ca02c", "fund": "#2ca02c", "mark": "#1f77b4", "rate": "#8c564b", "bankruptcy": "#17becf",
}
"""One colour per kind of figure, the same on every page (tab10's: a screenshot test looks for them)."""

_TENTH = Decimal("0.1")
_MICRO = timedelta(microseconds=1)


@frozen
class Line:
    label: str
    colour: str
    points: Sequence[tuple[datetime, Decimal]]
    step: bool = True
    """a balance holds until the next event (a step); a price is sampled (straight segments)"""
    dashed: bool = False


@frozen
class Marks:
    label: str
    colour: str
    points: Sequence[tuple[datetime, Decimal, str, str | None]]
    """(time, value, title, link or None)"""
    shape: str = field(default="circle")


@frozen
class _Frame:
    """Where the plot area is, and which times and values its edges stand for."""

    left: int
    top: int
    width: int
    height: int
    start: datetime
    end: datetime
    low: Decimal
    high: Decimal

    def x(self, at: datetime) -> Decimal:
        span = max((self.end - self.start) // _MICRO, 1)
        return _px(self.left + Decimal((at - self.start) // _MICRO) * self.width / span)

    def y(self, value: Decimal) -> Decimal:
        span = self.high - self.low or Decimal(1)
        return _px(self.top + self.height - (value - self.low) * self.height / span)


def _px(value: Decimal) -> Decimal:
    return value.quantize(_TENTH, rounding=ROUND_HALF_EVEN)


def _nice_step(span: Decimal, ticks: int) -> Decimal:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into about ``ticks`` parts."""
    raw = span / ticks if span > 0 else Decimal(1)
    power = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10


def _value_ticks(low: Decimal, high: Decimal) -> tuple[Decimal, Decimal, list[Decimal]]:
    """The value axis widened to round ticks: (low, high, ticks)."""
    if low == high:
        low, high = low - 1, high + 1
    step = _nice_step(high - low, 4)
    first = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    ticks = [first]
    while ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return ticks[0], ticks[-1], ticks


def _thinned(points: Sequence[tuple[datetime, Decimal]], start: datetime, end: datetime,
             columns: int) -> list[tuple[datetime, Decimal]]:
    """At most about four points per pixel column (first, lowest, highest, last), in time order."""
    if len(points) <= 2 * columns:
        return list(points)
    span = max((end - start) // _MICRO, 1)
    buckets: dict[int, list[tuple[datetime, Decimal]]] = {}
    for point in points:
        buckets.setdefault((point[0] - start) // _MICRO * columns // span, []).append(point)
    kept: list[tuple[datetime, Decimal]] = []
    for column in sorted(buckets):
        group = buckets[column]
        chosen = {0, len(group) - 1, min(range(len(group)), key=lambda i: group[i][1]),
                  max(range(len(group)), key=lambda i: group[i][1])}
        kept += [group[i] for i in sorted(chosen)]
    return kept


def _path(frame: _Frame, line: Line) -> str:
    points = _thinned(line.points, frame.start, frame.end, frame.width)
    coords: list[str] = []
    for n, (at, value) in enumerate(points):
        x, y = frame.x(at), frame.y(value)
        if line.step and n:
            coords.append(f"{x},{coords[-1].split(',')[1]}")
        coords.append(f"{x},{y}")
    if line.step and points:
        coords.append(f"{frame.left + frame.width},{coords[-1].split(',')[1]}")
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    return (f'<polyline class="line" fill="none" stroke="{line.colour}" stroke-width="2.5"{dash} '
            f'points="{" ".join(coords)}"><title>{escape(line.label)}</title></polyline>')


def _mark(frame: _Frame, marks: Marks, point: tuple[datetime, Decimal, str, str | None]) -> str:
    at, value, title, link = point
    x, y = frame.x(at), frame.y(value)
    if marks.shape == "triangle":
        shape = (f'<polygon points="{x},{y - 7} {x - 6},{y + 5} {x + 6},{y + 5}" fill="{marks.colour}" '
                 f'stroke="#ffffff" stroke-width="1"/>')
    else:
        shape = f'<circle cx="{x}" cy="{y}" r="6" fill="{marks.colour}" stroke="#ffffff" stroke-width="1"/>'
    body = f"<g><title>{escape(title)}</title>{shape}</g>"
    return f'<a href="{escape(link)}">{body}</a>' if link else body


def _axes(frame: _Frame, ticks: list[Decimal], unit: str) -> list[str]:
    parts = [(f'<rect x="{frame.left}" y="{frame.top}" width="{frame.width}" height="{frame.height}" '
              'fill="#ffffff" stroke="#999999"/>')]
    for tick in ticks:
        y = frame.y(tick)
        parts.append(f'<line x1="{frame.left}" x2="{frame.left + frame.width}" y1="{y}" y2="{y}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{frame.left - 6}" y="{y + 4}" text-anchor="end" class="tick">{escape(f"{tick:,f}")}'
                     "</text>")
    span = frame.end - frame.start
    for n in range(5):
        at = frame.start + span * n / 4
        x = frame.x(at)
        label = at.strftime("%m-%d %H:%M:%S") if span < timedelta(hours=1) else at.strftime("%m-%d %H:%M")
        parts.append(f'<text x="{x}" y="{frame.top + frame.height + 16}" text-anchor="middle" class="tick">'
                     f"{escape(label)}</text>")
    parts.append(f'<text x="{frame.left + frame.width}" y="{frame.top + frame.height + 32}" text-anchor="end" '
                 f'class="axis">time (UTC)</text>')
    parts.append(f'<text x="12" y="{frame.top + frame.height // 2}" class="axis" '
                 f'transform="rotate(-90 12 {frame.top + frame.height // 2})" text-anchor="middle">{escape(unit)}</text>')
    return parts


def _legend(lines: Sequence[Line], marks: Sequence[Marks], left: int) -> list[str]:
    parts, x = [], left
    for label, colour in [(line.label, line.colour) for line in lines] + [(m.label, m.colour) for m in marks]:
        parts.append(f'<rect x="{x}" y="8" width="14" height="14" fill="{colour}"/>')
        parts.append(f'<text x="{x + 19}" y="20" class="legend">{escape(label)}</text>')
        x += 30 + 7 * len(label)
    return parts


def time_chart(
    title: str, unit: str, lines: Sequence[Line], marks: Sequence[Marks] = (), *,
    span: tuple[datetime, datetime] | None = None, width: int = 900, height: int = 300,
) -> Markup:
    """An SVG chart of ``lines`` and ``marks`` over time (``span``: the time axis, else the data's own), in ``unit``."""
    times = [p[0] for line in lines for p in line.points] + [p[0] for m in marks for p in m.points]
    values = [p[1] for line in lines for p in line.points] + [p[1] for m in marks for p in m.points]
    if not times:
        return Markup('<p class="empty">{}</p>').format(f"{title}: nothing to chart at this point.")
    start, end = span or (min(times), max(times))
    if end <= start:
        start, end = start - timedelta(minutes=1), end + timedelta(minutes=1)
    low, high, ticks = _value_ticks(min(values), max(values))
    frame = _Frame(96, 34, width - 96 - 16, height - 34 - 40, start, end, low, high)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
              f'aria-label="{escape(title)}"><title>{escape(title)}</title>')]
    parts += _axes(frame, ticks, unit)
    parts += [_path(frame, line) for line in lines if line.points]
    parts += [_mark(frame, m, point) for m in marks for point in m.points]
    parts += _legend(lines, marks, frame.left)
    parts.append("</svg>")
    return Markup("".join(parts))
