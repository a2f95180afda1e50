"""Reading the daily usage rollup in tests, and checking it against a rebuild from raw events."""

from __future__ import annotations

import datetime as dt

from apps.accounts.models import UsageDay
from apps.accounts.services.usage import usage_rollup_rebuild

RollupRow = tuple[int, dt.date, str, int, float]


def rollup_rows() -> set[RollupRow]:
    return set(
        UsageDay.objects.values_list("account_id", "day", "name", "event_count", "value_sum")
    )


def assert_rollup_matches_events() -> set[RollupRow]:
    """The maintained rollup is exactly what a rebuild from the raw events gives; returns it."""
    maintained = rollup_rows()
    usage_rollup_rebuild()
    assert maintained == rollup_rows()
    return maintained
