"""Server-rendered SVG charts: what a reader (or a screen reader) gets from the numbers."""

from __future__ import annotations

import re

from fullfield.web.charts import Movement, Point, bar_chart, line_chart, movement_chart


def heights(svg: str, css: str) -> list[float]:
    return [float(h) for h in re.findall(rf'<rect class="{css}"[^>]*height="([\d.]+)"', svg)]


def test_bars_are_proportional_to_their_values_and_each_says_its_number() -> None:
    svg = bar_chart([Point("Mon", 10), Point("Tue", 5), Point("Wed", 0)], label="Logins")
    tall, half, none = heights(svg, "bar")
    assert abs(half - tall / 2) < 0.2 and none == 0
    assert 'role="img" aria-label="Logins"' in svg
    assert "<title>Tue: 5</title>" in svg


def test_gains_and_losses_share_one_scale_on_either_side_of_the_axis() -> None:
    svg = movement_chart(
        [Movement("Jan", gained=300, lost=100), Movement("Feb", gained=150, lost=0)],
        label="MRR movements",
    )
    assert heights(svg, "bar-up")[0] == 3 * heights(svg, "bar-down")[0]
    assert heights(svg, "bar-up")[1] * 2 == heights(svg, "bar-up")[0]


def test_labels_and_titles_are_escaped() -> None:
    svg = line_chart([Point("<b>", 1), Point("b", 2, title="<script>")], label="x & y")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "x &amp; y" in svg


def test_an_empty_series_says_so_instead_of_drawing_nothing() -> None:
    assert "No data yet." in bar_chart([], label="Nothing")
    assert "Not enough data" in line_chart([Point("only", 1)], label="One point")
