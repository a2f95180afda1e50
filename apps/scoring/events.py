"""Domain events published by scoring (see fullfield.events)."""

from __future__ import annotations

import dataclasses

from fullfield.events import DomainEvent


@dataclasses.dataclass(frozen=True)
class HealthBandChanged(DomainEvent):
    """An account's health score moved to another band ("good", "average", "poor").

    Published exactly once per band change, after the recompute's transaction commits.
    `previous_band` and `previous_score` are None for an account's first score. `as_of` is the
    ISO 8601 time the score describes.
    """

    name = "health_band.changed"
    account_id: int
    previous_band: str | None
    band: str
    previous_score: float | None
    score: float
    as_of: str


@dataclasses.dataclass(frozen=True)
class HealthScoresChanged(DomainEvent):
    """A recompute changed these accounts' health scores (any amount, band or not).

    Published once per recompute pass after its transaction commits, so that plays can
    re-evaluate score triggers (threshold crossings, expansion signals) on settled scores.
    """

    name = "health_scores.changed"
    account_ids: list[int]
