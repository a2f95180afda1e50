"""Reads of scores for other apps (squads' triggers and priorities, pages)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from apps.scoring.models import HealthScore


@dataclass(frozen=True)
class CurrentHealth:
    """An account's current health as the last recompute left it (100 is healthiest)."""

    account_id: int
    score: float
    band: str  # "good" (>= 70), "average" (40..69) or "poor" (< 40)
    previous_score: float | None  # the score of the account's previous snapshot, if any
    as_of: datetime
    churn_probability: float | None  # 0..1, calibrated or the band's historical rate


def account_current_health(*, account_ids: Collection[int]) -> dict[int, CurrentHealth]:
    """The current health of each scored account among these; unscored accounts are absent."""
    rows = HealthScore.objects.filter(account_id__in=list(account_ids)).values_list(
        "account_id", "score", "band", "previous_score", "as_of", "churn_probability"
    )
    return {
        account_id: CurrentHealth(
            account_id=account_id,
            score=score,
            band=band,
            previous_score=previous_score,
            as_of=as_of,
            churn_probability=churn_probability,
        )
        for account_id, score, band, previous_score, as_of, churn_probability in rows
    }


def account_churn_probabilities(*, account_ids: Collection[int]) -> dict[int, float]:
    """Each scored account's current churn probability (0..1); unscored accounts are absent."""
    return {
        account_id: health.churn_probability
        for account_id, health in account_current_health(account_ids=account_ids).items()
        if health.churn_probability is not None
    }
