"""Charts as server-rendered inline SVG: no script, works offline, readable by screen readers.

Each chart is an <svg role="img"> with an aria-label summing it up and a <title> per mark (the
browser shows it on hover); pages also offer the numbers as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

T = TypeVar("T")

PAD_LEFT = 8
PAD_BOTTOM = 18
PAD_TOP = 6


@dataclass(frozen=True)
class Point:
    label: str
    value: float
    title: str = ""


def _scale(maximum: float) -> float:
    return maximum if maximum > 0 else 1.0


def _bars_svg(
    *,
    width: int,
    height: int,
    label: str,
    axis_y: float,
    marks: Sequence[tuple[str, ...]],
    ticks: Sequence[tuple[str, ...]],
) -> SafeString:
    """The frame every bar chart shares: the axis at `axis_y`, the bars as (class, x, y, width,
    height, title) and the labels under them as (x, y, text)."""
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}{}</svg>',
        width,
        height,
        label,
        PAD_LEFT,
        width,
        f"{axis_y:.1f}",
        f"{axis_y:.1f}",
        format_html_join(
            "",
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            marks,
        ),
        format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', ticks),
    )


def bar_chart(
    points: Sequence[Point], *, label: str, width: int = 640, height: int = 140, every: int = 1
) -> SafeString:
    """Vertical bars, one per point; every `every`-th point's label is written under it."""
    if not points:
        return format_html('<p class="empty">{}</p>', "No data yet.")
    plot_height = height - PAD_BOTTOM - PAD_TOP
    step = (width - PAD_LEFT) / len(points)
    top = _scale(max(point.value for point in points))
    bars = []
    ticks = []
    for index, point in enumerate(points):
        bar_height = plot_height * point.value / top
        x = PAD_LEFT + index * step
        bars.append(
            (
                "bar",
                f"{x + step * 0.1:.1f}",
                f"{PAD_TOP + plot_height - bar_height:.1f}",
                f"{max(step * 0.8, 1):.1f}",
                f"{bar_height:.1f}",
                point.title or f"{point.label}: {point.value:g}",
            )
        )
        if index % every == 0:
            ticks.append((f"{x + step / 2:.1f}", f"{height - 4}", point.label))
    return _bars_svg(
        width=width,
        height=height,
        label=label,
        axis_y=PAD_TOP + plot_height,
        marks=bars,
        ticks=ticks,
    )


@dataclass(frozen=True)
class Movement:
    label: str
    gained: float  # new + expansion + reactivated
    lost: float  # contraction + churned, as a positive amount
    title: str = ""


def movement_chart(
    movements: Sequence[Movement], *, label: str, width: int = 640, height: int = 180
) -> SafeString:
    """Gains above the axis in green, losses below it in red, one pair of bars per period."""
    if not movements:
        return format_html('<p class="empty">{}</p>', "No data yet.")
    plot_height = height - PAD_BOTTOM - PAD_TOP
    # One scale for gains and losses; the axis sits where the largest of each leaves it, so
    # neither half is empty space.
    most_gained = max(m.gained for m in movements)
    most_lost = max(m.lost for m in movements)
    top = _scale(most_gained + most_lost)
    axis_y = PAD_TOP + plot_height * (most_gained / top if most_gained + most_lost else 0.5)
    step = (width - PAD_LEFT) / len(movements)
    marks = []
    ticks = []
    for index, movement in enumerate(movements):
        x = PAD_LEFT + index * step + step * 0.15
        up = plot_height * movement.gained / top
        down = plot_height * movement.lost / top
        bar_width = f"{max(step * 0.7, 1):.1f}"
        marks.append(
            ("bar-up", f"{x:.1f}", f"{axis_y - up:.1f}", bar_width, f"{up:.1f}", movement.title)
        )
        marks.append(("bar-down", f"{x:.1f}", f"{axis_y:.1f}", bar_width, f"{down:.1f}", ""))
        ticks.append((f"{x + step * 0.35:.1f}", f"{height - 4}", movement.label))
    return _bars_svg(
        width=width, height=height, label=label, axis_y=axis_y, marks=marks, ticks=ticks
    )


def line_chart(
    points: Sequence[Point],
    *,
    label: str,
    width: int = 640,
    height: int = 140,
    maximum: float | None = None,
) -> SafeString:
    """A line with a shaded area under it, the scale starting at zero and ending at `maximum`
    (fixed scales, like 0..100 scores) or at the largest value."""
    if len(points) < 2:
        return format_html('<p class="empty">{}</p>', "Not enough data for a trend yet.")
    plot_height = height - PAD_BOTTOM - PAD_TOP
    top = _scale(max([maximum or 0.0, *(point.value for point in points)]))
    inset = 16  # room for the first and last labels
    step = (width - inset * 2) / (len(points) - 1)
    coordinates = [
        (inset + index * step, PAD_TOP + plot_height - plot_height * point.value / top)
        for index, point in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    base = PAD_TOP + plot_height
    area = f"{coordinates[0][0]:.1f},{base} {line} {coordinates[-1][0]:.1f},{base}"
    dots = [
        (f"{x:.1f}", f"{y:.1f}", point.title or f"{point.label}: {point.value:g}")
        for (x, y), point in zip(coordinates, points, strict=True)
    ]
    ticks = [
        (f"{x:.1f}", f"{height - 4}", point.label)
        for (x, _), point in zip(coordinates, points, strict=True)
    ]
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polygon class="area" points="{}"/><polyline class="line" points="{}"/>{}{}</svg>',
        width,
        height,
        label,
        area,
        line,
        format_html_join(
            "", '<circle cx="{}" cy="{}" r="3" fill="#1f6feb"><title>{}</title></circle>', dots
        ),
        format_html_join("", '<text x="{}" y="{}" text-anchor="middle">{}</text>', ticks),
    )


def score_bar(score: float | None, *, label: str, width: int = 160, height: int = 12) -> SafeString:
    """One 0..100 score as a horizontal bar coloured by the band it falls in."""
    if score is None:
        return format_html('<span class="muted">{}</span>', "no data")
    value = min(max(score, 0.0), 100.0)
    band = "good" if value >= 70 else "average" if value >= 40 else "poor"
    return format_html(
        '<svg class="score-bar" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="{}"><rect class="track" x="0" y="0" width="{}" height="{}" rx="3"/>'
        '<rect class="fill {}" x="0" y="0" width="{}" height="{}" rx="3"/></svg>',
        width,
        height,
        width,
        height,
        label,
        width,
        height,
        band,
        f"{width * value / 100:.1f}",
        height,
    )


@dataclass(frozen=True)
class Stack:
    label: str
    parts: tuple[float, ...]  # one value per series, bottom first
    title: str = ""


def stacked_bar_chart(
    stacks: Sequence[Stack],
    *,
    series: Sequence[str],
    label: str,
    width: int = 640,
    height: int = 160,
    every: int = 1,
) -> SafeString:
    """Vertical bars split into series (each series' CSS class is its name), one per period."""
    if not stacks:
        return format_html('<p class="empty">{}</p>', "No data yet.")
    plot_height = height - PAD_BOTTOM - PAD_TOP
    step = (width - PAD_LEFT) / len(stacks)
    top = _scale(max(sum(stack.parts) for stack in stacks))
    marks = []
    ticks = []
    for index, stack in enumerate(stacks):
        x = PAD_LEFT + index * step + step * 0.1
        base = float(PAD_TOP + plot_height)
        for name, part in zip(series, stack.parts, strict=True):
            part_height = plot_height * part / top
            base -= part_height
            marks.append(
                (
                    f"bar-{name}",
                    f"{x:.1f}",
                    f"{base:.1f}",
                    f"{max(step * 0.8, 1):.1f}",
                    f"{part_height:.1f}",
                    stack.title or f"{stack.label}: {part:g} {name}",
                )
            )
        if index % every == 0:
            ticks.append((f"{x + step * 0.4:.1f}", f"{height - 4}", stack.label))
    return _bars_svg(
        width=width,
        height=height,
        label=label,
        axis_y=PAD_TOP + plot_height,
        marks=marks,
        ticks=ticks,
    )


@dataclass(frozen=True)
class Group:
    label: str
    values: tuple[float, ...]  # one value per series, left to right


def grouped_bar_chart(
    groups: Sequence[Group],
    *,
    series: Sequence[str],
    label: str,
    width: int = 640,
    height: int = 160,
    unit: str = "",
) -> SafeString:
    """Side-by-side bars per group, one per series (each series' CSS class is bar-<name>), on
    one scale: before and after, predicted and observed."""
    if not groups:
        return format_html('<p class="empty">{}</p>', "No data yet.")
    plot_height = height - PAD_BOTTOM - PAD_TOP
    step = (width - PAD_LEFT) / len(groups)
    bar_width = step * 0.8 / max(len(series), 1)
    top = _scale(max((max(group.values, default=0.0) for group in groups), default=0.0))
    marks = []
    ticks = []
    for index, group in enumerate(groups):
        x = PAD_LEFT + index * step + step * 0.1
        for offset, (name, value) in enumerate(zip(series, group.values, strict=True)):
            bar_height = plot_height * value / top
            marks.append(
                (
                    f"bar-{name}",
                    f"{x + offset * bar_width:.1f}",
                    f"{PAD_TOP + plot_height - bar_height:.1f}",
                    f"{max(bar_width - 1, 1):.1f}",
                    f"{bar_height:.1f}",
                    f"{group.label}, {name}: {value:g}{unit}",
                )
            )
        ticks.append((f"{x + step * 0.4:.1f}", f"{height - 4}", group.label))
    return _bars_svg(
        width=width,
        height=height,
        label=label,
        axis_y=PAD_TOP + plot_height,
        marks=marks,
        ticks=ticks,
    )


@dataclass(frozen=True)
class FunnelStep:
    label: str
    value: float
    half: str  # "front" or "back"
    title: str = ""
    href: str = ""


def funnel_chart(
    steps: Sequence[FunnelStep], *, label: str, width: int = 960, height: int = 230
) -> SafeString:
    """The steps left to right, one bar each (height by value), over two bands that mark the
    front half and the back half of the field; a bar with an `href` links to what it counts."""
    if not steps:
        return format_html('<p class="empty">{}</p>', "No data yet.")
    band_top = 18
    plot_top = band_top + 8
    plot_height = height - plot_top - PAD_BOTTOM - 14
    step = (width - PAD_LEFT) / len(steps)
    top = _scale(max(item.value for item in steps))
    halves = []
    captions = (("front", "Front half: acquisition"), ("back", "Back half: keep and grow"))
    for half, caption in captions:
        positions = [index for index, item in enumerate(steps) if item.half == half]
        if not positions:
            continue
        x = PAD_LEFT + positions[0] * step
        band_width = step * len(positions)
        halves.append(
            (
                f"half half-{half}",
                f"{x:.1f}",
                f"{band_width - 2:.1f}",
                height - PAD_BOTTOM + 4,
                f"{x + 6:.1f}",
                band_top - 4,
                caption,
            )
        )
    marks = []
    for index, item in enumerate(steps):
        bar_height = max(plot_height * item.value / top, 1.0 if item.value else 0.0)
        x = PAD_LEFT + index * step
        y = plot_top + plot_height - bar_height
        marks.append(
            (
                item.href or "#",
                f"bar bar-{item.half}",
                f"{x + step * 0.15:.1f}",
                f"{y:.1f}",
                f"{step * 0.7:.1f}",
                f"{bar_height:.1f}",
                item.title or f"{item.label}: {item.value:g}",
                f"{x + step / 2:.1f}",
                f"{y - 4:.1f}",
                f"{item.value:,.0f}",
                f"{x + step / 2:.1f}",
                f"{height - PAD_BOTTOM + 16:.1f}",
                item.label,
            )
        )
    return format_html(
        # A group, not an img: its bars are links, and an img's content is not reachable.
        '<svg class="chart funnel" viewBox="0 0 {} {}" role="group" aria-label="{}">{}{}</svg>',
        width,
        height,
        label,
        format_html_join(
            "",
            '<g class="{}"><rect x="{}" y="0" width="{}" height="{}" rx="6"/>'
            '<text class="half-label" x="{}" y="{}">{}</text></g>',
            halves,
        ),
        format_html_join(
            "",
            '<a href="{}"><rect class="{}" x="{}" y="{}" width="{}" height="{}">'
            "<title>{}</title></rect>"
            '<text class="value" x="{}" y="{}" text-anchor="middle">{}</text>'
            '<text x="{}" y="{}" text-anchor="middle">{}</text></a>',
            marks,
        ),
    )


def sparkline(
    values: Sequence[float | None], *, label: str, width: int = 120, height: int = 28
) -> SafeString:
    """A small trend line (no axes) for a table cell; gaps where a value is missing."""
    known = [value for value in values if value is not None]
    if len(known) < 2:
        return format_html('<span class="muted">{}</span>', "—")
    low, high = min(known), max(known)
    spread = high - low or 1.0
    step = (width - 4) / (len(values) - 1)
    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        y = 2 + (height - 4) * (1 - (value - low) / spread)
        segments[-1].append(f"{2 + index * step:.1f},{y:.1f}")
    lines = [(" ".join(points),) for points in segments if len(points) > 1]
    return format_html(
        '<svg class="sparkline" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="{}">{}</svg>',
        width,
        height,
        width,
        height,
        label,
        format_html_join("", '<polyline class="line" points="{}"/>', lines),
    )


def thinned(points: list[T], most: int = 13) -> list[T]:
    """At most `most` points, evenly spread, always keeping the first and last: daily series
    stay legible (every point of a line chart is labelled under it)."""
    if len(points) <= most:
        return points
    step = (len(points) - 1) / (most - 1)
    return [points[round(index * step)] for index in range(most)]


__all__ = [
    "FunnelStep",
    "Group",
    "Movement",
    "Point",
    "Stack",
    "bar_chart",
    "funnel_chart",
    "grouped_bar_chart",
    "line_chart",
    "movement_chart",
    "score_bar",
    "sparkline",
    "stacked_bar_chart",
    "thinned",
]
