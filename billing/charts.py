"""Small SVG-ready charts of the dashboard: per-day bars, stacked by series (model, key, status),
with a y-axis whose top is a round number, and lines for figures that do not add up (latency
percentiles). Pure functions of the numbers; the templates draw them (includes/chart.html)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#4b5563")
MUTED = "#9ca3af"  # "other" and refused calls
WIDTH, HEIGHT = 600, 160

Series = dict[str, dict[Any, float]]


@dataclass
class Bar:
    x: float
    y: float
    height: float
    color: str
    title: str


@dataclass
class Line:
    name: str
    color: str
    points: str  # SVG polyline points
    dots: list[tuple[float, float, str]]  # x, y, title


@dataclass
class Tick:
    y: float  # in the SVG's coordinates
    percent: float  # from the top, for the HTML labels beside the SVG
    label: str


@dataclass
class Chart:
    title: str
    unit: str
    first_day: str
    last_day: str
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    peak: float = 0
    total: float = 0
    width: int = WIDTH
    height: int = HEIGHT
    bar_width: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.bars and not self.lines


def day_label(day: Any) -> str:
    return f"{day:%d %b}"


def nice_ceiling(value: float, *, integer: bool = False) -> float:
    """The axis' top: the smallest 1, 2, 2.5 or 5 × 10ⁿ at or above `value`; for counts, the
    smallest 2, 4, 6, 8 or 10 × 10ⁿ, so that its middle tick is a whole number too."""
    if value <= 0:
        return 2 if integer else 1
    power = 10 ** math.floor(math.log10(value))
    steps = (2, 4, 6, 8, 10) if integer else (1, 2, 2.5, 5, 10)
    for step in steps:
        if value <= step * power:
            return max(step * power, 2) if integer else step * power
    return 10 * power


def plain_number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10_000:
        return f"{value / 1_000:g}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.6g}"


def dollars(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:.2f}" if value >= 1 else f"${value:.6f}".rstrip("0")


def colors_for(names: list[str], muted: tuple[str, ...] = ()) -> dict[str, str]:
    colors, i = {}, 0
    for name in names:
        if name in muted:
            colors[name] = MUTED
        else:
            colors[name] = PALETTE[i % len(PALETTE)]
            i += 1
    return colors


def _axis(chart: Chart, top: float, fmt: Callable[[float], str]) -> None:
    usable = chart.height - 4
    for fraction in (1.0, 0.5, 0.0):
        y = round(chart.height - fraction * usable, 1)
        chart.ticks.append(Tick(y, round(100 * (1 - fraction), 1), fmt(top * fraction)))


def stacked(
    title: str,
    unit: str,
    dates: list[dt.date],
    series: Series,
    *,
    fmt: Callable[[float], str] = plain_number,
    muted: tuple[str, ...] = (),
    limit: int = 6,
    integer: bool = True,
    colors: dict[str, str] | None = None,
    slot_label: Callable[[Any], str] = day_label,
) -> Chart:
    """Per-day bars stacked by series, the largest first; beyond `limit` series, "other".
    `dates` may be other slots (minutes) with their `slot_label`; `colors` fixes some series'."""
    chart = Chart(title, unit, slot_label(dates[0]), slot_label(dates[-1]))
    order = sorted(series, key=lambda name: -sum(series[name].values()))
    if len(order) > limit:
        kept, rest = order[: limit - 1], order[limit - 1 :]
        other: dict[dt.date, float] = {}
        for name in rest:
            for day, value in series[name].items():
                other[day] = other.get(day, 0) + value
        series = {**{name: series[name] for name in kept}, "other": other}
        order, muted = [*kept, "other"], (*muted, "other")
    colors = {**colors_for(order, muted), **(colors or {})}
    totals = [sum(series[name].get(day, 0) for name in order) for day in dates]
    chart.peak, chart.total = max(totals, default=0), sum(totals)
    if not chart.peak:
        return chart
    top = nice_ceiling(chart.peak, integer=integer)
    _axis(chart, top, fmt)
    slot = chart.width / len(dates)
    chart.bar_width = round(max(slot - 2, 1), 1)
    usable = chart.height - 4
    for i, day in enumerate(dates):
        base = chart.height
        for name in order:
            value = series[name].get(day, 0)
            if not value:
                continue
            height = value / top * usable
            base -= height
            chart.bars.append(
                Bar(
                    round(i * slot + 1, 1),
                    round(base, 1),
                    round(height, 1),
                    colors[name],
                    f"{slot_label(day)}: {fmt(value)} {unit}, {name}",
                )
            )
    chart.legend = [(name, colors[name]) for name in order if sum(series[name].values())]
    return chart


def lines(
    title: str,
    unit: str,
    dates: list[dt.date],
    series: Series,
    *,
    fmt: Callable[[float], str] = plain_number,
) -> Chart:
    """One line per series over the days that have a value (latency p50 and p95)."""
    chart = Chart(title, unit, f"{dates[0]:%d %b}", f"{dates[-1]:%d %b}")
    chart.peak = max((v for values in series.values() for v in values.values()), default=0)
    if not chart.peak:
        return chart
    top = nice_ceiling(chart.peak, integer=True)
    _axis(chart, top, fmt)
    slot = chart.width / len(dates)
    usable = chart.height - 4
    colors = colors_for(list(series))
    for name, values in series.items():
        dots = []
        for i, day in enumerate(dates):
            if day in values:
                x = round(i * slot + slot / 2, 1)
                y = round(chart.height - values[day] / top * usable, 1)
                dots.append((x, y, f"{day:%d %b}: {fmt(values[day])} {unit}, {name}"))
        points = " ".join(f"{x},{y}" for x, y, _ in dots)
        chart.lines.append(Line(name, colors[name], points, dots))
        chart.legend.append((name, colors[name]))
    return chart


def last_days(days: int, today: dt.date) -> list[dt.date]:
    start = today - dt.timedelta(days=days - 1)
    return [start + dt.timedelta(days=i) for i in range(days)]
