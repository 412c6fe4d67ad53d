"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, printable, and readable
by screen readers (each chart has a title, a description and per-point titles)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#1d4ed8", "#b42318", "#027a48", "#b54708", "#6941c6"]


@dataclass
class Series:
    name: str
    values: list[float | Decimal | int | None]
    kind: str = "line"  # "line" or "bar"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float, unit: str) -> str:
    if unit == "USD":
        if abs(value) >= 1000:
            return f"${value / 1000:,.1f}k"
        return f"${value:,.0f}"
    if unit == "%":
        return f"{value:.0f}%"
    if abs(value) >= 1000:
        return f"{value / 1000:,.1f}k"
    return f"{value:,.0f}"


def chart(
    *,
    title: str,
    labels: list[str],
    series: list[Series],
    unit: str = "",
    width: int = 720,
    height: int = 220,
    testid: str = "",
) -> SafeString:
    """A line and/or bar chart. Negative values get a zero line; gaps (None) break lines."""
    left, right, top, bottom = 56, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    numbers = [float(v) for s in series for v in s.values if v is not None]
    hi = _nice_max(max(numbers + [0.0]))
    lo = -_nice_max(-min(numbers + [0.0])) if min(numbers + [0.0]) < 0 else 0.0
    span = hi - lo or 1.0
    n = max(len(labels), 1)
    step = plot_w / n

    def x(i: int) -> float:
        return left + step * (i + 0.5)

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / span * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="report-chart" '
        f'role="img" aria-labelledby="{testid}-t {testid}-d" data-testid="{escape(testid)}" '
        f'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{testid}-t">{escape(title)}</title>',
        f'<desc id="{testid}-d">{escape(_describe(labels, series, unit))}</desc>',
    ]
    for k in range(5):
        v = lo + span * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e7ec"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="#475467">'
            f"{escape(_fmt(v, unit))}</text>"
        )
    if lo < 0:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#667085"/>')
    every = max(1, -(-n // max(plot_w // 64, 1)))  # at most one label per 64 px, so they never overlap
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
                f'fill="#475467">{escape(label)}</text>'
            )
    bars = [s for s in series if s.kind == "bar"]
    bar_w = step * 0.7 / max(len(bars), 1)
    for idx, s in enumerate(series):
        color = PALETTE[idx % len(PALETTE)]
        if s.kind == "bar":
            b = bars.index(s)
            for i, v in enumerate(s.values):
                if v is None:
                    continue
                v = float(v)
                x0 = x(i) - step * 0.35 + b * bar_w
                y0, y1 = sorted((y(v), y(0 if lo <= 0 <= hi else lo)))
                parts.append(
                    f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{bar_w:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                    f'fill="{color}" fill-opacity=".75"><title>{escape(labels[i])}: '
                    f"{escape(_fmt(v, unit))}</title></rect>"
                )
        else:
            segment: list[str] = []
            segments = []
            for i, v in enumerate(s.values):
                if v is None:
                    if segment:
                        segments.append(segment)
                    segment = []
                    continue
                segment.append(f"{x(i):.1f},{y(float(v)):.1f}")
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(float(v)):.1f}" r="2.5" fill="{color}">'
                    f"<title>{escape(s.name)}, {escape(labels[i])}: {escape(_fmt(float(v), unit))}</title></circle>"
                )
            if segment:
                segments.append(segment)
            for seg in segments:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
    lx = left
    for idx, s in enumerate(series):
        color = PALETTE[idx % len(PALETTE)]
        parts.append(
            f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{height - 5}" font-size="11" fill="#344054">{escape(s.name)}</text>'
        )
        lx += 22 + 7 * len(s.name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def _describe(labels: list[str], series: list[Series], unit: str) -> str:
    bits = []
    for s in series:
        vals = [float(v) for v in s.values if v is not None]
        if vals:
            bits.append(f"{s.name}: from {_fmt(vals[0], unit)} to {_fmt(vals[-1], unit)}, peak {_fmt(max(vals), unit)}")
    span = f"{labels[0]} to {labels[-1]}" if labels else "no data"
    return f"{span}. " + "; ".join(bits)
