"""Server-rendered SVG charts: what a reader (or a screen reader) gets from the numbers."""

from __future__ import annotations

import re

import pytest

from fullfield.web import charts
from fullfield.web.charts import (
    Movement,
    Point,
    Stack,
    bar_chart,
    line_chart,
    movement_chart,
    score_bar,
    stacked_bar_chart,
    thinned,
)


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


def test_a_score_bar_fills_its_share_of_the_track_in_its_bands_colour() -> None:
    svg = score_bar(25, label="Active days: 25 out of 100", width=160)
    assert re.search(r'<rect class="fill poor"[^>]*width="40.0"', svg)
    assert 'aria-label="Active days: 25 out of 100"' in svg
    assert 'class="fill good"' in score_bar(70, label="x") and "no data" in score_bar(
        None, label="x"
    )


def test_stacked_bars_stack_each_series_on_one_scale() -> None:
    svg = stacked_bar_chart(
        [Stack("Mon", (2, 3, 5)), Stack("Tue", (1, 1, 3))],
        series=("poor", "average", "good"),
        label="Bands",
    )
    poor, average, good = (heights(svg, f"bar-{name}") for name in ("poor", "average", "good"))
    # The tallest stack (10) fills the 136-high plot; every part is on that one scale.
    assert abs(poor[0] + average[0] + good[0] - 136) < 0.2
    assert [poor[1], average[1], good[1]] == [13.6, 13.6, 40.8]
    assert "<title>Mon: 2 poor</title>" in svg


def test_a_line_on_a_fixed_scale_does_not_stretch_small_values_to_the_top() -> None:
    fixed = line_chart([Point("a", 50), Point("b", 50)], label="Score", maximum=100)
    stretched = line_chart([Point("a", 50), Point("b", 50)], label="Score")
    assert fixed != stretched
    assert re.search(r'points="[\d.]+,64\.0 ', fixed)  # half-way down the 116-high plot


def test_thinning_keeps_the_first_and_last_points_and_at_most_the_number_asked() -> None:
    points = list(range(100))
    thin = thinned(points, 13)
    assert len(thin) == 13 and thin[0] == 0 and thin[-1] == 99
    assert thinned(points[:5], 13) == points[:5]


def test_the_funnel_marks_its_front_and_back_halves_and_links_each_bar() -> None:
    svg = str(
        charts.funnel_chart(
            [
                charts.FunnelStep("Leads", 40, "front", href="/accounts/?field=step:lead"),
                charts.FunnelStep("Won", 10, "front", href="/accounts/?field=step:won"),
                charts.FunnelStep("Live", 8, "back", href="/accounts/?field=step:live"),
            ],
            label="Funnel",
        )
    )

    assert svg.count('<g class="half half-front">') == 1
    assert svg.count('<g class="half half-back">') == 1
    assert "Front half: acquisition" in svg and "Back half: keep and grow" in svg
    assert svg.count("<a href=") == 3
    assert 'href="/accounts/?field=step:won"' in svg
    # Bars scale to the largest step: Leads fills the plot, Won a quarter of it.
    bars = re.findall(r'class="bar bar-\w+"[^>]* height="([\d.]+)"', svg)
    assert float(bars[1]) == pytest.approx(float(bars[0]) / 4, abs=0.2)
    assert str(charts.funnel_chart([], label="Funnel")).startswith('<p class="empty">')


def test_a_sparkline_breaks_where_a_value_is_missing() -> None:
    svg = str(charts.sparkline([1.0, 2.0, None, 3.0, 4.0], label="Trend"))

    assert svg.count("<polyline") == 2
    assert 'aria-label="Trend"' in svg
    assert "—" in str(charts.sparkline([None, 1.0], label="Trend"))
