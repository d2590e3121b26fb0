"""Server-side SVG charts for the Customer Experience page.

Plain SVG markup built here, inlined in the page: no script, no font or file from
elsewhere, so the page's Content-Security-Policy (nothing but this server) holds and
the charts work offline. Every text is at least 12 px; every mark carries a
``<title>`` so a hover shows its value. Colours are Okabe-Ito (colour-blind safe).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from html import escape

from markupsafe import Markup

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
FONT = 13  # px: captions and ticks stay readable (>= 12 px)
SENTIMENT_COLOURS = {"negative": "#D55E00", "neutral": "#999999", "positive": "#009E73"}


@dataclass
class Series:
    name: str
    points: list[tuple[date, float]]
    colour: str = PALETTE[0]
    dashed: bool = False
    band: list[tuple[date, float, float]] = field(default_factory=list)  # (x, low, high)


def colours_for(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per name (by sorted name, so a segment keeps its colour)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(sorted(names))}


def _num(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if magnitude >= 10_000:
        return f"{value / 1_000:.0f}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2g}" if magnitude < 1 else f"{value:.1f}"


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(int(math.ceil((high - start) / step)) + 1)]


def _text(x: float, y: float, label: str, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{FONT}" '
        f'fill="currentColor"{extra}>{escape(label)}</text>'
    )


def _frame(width: int, height: int, label: str, body: list[str], css_id: str | None) -> Markup:
    ident = f' id="{escape(css_id)}"' if css_id else ""
    return Markup(
        f'<svg{ident} class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>"
    )


def line_chart(
    series: Sequence[Series],
    *,
    label: str,
    width: int = 900,
    height: int = 300,
    marker: date | None = None,
    css_id: str | None = None,
    y_zero: bool = True,
) -> Markup | None:
    """Lines over days, optional shaded bands (forecast intervals) and a vertical marker."""
    xs = sorted({d for s in series for d, _ in s.points} | {b[0] for s in series for b in s.band})
    values = [v for s in series for _, v in s.points] + [v for s in series for b in s.band for v in b[1:]]
    values = [v for v in values if v is not None and not math.isnan(v)]
    if len(xs) < 1 or not values:
        return None
    left, right, top, bottom = 64, 16, 12, 48
    lo, hi = (min(0.0, min(values)) if y_zero else min(values)), max(values)
    ticks = _ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]
    first, span = xs[0].toordinal(), max(1, xs[-1].toordinal() - xs[0].toordinal())

    def px(d: date) -> float:
        return left + (d.toordinal() - first) / span * (width - left - right)

    def py(v: float) -> float:
        return top + (hi - v) / ((hi - lo) or 1) * (height - top - bottom)

    body = []
    for t in ticks:
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
            'stroke="currentColor" stroke-opacity="0.15"/>'
        )
        body.append(_text(left - 6, py(t) + 4, _num(t), "end"))
    ticks_x = _x_ticks(xs)
    for d in ticks_x:
        body.append(_text(px(d), height - bottom + 20, d.isoformat(), _anchor(d, ticks_x)))
    if marker is not None and xs[0] <= marker <= xs[-1]:
        body.append(
            f'<line x1="{px(marker):.1f}" x2="{px(marker):.1f}" y1="{top}" y2="{height - bottom}" '
            'stroke="currentColor" stroke-dasharray="3 3" stroke-opacity="0.6"/>'
        )
        body.append(_text(px(marker) + 4, top + 12, f"as of {marker.isoformat()}", "start"))
    for s in series:
        if s.band:
            upper = " ".join(f"{px(d):.1f},{py(h):.1f}" for d, _, h in s.band)
            lower = " ".join(f"{px(d):.1f},{py(lo_):.1f}" for d, lo_, _ in reversed(s.band))
            body.append(
                f'<polygon points="{upper} {lower}" fill="{s.colour}" fill-opacity="0.18">'
                f"<title>{escape(s.name)} interval</title></polygon>"
            )
        pts = [(d, v) for d, v in s.points if v is not None and not math.isnan(v)]
        if not pts:
            continue
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        path = " ".join(f"{px(d):.1f},{py(v):.1f}" for d, v in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}/>')
        for d, v in pts if len(pts) <= 62 else ():
            body.append(
                f'<circle cx="{px(d):.1f}" cy="{py(v):.1f}" r="2.5" fill="{s.colour}">'
                f"<title>{escape(s.name)} {d.isoformat()}: {_num(v)}</title></circle>"
            )
    return _frame(width, height, label, body, css_id)


def _anchor(tick: date, ticks: list[date]) -> str:
    """First label starts at its tick and the last ends there, so neither is cut off."""
    if len(ticks) > 1 and tick == ticks[0]:
        return "start"
    return "end" if len(ticks) > 1 and tick == ticks[-1] else "middle"


def _x_ticks(xs: list[date], count: int = 5) -> list[date]:
    if len(xs) <= count:
        return xs
    step = (len(xs) - 1) / (count - 1)
    return [xs[round(i * step)] for i in range(count)]


def stacked_share(
    days: list[date],
    shares: dict[str, list[float]],
    *,
    label: str,
    width: int = 900,
    height: int = 300,
    css_id: str | None = None,
) -> Markup | None:
    """100 % stacked areas: each name's share per day (values are fractions)."""
    if len(days) < 1 or not shares:
        return None
    left, right, top, bottom = 48, 16, 12, 48
    colours = colours_for(list(shares))
    n = len(days)

    def px(i: int) -> float:
        return left + (i / max(1, n - 1)) * (width - left - right) if n > 1 else (left + width - right) / 2

    def py(v: float) -> float:
        return top + (1 - v) * (height - top - bottom)

    body = [
        f'<line x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="currentColor" '
        f'stroke-opacity="0.15"/>' + _text(left - 6, py(t) + 4, f"{t:.0%}", "end")
        for t in (0, 0.25, 0.5, 0.75, 1)
    ]
    base = [0.0] * n
    for name in sorted(shares):
        values = shares[name]
        top_edge = [b + v for b, v in zip(base, values, strict=False)]
        if n == 1:
            x0, x1 = left, width - right
            body.append(
                f'<rect x="{x0}" y="{py(top_edge[0]):.1f}" width="{x1 - x0}" '
                f'height="{py(base[0]) - py(top_edge[0]):.1f}" fill="{colours[name]}">'
                f"<title>{escape(name)}: {values[0]:.1%}</title></rect>"
            )
        else:
            upper = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(top_edge))
            lower = " ".join(f"{px(i):.1f},{py(base[i]):.1f}" for i in reversed(range(n)))
            body.append(
                f'<polygon points="{upper} {lower}" fill="{colours[name]}" fill-opacity="0.85">'
                f"<title>{escape(name)}: {values[-1]:.1%} on {days[-1].isoformat()}</title></polygon>"
            )
        base = top_edge
    ticks_x = _x_ticks(days)
    for i, d in enumerate(days):
        if d in ticks_x:
            body.append(_text(px(i), height - bottom + 20, d.isoformat(), _anchor(d, ticks_x)))
    return _frame(width, height, label, body, css_id)


def bars(
    items: Sequence[tuple[str, float]],
    *,
    label: str,
    width: int = 420,
    colour: str = PALETTE[0],
    colours: dict[str, str] | None = None,
    css_id: str | None = None,
    fmt: str = "{:,.0f}",
) -> Markup | None:
    """Horizontal bars with their labels and values."""
    if not items:
        return None
    row, left, right = 24, 150, 70
    top = max((v for _, v in items), default=0) or 1
    body = []
    for i, (name, value) in enumerate(items):
        y = i * row
        w = max(0.0, value) / top * (width - left - right)
        fill = (colours or {}).get(name, colour)
        body.append(_text(left - 8, y + 16, name[:22], "end"))
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{fill}">'
            f"<title>{escape(name)}: {escape(fmt.format(value))}</title></rect>"
        )
        body.append(_text(left + w + 6, y + 16, fmt.format(value), "start"))
    return _frame(width, row * len(items) + 4, label, body, css_id)


def sparkline(values: Sequence[float | None], *, label: str, width: int = 140, height: int = 36) -> Markup | None:
    """A small trend line for a KPI tile (last point marked)."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if len(pts) < 2:
        return None
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span = (hi - lo) or 1
    n = max(1, len(values) - 1)
    xy = [(2 + i / n * (width - 4), 2 + (hi - v) / span * (height - 4)) for i, v in pts]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    x, y = xy[-1]
    body = [
        f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/>',
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{PALETTE[0]}"/>',
    ]
    return _frame(width, height, label, body, None)
