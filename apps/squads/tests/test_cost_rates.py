"""Effort is a cost in an account's ROI at the hourly rate of the role of whoever logged it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.tests.factories import AccountFactory, SubscriptionFactory, TouchpointFactory
from apps.scoring.models import AccountValue
from apps.scoring.value import ROLES, account_value_recompute, value_settings_update
from apps.squads.models import FunctionalRole
from apps.squads.tests.factories import MemberFactory, UserFactory
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def test_scoring_rates_exactly_the_functional_roles_of_members() -> None:
    assert set(ROLES) == set(FunctionalRole.values)


def test_each_hour_of_effort_costs_the_rate_of_the_role_of_the_member_who_logged_it(
    alice_client: TenantClient,
) -> None:
    rates = {"role_hourly_rates": {"sales": "90", "success": "75.50"}, "hourly_rate": "60"}
    changed = alice_client.patch("/api/v1/value-settings/", rates, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["role_hourly_rates"] == {"sales": "90.00", "success": "75.50"}
    account = AccountFactory.create()
    SubscriptionFactory.create(
        account=account,
        mrr=Decimal(1000),
        period_start=timezone.now().date() - dt.timedelta(days=100),
    )
    seller = MemberFactory.create(role="sales").user
    success = MemberFactory.create(role="success").user
    product = MemberFactory.create(role="product").user  # no rate of its own
    no_member = UserFactory.create()
    for author, minutes in ((seller, 120), (success, 60), (product, 30), (no_member, 45)):
        TouchpointFactory.create(account=account, author=author, effort_minutes=minutes)
    TouchpointFactory.create(account=account, author=None, effort_minutes=15)
    # A year and a day ago: outside the trailing 12 months.
    TouchpointFactory.create(
        account=account,
        author=seller,
        effort_minutes=600,
        occurred_at=timezone.now() - dt.timedelta(days=366),
    )

    account_value_recompute()

    value = AccountValue.objects.get(account=account)
    # 2 h x 90 + 1 h x 75.50 + (0.5 + 0.75 + 0.25) h x the default 60
    assert value.cost_to_serve_12m == Decimal("345.50")
    assert value.revenue_12m == Decimal("3318.28")  # 101 days of 1,000 a month
    assert value.roi == 6.683  # (3318.28 x 0.8 - 345.50) / 345.50


def test_a_rate_change_reprices_the_same_effort() -> None:
    account = AccountFactory.create()
    TouchpointFactory.create(
        account=account, author=MemberFactory.create(role="service").user, effort_minutes=90
    )
    account_value_recompute()
    before = AccountValue.objects.get(account=account).cost_to_serve_12m

    value_settings_update(data={"role_hourly_rates": {"service": Decimal(40)}})
    account_value_recompute()

    assert before == Decimal("90.00")  # 1.5 h at the default 60
    assert AccountValue.objects.get(account=account).cost_to_serve_12m == Decimal("60.00")
