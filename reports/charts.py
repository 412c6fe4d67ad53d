"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, printable, and readable
by screen readers (each chart has a title, a description and per-point titles)."""

from __future__ import annotations

import math
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


# Axis labels are 11 px text centred under their point. No browser font of the page's stack is
# wider than this on average per character, so spacing labels by it keeps them apart.
LABEL_CHAR_PX = 7
LABEL_GAP_PX = 8


@dataclass(frozen=True)
class _Frame:
    """The plot area of one chart and its value-to-pixel mapping."""

    width: int
    height: int
    lo: float
    hi: float
    n: int
    left: int = 56
    right: int = 12
    top: int = 12
    bottom: int = 40

    @property
    def step(self) -> float:
        return (self.width - self.left - self.right) / self.n

    def x(self, i: int) -> float:
        return self.left + self.step * (i + 0.5)

    def y(self, v: float) -> float:
        plot_h = self.height - self.top - self.bottom
        return self.top + plot_h - (v - self.lo) / ((self.hi - self.lo) or 1.0) * plot_h


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
    numbers = [float(v) for s in series for v in s.values if v is not None] + [0.0]
    hi = _nice_max(max(numbers))
    lo = -_nice_max(-min(numbers)) if min(numbers) < 0 else 0.0
    frame = _Frame(width=width, height=height, lo=lo, hi=hi, n=max(len(labels), 1))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="report-chart" '
        f'role="img" aria-labelledby="{testid}-t {testid}-d" data-testid="{escape(testid)}" '
        f'preserveAspectRatio="xMidYMid meet">',
        f'<title id="{testid}-t">{escape(title)}</title>',
        f'<desc id="{testid}-d">{escape(_describe(labels, series, unit))}</desc>',
        *_grid(frame, unit),
        *_axis_labels(frame, labels),
    ]
    bars = [s for s in series if s.kind == "bar"]
    for idx, s in enumerate(series):
        color = PALETTE[idx % len(PALETTE)]
        if s.kind == "bar":
            parts += _bars(frame, s, labels, unit, color, slot=bars.index(s), slots=len(bars))
        else:
            parts += _line(frame, s, labels, unit, color)
    parts += _legend(frame, series)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped below


def _grid(f: _Frame, unit: str) -> list[str]:
    parts = []
    for k in range(5):
        v = f.lo + (f.hi - f.lo) * k / 4
        parts.append(
            f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{f.y(v):.1f}" y2="{f.y(v):.1f}" stroke="#e4e7ec"/>'
            f'<text x="{f.left - 6}" y="{f.y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="#475467">'
            f"{escape(_fmt(v, unit))}</text>"
        )
    if f.lo < 0:
        parts.append(
            f'<line x1="{f.left}" x2="{f.width - f.right}" y1="{f.y(0):.1f}" y2="{f.y(0):.1f}" stroke="#667085"/>'
        )
    return parts


def label_width(label: str) -> float:
    """The room an axis label takes, gap included (see ``LABEL_CHAR_PX``)."""
    return len(label) * LABEL_CHAR_PX + LABEL_GAP_PX


def _axis_labels(f: _Frame, labels: list[str]) -> list[str]:
    """Every ``every``-th label, ``every`` chosen from the widest label so two never overlap,
    and none that would stick out of the chart at either end."""
    widest = max((label_width(label) for label in labels), default=0)
    every = max(1, math.ceil(widest / f.step))
    parts = []
    for i, label in enumerate(labels):
        half = label_width(label) / 2
        if i % every or f.x(i) - half < 0 or f.x(i) + half > f.width:
            continue
        parts.append(
            f'<text x="{f.x(i):.1f}" y="{f.height - f.bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="#475467" class="axis-label">{escape(label)}</text>'
        )
    return parts


def _bars(f: _Frame, s: Series, labels: list[str], unit: str, color: str, *, slot: int, slots: int) -> list[str]:
    bar_w = f.step * 0.7 / max(slots, 1)
    base = f.y(0 if f.lo <= 0 <= f.hi else f.lo)
    parts = []
    for i, v in enumerate(s.values):
        if v is None:
            continue
        v = float(v)
        x0 = f.x(i) - f.step * 0.35 + slot * bar_w
        y0, y1 = sorted((f.y(v), base))
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{bar_w:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
            f'fill="{color}" fill-opacity=".75"><title>{escape(labels[i])}: '
            f"{escape(_fmt(v, unit))}</title></rect>"
        )
    return parts


def _line(f: _Frame, s: Series, labels: list[str], unit: str, color: str) -> list[str]:
    parts = []
    segments: list[list[str]] = [[]]
    for i, v in enumerate(s.values):
        if v is None:
            segments.append([])  # a gap breaks the line
            continue
        segments[-1].append(f"{f.x(i):.1f},{f.y(float(v)):.1f}")
        parts.append(
            f'<circle cx="{f.x(i):.1f}" cy="{f.y(float(v)):.1f}" r="2.5" fill="{color}">'
            f"<title>{escape(s.name)}, {escape(labels[i])}: {escape(_fmt(float(v), unit))}</title></circle>"
        )
    for seg in segments:
        if seg:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
    return parts


def _legend(f: _Frame, series: list[Series]) -> list[str]:
    parts = []
    lx = f.left
    for idx, s in enumerate(series):
        color = PALETTE[idx % len(PALETTE)]
        parts.append(
            f'<rect x="{lx}" y="{f.height - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{lx + 14}" y="{f.height - 5}" font-size="11" fill="#344054">{escape(s.name)}</text>'
        )
        lx += 22 + 7 * len(s.name)
    return parts


def _describe(labels: list[str], series: list[Series], unit: str) -> str:
    bits = []
    for s in series:
        vals = [float(v) for v in s.values if v is not None]
        if vals:
            bits.append(f"{s.name}: from {_fmt(vals[0], unit)} to {_fmt(vals[-1], unit)}, peak {_fmt(max(vals), unit)}")
    span = f"{labels[0]} to {labels[-1]}" if labels else "no data"
    return f"{span}. " + "; ".join(bits)
