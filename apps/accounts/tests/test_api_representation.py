"""The records' output (fullfield.api.representation) and the filter backend's shortcut."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from django.utils import timezone
from rest_framework import serializers

from apps.accounts.api import serializers as record_serializers
from apps.accounts.filters import AccountFilter
from apps.accounts.models import Account
from apps.accounts.tests.factories import (
    AccountFactory,
    ContactFactory,
    MilestoneFactory,
    OnboardingPlanFactory,
    SubscriptionFactory,
)
from fullfield.api.filters import filters_nothing
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")


def drf_output(serializer_class: type[serializers.ModelSerializer[Any]], instance: Any) -> Any:
    """What DRF's own Serializer.to_representation gives for `instance`."""

    class Plain(serializer_class):  # type: ignore[valid-type,misc]
        def to_representation(self, instance: Any) -> Any:
            return serializers.Serializer.to_representation(self, instance)

    return Plain(instance).data


def test_an_accounts_output_is_drfs_field_for_field(world: World) -> None:
    parent = AccountFactory.create()
    account = AccountFactory.create(
        parent=parent,
        owner=world.alice.user,
        attributes={"plan": "gold", "seats": 12, "nested": {"a": [1, 2.5, None]}},
        health_score=71.5,
        health_band="good",
        health_trend=-3.25,
        health_as_of=dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("Asia/Tokyo")),
        rescore_requested_at=timezone.now(),
    )
    account.refresh_from_db()
    ours = record_serializers.AccountSerializer(account).data
    assert ours == drf_output(record_serializers.AccountSerializer, account)
    assert ours["parent"] == parent.pk
    assert ours["owner"] == world.alice.user.pk
    assert ours["health_as_of"] == "2026-03-01T00:30:15.123456Z"
    assert list(ours) == list(record_serializers.AccountSerializer().fields)


def test_a_page_of_accounts_is_drfs_output_row_for_row() -> None:
    AccountFactory.create_batch(3)
    AccountFactory.create(health_score=None, health_as_of=None)
    rows = list(Account.objects.order_by("id"))
    ours: Any = record_serializers.AccountSerializer(rows, many=True).data
    assert ours == [drf_output(record_serializers.AccountSerializer, row) for row in rows]


def test_other_records_keep_drfs_output() -> None:
    """Method fields, nested lists, decimals and dates go through DRF's own steps."""
    subscription = SubscriptionFactory.create(mrr=Decimal("1234.50"))
    plan = OnboardingPlanFactory.create()
    MilestoneFactory.create(plan=plan, completed_on=dt.date(2026, 1, 2))
    milestone = MilestoneFactory.create(plan=plan)
    contact = ContactFactory.create()
    cases: list[tuple[Any, Any]] = [
        (record_serializers.SubscriptionSerializer, subscription),
        (record_serializers.OnboardingPlanSerializer, plan),
        (record_serializers.MilestoneSerializer, milestone),
        (record_serializers.ContactSerializer, contact),
    ]
    for serializer_class, instance in cases:
        instance.refresh_from_db()
        ours = serializer_class(instance).data
        assert ours == drf_output(serializer_class, instance), serializer_class.__name__


def test_the_filter_form_is_skipped_only_when_no_parameter_names_a_filter() -> None:
    assert filters_nothing(AccountFilter, QueryDict("page_size=100&ordering=-name&cursor=x"))
    assert filters_nothing(AccountFilter, QueryDict("search=acme"))
    assert not filters_nothing(AccountFilter, QueryDict("segment=smb"))
    assert not filters_nothing(AccountFilter, QueryDict("segment="))
    assert not filters_nothing(AccountFilter, QueryDict("health_score_min=x"))
    assert not filters_nothing(AccountFilter, QueryDict("lifecycle_stage=nope"))

    class RequiredSegment(AccountFilter):
        segment = AccountFilter.base_filters["segment"].__class__(required=True)

    assert not filters_nothing(RequiredSegment, QueryDict("page_size=10"))


def test_lists_still_filter_and_refuse_bad_filters(alice_client: TenantClient) -> None:
    AccountFactory.create(segment="enterprise")
    AccountFactory.create(segment="smb")
    everything = alice_client.get("/api/v1/accounts/?page_size=10")
    assert everything.status_code == 200, everything.content
    assert len(everything.json()["results"]) == 2
    enterprise = alice_client.get("/api/v1/accounts/?segment=enterprise").json()["results"]
    assert [row["segment"] for row in enterprise] == ["enterprise"]
    refused = alice_client.get("/api/v1/accounts/?lifecycle_stage=nope")
    assert refused.status_code == 400
    assert "lifecycle_stage" in refused.json()["error"]["fields"]
