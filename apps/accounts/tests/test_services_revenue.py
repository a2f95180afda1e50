"""Derived revenue: the account's MRR and renewal columns and the tenant's revenue snapshot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import Account, RevenueSnapshot, Subscription
from apps.accounts.revenue.overview import overview_decode
from apps.accounts.services.bulk import records_upsert_many
from apps.accounts.services.records import record_delete
from apps.accounts.services.revenue import (
    accounts_revenue_refresh,
    revenue_refresh,
    revenue_snapshot_refresh,
)
from apps.accounts.tests.factories import AccountFactory

pytestmark = pytest.mark.usefixtures("tenant_a")


def today() -> dt.date:
    return timezone.now().date()


def term(account: Account, mrr: str, *, days_left: int | None = None, **extra: object) -> dict:
    values: dict[str, object] = {
        "external_id": f"term-{account.pk}-{mrr}-{days_left}",
        "account_external_id": account.external_id,
        "plan": "pro",
        "mrr": mrr,
        "period_start": (today() - dt.timedelta(days=30)).isoformat(),
        **extra,
    }
    if days_left is not None:
        values["period_end"] = (today() + dt.timedelta(days=days_left)).isoformat()
    return values


def test_terms_written_in_bulk_set_the_accounts_mrr_and_next_renewal_at_once() -> None:
    account = AccountFactory.create(external_id="acc-1")
    other = AccountFactory.create(external_id="acc-2")
    results = records_upsert_many(
        entity="subscriptions",
        items=[
            term(account, "100", days_left=40),
            term(account, "50", days_left=10),
            term(account, "999", days_left=5, status="canceled"),  # counts 0
            term(other, "10"),
        ],
    )
    assert all(not result.errors for result in results)
    account.refresh_from_db()
    other.refresh_from_db()
    assert account.current_mrr == Decimal("150.00")
    assert account.next_renewal_on == today() + dt.timedelta(days=10)
    assert (other.current_mrr, other.next_renewal_on) == (Decimal("10.00"), None)


def test_deleting_a_term_takes_its_mrr_off_the_account() -> None:
    account = AccountFactory.create(external_id="acc-1")
    records_upsert_many(entity="subscriptions", items=[term(account, "70", days_left=20)])
    account.refresh_from_db()
    assert account.current_mrr == Decimal("70.00")
    record_delete(instance=Subscription.objects.get())
    account.refresh_from_db()
    assert (account.current_mrr, account.next_renewal_on) == (Decimal("0.00"), None)


def test_the_daily_refresh_follows_terms_that_began_or_ended_with_the_calendar() -> None:
    account = AccountFactory.create()
    # Written straight to the table, as if the term had been stored before today began.
    Subscription.objects.create(
        account=account,
        plan="pro",
        mrr=Decimal("80"),
        period_start=today() - dt.timedelta(days=5),
        period_end=today() + dt.timedelta(days=3),
    )
    assert Account.objects.get(pk=account.pk).current_mrr == Decimal("0.00")
    assert accounts_revenue_refresh() == 1
    assert Account.objects.get(pk=account.pk).current_mrr == Decimal("80.00")
    assert accounts_revenue_refresh() == 0  # nothing changed: no row rewritten
    later = today() + dt.timedelta(days=3)
    assert accounts_revenue_refresh(today=later) == 1
    assert Account.objects.get(pk=account.pk).current_mrr == Decimal("0.00")


def test_a_term_written_marks_the_snapshot_stale_and_the_refresh_brings_it_up_to_date() -> None:
    account = AccountFactory.create(external_id="acc-1")
    snapshot = revenue_snapshot_refresh()
    assert snapshot.stale_since is None
    assert overview_decode(snapshot.figures).this_month.closing_mrr == Decimal(0)
    records_upsert_many(entity="subscriptions", items=[term(account, "120")])
    snapshot.refresh_from_db()
    assert snapshot.stale_since is not None
    assert revenue_refresh() is True
    snapshot.refresh_from_db()
    assert snapshot.stale_since is None
    assert overview_decode(snapshot.figures).this_month.closing_mrr == Decimal("120.00")
    assert revenue_refresh() is False  # fresh: nothing to do


def test_the_first_refresh_of_a_day_brings_every_account_and_the_snapshot_up_to_date() -> None:
    account = AccountFactory.create()
    Subscription.objects.create(
        account=account, plan="pro", mrr=Decimal("40"), period_start=today()
    )
    assert not RevenueSnapshot.objects.exists()
    assert revenue_refresh() is True
    account.refresh_from_db()
    assert account.current_mrr == Decimal("40.00")
    snapshot = RevenueSnapshot.objects.get()
    assert snapshot.accounts_refreshed_on == today()
    assert overview_decode(snapshot.figures).trailing_year.closing_mrr == Decimal("40.00")


def test_beat_sends_the_revenue_refresh_into_every_tenant() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE["accounts-revenue-refresh"]
    assert schedule["task"] == "fullfield.fan_out"
    assert schedule["args"] == ["accounts.revenue_refresh"]
