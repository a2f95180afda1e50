from __future__ import annotations

import datetime as dt

import pytest

from apps.accounts.models import UsageDay
from apps.accounts.services.usage import usage_rollup_rebuild
from apps.accounts.tests.factories import AccountFactory, UsageEventFactory

pytestmark = pytest.mark.usefixtures("tenant_a")


def _rollup() -> set[tuple[int, dt.date, str, int, float]]:
    return set(
        UsageDay.objects.values_list("account_id", "day", "name", "event_count", "value_sum")
    )


def test_the_rollup_counts_and_sums_events_per_account_utc_day_and_name() -> None:
    account, other = AccountFactory.create(), AccountFactory.create()
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))  # 2nd UTC
    for when, name, value in [
        (dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC), "login", 1.0),
        (dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), "login", 1.0),
        (dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), "export", 5.5),
        (late, "login", 2.0),
    ]:
        UsageEventFactory.create(account=account, occurred_at=when, name=name, value=value)
    UsageEventFactory.create(account=other, occurred_at=late, name="login", value=1.0)

    assert usage_rollup_rebuild() == 4
    assert _rollup() == {
        (account.id, dt.date(2026, 3, 1), "login", 2, 2.0),
        (account.id, dt.date(2026, 3, 1), "export", 1, 5.5),
        (account.id, dt.date(2026, 3, 2), "login", 1, 2.0),
        (other.id, dt.date(2026, 3, 2), "login", 1, 1.0),
    }


def test_rebuilding_some_accounts_replaces_only_their_rows() -> None:
    account, other = AccountFactory.create(), AccountFactory.create()
    day = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    UsageEventFactory.create(account=account, occurred_at=day, name="login")
    UsageEventFactory.create(account=other, occurred_at=day, name="login")
    UsageDay.objects.create(
        account=account, day=day.date(), name="stale", event_count=9, value_sum=9
    )
    UsageDay.objects.create(account=other, day=day.date(), name="kept", event_count=3, value_sum=3)

    usage_rollup_rebuild(account_ids=[account.id])

    assert _rollup() == {
        (account.id, dt.date(2026, 3, 1), "login", 1, 1.0),
        (other.id, dt.date(2026, 3, 1), "kept", 3, 3.0),
    }
