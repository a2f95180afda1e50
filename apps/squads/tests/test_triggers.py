"""Score-based triggers as pure functions over CurrentHealth, and trigger configuration."""

from __future__ import annotations

from django.utils import timezone

from apps.scoring.selectors import CurrentHealth
from apps.squads.triggers import (
    band_changed,
    band_of,
    expansion_signal,
    threshold_crossed,
    trigger_config_errors,
)


def health(score: float, previous: float | None, *, churn: float | None = None) -> CurrentHealth:
    return CurrentHealth(
        account_id=1,
        score=score,
        band=band_of(score),
        previous_score=previous,
        as_of=timezone.now(),
        churn_probability=churn,
    )


def test_bands_follow_the_design_thresholds() -> None:
    assert [band_of(s) for s in (0, 39.9, 40, 69.9, 70, 100)] == [
        "poor",
        "poor",
        "average",
        "average",
        "good",
        "good",
    ]


def test_a_fall_into_poor_is_a_band_change_to_poor() -> None:
    assert band_changed(health(35, 55), to_band="poor")
    assert band_changed(health(35, 55), to_band="poor", from_band="average")
    assert not band_changed(health(35, 80), to_band="poor", from_band="average")


def test_staying_in_a_band_is_no_change() -> None:
    assert not band_changed(health(30, 35), to_band="poor")


def test_a_first_score_in_the_band_counts_as_entering_it() -> None:
    assert band_changed(health(20, None), to_band="poor")
    assert not band_changed(health(20, None), to_band="poor", from_band="good")


def test_crossing_a_threshold_downwards_happens_once() -> None:
    assert threshold_crossed(health(49, 51), threshold=50, direction="below")
    assert not threshold_crossed(health(45, 49), threshold=50, direction="below")
    assert not threshold_crossed(health(55, 60), threshold=50, direction="below")


def test_crossing_a_threshold_upwards() -> None:
    assert threshold_crossed(health(50, 49), threshold=50, direction="above")
    assert not threshold_crossed(health(49, 30), threshold=50, direction="above")


def test_an_expansion_signal_needs_health_usage_and_an_open_opportunity() -> None:
    good = health(85, 80)

    def signal(events: int, *, open_expansion: bool = True) -> bool:
        return expansion_signal(
            good,
            events_in_window=events,
            has_open_expansion=open_expansion,
            min_score=70,
            min_events=100,
        )

    assert signal(150)
    assert not signal(99)
    assert not signal(150, open_expansion=False)
    assert not expansion_signal(
        health(60, 80), events_in_window=500, has_open_expansion=True, min_score=70, min_events=1
    )
    assert not expansion_signal(
        None, events_in_window=500, has_open_expansion=True, min_score=70, min_events=1
    )


def test_trigger_configuration_errors_name_the_key() -> None:
    assert trigger_config_errors("usage_drop", {"percent": 150, "colour": "red"}) == [
        "Unknown key 'colour' for usage_drop.",
        "percent: must be an integer 1..100.",
        "window_days: required (an integer 1..90).",
    ]
    assert trigger_config_errors("health_band_changed", {"to_band": "poor"}) == []
