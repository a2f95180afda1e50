from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.services import accounts_touch
from apps.accounts.tests.factories import (
    AccountFactory,
    OnboardingPlanFactory,
    OpportunityFactory,
    SubscriptionFactory,
    TicketFactory,
    TouchpointFactory,
)
from apps.scoring.models import AccountValue, HealthScore
from apps.scoring.services import health_recompute
from apps.scoring.tasks import health_recompute_marked
from apps.scoring.tests.helpers import active_days_component, today, usage, use_components
from apps.scoring.value import (
    account_value_recompute,
    value_settings_get,
    value_settings_update,
)
from fullfield.errors import DomainError
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def _valued_account(churn_probability: float = 0.05) -> int:
    use_components(active_days_component())
    account = AccountFactory.create(segment="enterprise")
    usage(account, 0)
    SubscriptionFactory.create(
        account=account, mrr=Decimal(1000), period_start=today() - dt.timedelta(days=100)
    )
    OpportunityFactory.create(
        account=account,
        kind="expansion",
        status="won",
        amount=Decimal(500),
        close_date=today() - dt.timedelta(days=10),
    )
    TouchpointFactory.create(account=account, effort_minutes=120, occurred_at=timezone.now())
    TicketFactory.create_batch(2, account=account, opened_at=timezone.now())
    OnboardingPlanFactory.create(account=account, started_on=today() - dt.timedelta(days=50))
    health_recompute()
    HealthScore.objects.filter(account=account).update(churn_probability=churn_probability)
    return account.pk


def test_roi_and_clv_follow_the_documented_formulas() -> None:
    account_id = _valued_account()

    account_value_recompute()

    value = AccountValue.objects.get(account_id=account_id)
    assert value.arr == Decimal("12000.00")
    assert value.revenue_12m == Decimal("3318.28")  # 101 days of 1,000 a month
    assert value.expansion_12m == Decimal("500.00")
    assert value.cost_to_serve_12m == Decimal("670.00")  # 2 h x 60 + 2 tickets x 25 + 500
    assert value.roi == 3.559  # ((3318.28 + 500) x 0.8 - 670) / 670
    lifetime = 1 / (1 - 0.95 ** (365 / 30))  # a 5% churn chance per 30 days
    assert value.expected_lifetime_years == round(lifetime, 3)
    assert math.isclose(float(value.clv or 0), 12000 * 0.8 * lifetime, abs_tol=0.01)


def test_customer_equity_rolls_up_by_segment_and_over_time(alice_client: TenantClient) -> None:
    account_id = _valued_account()
    account_value_recompute()
    clv = AccountValue.objects.get(account_id=account_id).clv

    total = alice_client.get("/api/v1/metrics/customer-equity/").json()
    by_segment = alice_client.get("/api/v1/metrics/customer-equity/?group_by=segment").json()
    series = alice_client.get("/api/v1/metrics/customer-equity/series/?days=7").json()

    assert [(row["group"], Decimal(row["customer_equity"])) for row in by_segment] == [
        ("enterprise", clv)
    ]
    assert Decimal(total[0]["customer_equity"]) == clv
    assert [(row["day"], Decimal(row["customer_equity"])) for row in series] == [
        (today().isoformat(), clv)
    ]
    refused = alice_client.get("/api/v1/metrics/customer-equity/?group_by=planet")
    assert refused.status_code == 400
    assert "group_by" in refused.json()["error"]["fields"]


def test_an_accounts_value_is_its_tenants_alone(
    alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    account_id = _valued_account()
    account_value_recompute()
    url = f"/api/v1/accounts/{account_id}/value/"

    assert alice_client.get(url).json()["arr"] == "12000.00"
    assert charlie_client.get(url).status_code == 404
    assert charlie_client.get("/api/v1/metrics/customer-equity/").json() == []


def test_an_admin_sets_the_cost_rates_and_a_member_only_reads_them(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    changed = alice_client.patch("/api/v1/value-settings/", {"ticket_cost": "40"}, format="json")
    refused = alice_client.patch("/api/v1/value-settings/", {"gross_margin": 2}, format="json")

    assert changed.status_code == 200, changed.content
    assert changed.json()["ticket_cost"] == "40.00"
    assert "gross_margin" in refused.json()["error"]["fields"]
    assert bob_client.get("/api/v1/value-settings/").json()["ticket_cost"] == "40.00"
    assert bob_client.patch("/api/v1/value-settings/", {}, format="json").status_code == 403


def test_the_incremental_pass_revalues_the_accounts_it_rescores() -> None:
    use_components(active_days_component())
    touched, untouched = AccountFactory.create_batch(2)
    accounts_touch(account_ids=[touched.pk])
    TouchpointFactory.create(account=untouched, effort_minutes=60)
    TouchpointFactory.create(account=touched, effort_minutes=90)

    assert health_recompute_marked.run() == 1

    value = AccountValue.objects.get(account=touched)
    assert value.cost_to_serve_12m == Decimal(90), "1.5 hours at 60 an hour"
    assert not AccountValue.objects.filter(account=untouched).exists()


def test_role_rates_are_refused_naming_unknown_roles_and_negative_rates(
    alice_client: TenantClient,
) -> None:
    unknown = alice_client.patch(
        "/api/v1/value-settings/",
        {"role_hourly_rates": {"pilot": "10", "sales": "80"}},
        format="json",
    )
    negative = alice_client.patch(
        "/api/v1/value-settings/", {"role_hourly_rates": {"sales": "-1"}}, format="json"
    )
    not_a_map = alice_client.patch(
        "/api/v1/value-settings/", {"role_hourly_rates": ["sales"]}, format="json"
    )

    assert unknown.status_code == 400
    (message,) = unknown.json()["error"]["fields"]["role_hourly_rates"]
    assert message.startswith("Unknown role: pilot; the roles are sales, marketing, success")
    assert negative.status_code == 400
    assert "sales" in negative.json()["error"]["fields"]["role_hourly_rates"]
    assert not_a_map.status_code == 400
    assert alice_client.get("/api/v1/value-settings/").json()["role_hourly_rates"] == {}


def test_the_service_refuses_role_rates_the_api_would_refuse() -> None:
    with pytest.raises(DomainError) as refused:
        value_settings_update(data={"role_hourly_rates": {"success": -5, "pilot": 1}})

    assert refused.value.fields == {
        "role_hourly_rates": [
            "Unknown role: pilot; the roles are sales, marketing, success, service, product, "
            "communications, account_management, analyst.",
            "success: a rate is a number from 0 to 99999999.99.",
        ]
    }
    assert value_settings_get().role_hourly_rates == {}
