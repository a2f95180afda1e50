"""Test helpers of scoring: profiles with known components, usage rollup rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.accounts.models import Account, UsageDay
from apps.scoring.models import HealthProfile
from apps.scoring.services import health_profile_default_ensure, health_profile_update


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def points(*pairs: tuple[float, float]) -> dict[str, Any]:
    return {"kind": "thresholds", "points": [list(pair) for pair in pairs]}


def use_components(*components: dict[str, Any]) -> HealthProfile:
    """Make the tenant's catch-all profile score with exactly these components."""
    return health_profile_update(
        profile=health_profile_default_ensure(), data={"components": list(components)}
    )


def usage(account: Account, days_ago: int, name: str = "login", count: int = 1) -> None:
    UsageDay.objects.create(
        account=account,
        day=today() - dt.timedelta(days=days_ago),
        name=name,
        event_count=count,
        value_sum=count,
    )


def active_days_component(weight: float = 1) -> dict[str, Any]:
    """Active days in 30, 10 days or more = 100, linear below."""
    return {
        "metric": "active_days",
        "weight": weight,
        "window_days": 30,
        "mapping": points((0, 0), (10, 100)),
    }
