"""The record resources of an account: CRUD, validation, events and tenant isolation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import models
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.events import AccountsTouched
from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
    UsageEvent,
)
from apps.accounts.tests.factories import (
    AccountFactory,
    ContactFactory,
    LeadFactory,
    MilestoneFactory,
    OnboardingPlanFactory,
    OpportunityFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    TicketFactory,
    TouchpointFactory,
    UsageEventFactory,
    record_published_events,
)
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")

WHEN = "2025-03-04T10:00:00Z"


@dataclasses.dataclass(frozen=True)
class Resource:
    path: str
    model: type[models.Model]
    make: Callable[[Account], models.Model]
    body: Callable[[Account], dict[str, Any]]
    change: dict[str, Any]
    # The body field naming the parent record, and how to make one (in any tenant).
    parent_field: str = "account"
    make_parent: Callable[[], models.Model] = AccountFactory.create
    updatable: bool = True
    deletable: bool = True
    touches_account: bool = True

    def __str__(self) -> str:
        return self.path


def _plan_body(account: Account) -> dict[str, Any]:
    return {"plan": OnboardingPlanFactory.create(account=account).id, "name": "Go live"}


RESOURCES = [
    Resource(
        "contacts",
        Contact,
        lambda account: ContactFactory.create(account=account),
        lambda account: {"account": account.id, "name": "Pat", "email": "pat@example.com"},
        {"is_champion": True},
        touches_account=False,
    ),
    Resource(
        "leads",
        Lead,
        lambda account: LeadFactory.create(),
        lambda account: {"name": "Lee", "email": "lee@example.com", "status": "working"},
        {"status": "qualified"},
        parent_field="converted_account",
        touches_account=False,
    ),
    Resource(
        "opportunities",
        Opportunity,
        lambda account: OpportunityFactory.create(account=account),
        lambda account: {"account": account.id, "name": "Deal", "amount": "500.00"},
        {"stage": "negotiation"},
    ),
    Resource(
        "onboarding-plans",
        OnboardingPlan,
        lambda account: OnboardingPlanFactory.create(account=account),
        lambda account: {"account": account.id, "started_on": "2025-01-01"},
        {"name": "Kickoff"},
    ),
    Resource(
        "milestones",
        Milestone,
        lambda account: MilestoneFactory.create(plan__account=account),
        _plan_body,
        {"completed_on": "2025-02-01"},
        parent_field="plan",
        make_parent=OnboardingPlanFactory.create,
    ),
    Resource(
        "subscriptions",
        Subscription,
        lambda account: SubscriptionFactory.create(account=account),
        lambda account: {
            "account": account.id,
            "plan": "pro",
            "mrr": "99.00",
            "period_start": "2025-01-01",
        },
        {"quantity": 3},
        deletable=False,
    ),
    Resource(
        "usage-events",
        UsageEvent,
        lambda account: UsageEventFactory.create(account=account),
        lambda account: {"account": account.id, "name": "login", "occurred_at": WHEN},
        {"value": 3},
        updatable=False,
        deletable=False,
    ),
    Resource(
        "tickets",
        Ticket,
        lambda account: TicketFactory.create(account=account),
        lambda account: {"account": account.id, "subject": "Help", "opened_at": WHEN},
        {"status": "solved"},
    ),
    Resource(
        "survey-responses",
        SurveyResponse,
        lambda account: SurveyResponseFactory.create(account=account),
        lambda account: {"account": account.id, "kind": "nps", "score": 8, "responded_at": WHEN},
        {"moment": "renewal"},
    ),
    Resource(
        "touchpoints",
        Touchpoint,
        lambda account: TouchpointFactory.create(account=account),
        lambda account: {"account": account.id, "kind": "call", "occurred_at": WHEN},
        {"notes": "Talked about the renewal."},
    ),
]
by_resource = pytest.mark.parametrize("resource", RESOURCES, ids=str)


def url(resource: Resource, record_id: int | None = None) -> str:
    return f"/api/v1/{resource.path}/" + (f"{record_id}/" if record_id is not None else "")


def field_errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    fields: dict[str, Any] = response.json()["error"]["fields"]
    return fields


# --- every resource ---------------------------------------------------------------------------


@by_resource
def test_a_record_is_created_read_and_listed(api_a: TenantClient, resource: Resource) -> None:
    account = AccountFactory.create()
    response = api_a.post(url(resource), resource.body(account))
    assert response.status_code == 201, response.content
    record_id = response.json()["id"]
    assert resource.model._default_manager.filter(pk=record_id).exists()
    assert api_a.get(url(resource, record_id)).json()["id"] == record_id
    listed = api_a.get(url(resource)).json()["results"]
    assert [row["id"] for row in listed] == [record_id]


@by_resource
def test_a_record_is_updated_where_the_api_allows_it(
    api_a: TenantClient, resource: Resource
) -> None:
    record = resource.make(AccountFactory.create())
    response = api_a.patch(url(resource, record.pk), resource.change)
    if not resource.updatable:
        assert response.status_code == 405
        return
    assert response.status_code == 200, response.content
    for field, value in resource.change.items():
        assert response.json()[field] == value
    assert api_a.get(url(resource, record.pk)).json() == response.json()


@by_resource
def test_a_record_is_deleted_where_the_api_allows_it(
    api_a: TenantClient, resource: Resource
) -> None:
    record = resource.make(AccountFactory.create())
    response = api_a.delete(url(resource, record.pk))
    stored = resource.model._default_manager.filter(pk=record.pk).exists()
    if resource.deletable:
        assert (response.status_code, stored) == (204, False)
    else:
        assert (response.status_code, stored) == (405, True)


@by_resource
def test_charlie_gets_404_on_alpha_records(
    charlie_client: TenantClient, resource: Resource
) -> None:
    record = resource.make(AccountFactory.create())
    assert charlie_client.get(url(resource, record.pk)).status_code == 404
    if resource.updatable:
        assert charlie_client.patch(url(resource, record.pk), resource.change).status_code == 404
    if resource.deletable:
        assert charlie_client.delete(url(resource, record.pk)).status_code == 404
    assert charlie_client.get(url(resource)).json()["results"] == []
    assert resource.model._default_manager.filter(pk=record.pk).exists()


@by_resource
def test_a_related_record_of_another_tenant_is_not_found(
    api_a: TenantClient, tenant_b: Tenant, resource: Resource
) -> None:
    with schema_context(tenant_b.schema_name):
        foreign = resource.make_parent()
    body = {**resource.body(AccountFactory.create()), resource.parent_field: foreign.pk}
    errors = field_errors(api_a.post(url(resource), body))
    assert list(errors) == [resource.parent_field]
    assert f"id {foreign.pk}" in errors[resource.parent_field][0]
    assert not resource.model._default_manager.exists()


@by_resource
def test_unknown_and_system_fields_are_refused(api_a: TenantClient, resource: Resource) -> None:
    body = {**resource.body(AccountFactory.create()), "id": 7, "owner_is_admin": True}
    errors = field_errors(api_a.post(url(resource), body))
    assert errors == {"id": ["This field is read-only."], "owner_is_admin": ["Unknown field."]}


@by_resource
def test_writes_about_an_account_mark_it_for_rescoring(
    api_a: TenantClient, resource: Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = AccountFactory.create()
    published = record_published_events(monkeypatch)
    assert api_a.post(url(resource), resource.body(account)).status_code == 201
    account.refresh_from_db()
    if resource.touches_account:
        assert account.rescore_requested_at is not None
        assert published == [AccountsTouched(account_ids=[account.id])]
    else:
        assert account.rescore_requested_at is None
        assert published == []


# --- rules of particular records ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "score", "valid"),
    [
        ("nps", 0, True),
        ("nps", 10, True),
        ("nps", 11, False),
        ("csat", 0, False),
        ("csat", 5, True),
        ("csat", 6, False),
        ("ces", 7, True),
        ("ces", 8, False),
    ],
)
def test_survey_scores_must_be_in_the_range_of_their_kind(
    api_a: TenantClient, kind: str, score: int, valid: bool
) -> None:
    body = {"account": AccountFactory.create().id, "kind": kind, "score": score}
    response = api_a.post("/api/v1/survey-responses/", {**body, "responded_at": WHEN})
    if valid:
        assert response.status_code == 201
    else:
        assert list(field_errors(response)) == ["score"]


def test_changing_a_survey_kind_rechecks_the_stored_score(api_a: TenantClient) -> None:
    survey = SurveyResponseFactory.create(kind="nps", score=9)
    errors = field_errors(api_a.patch(f"/api/v1/survey-responses/{survey.id}/", {"kind": "csat"}))
    assert errors == {"score": ["A CSAT score is from 1 to 5; got 9."]}


def test_a_subscription_term_must_end_after_it_starts(api_a: TenantClient) -> None:
    term = SubscriptionFactory.create(period_start=dt.date(2025, 1, 1))
    errors = field_errors(
        api_a.patch(f"/api/v1/subscriptions/{term.id}/", {"period_end": "2025-01-01"})
    )
    assert errors == {"period_end": ["Must be after period_start (2025-01-01)."]}


def test_money_in_another_currency_is_refused(api_a: TenantClient) -> None:
    account = AccountFactory.create()
    opportunity = api_a.post(
        "/api/v1/opportunities/", {"account": account.id, "name": "D", "currency": "GBP"}
    )
    assert "currency" in field_errors(opportunity)
    subscription = api_a.post(
        "/api/v1/subscriptions/",
        {
            "account": account.id,
            "plan": "pro",
            "mrr": "10.00",
            "period_start": "2025-01-01",
            "currency": "EUR",
        },
    )
    assert "currency" in field_errors(subscription)


def test_only_a_lost_opportunity_has_a_loss_reason(api_a: TenantClient) -> None:
    opportunity = OpportunityFactory.create(status="open")
    path = f"/api/v1/opportunities/{opportunity.id}/"
    assert "loss_reason" in field_errors(api_a.patch(path, {"loss_reason": "price"}))
    lost = api_a.patch(path, {"status": "lost", "loss_reason": "price"})
    assert lost.status_code == 200
    assert "amount" in field_errors(api_a.patch(path, {"amount": "-5"}))


def test_a_ticket_cannot_close_before_it_opened(api_a: TenantClient) -> None:
    ticket = TicketFactory.create(opened_at=dt.datetime(2025, 3, 4, tzinfo=dt.UTC))
    errors = field_errors(
        api_a.patch(f"/api/v1/tickets/{ticket.id}/", {"closed_at": "2025-03-01T00:00:00Z"})
    )
    assert list(errors) == ["closed_at"]


def test_a_records_contact_must_belong_to_its_account(api_a: TenantClient) -> None:
    account = AccountFactory.create()
    stranger = ContactFactory.create()
    body = {"account": account.id, "contact": stranger.id, "subject": "Hi", "opened_at": WHEN}
    assert field_errors(api_a.post("/api/v1/tickets/", body)) == {
        "contact": ["This contact belongs to another account."]
    }
    own = ContactFactory.create(account=account)
    assert api_a.post("/api/v1/tickets/", {**body, "contact": own.id}).status_code == 201


def test_a_converted_lead_names_its_account_and_gets_a_time(api_a: TenantClient) -> None:
    lead = LeadFactory.create()
    path = f"/api/v1/leads/{lead.id}/"
    assert "converted_account" in field_errors(api_a.patch(path, {"status": "converted"}))
    account = AccountFactory.create()
    response = api_a.patch(path, {"status": "converted", "converted_account": account.id})
    assert response.status_code == 200
    assert response.json()["converted_at"] is not None


def test_an_onboarding_plan_is_created_with_its_milestones(api_a: TenantClient) -> None:
    body = {
        "account": AccountFactory.create().id,
        "started_on": "2025-01-01",
        "milestones": [
            {"name": "Kickoff", "due_on": "2025-01-05", "completed_on": "2025-01-04"},
            {"name": "Go live", "due_on": "2025-02-01"},
        ],
    }
    response = api_a.post("/api/v1/onboarding-plans/", body)
    assert response.status_code == 201, response.content
    plan = response.json()
    assert [m["name"] for m in plan["milestones"]] == ["Kickoff", "Go live"]
    assert (plan["milestones_total"], plan["milestones_done"]) == (2, 1)
    errors = field_errors(
        api_a.patch(f"/api/v1/onboarding-plans/{plan['id']}/", {"milestones": []})
    )
    assert errors == {"milestones": ["This field is read-only."]}


def test_a_plan_cannot_complete_before_it_starts(api_a: TenantClient) -> None:
    body = {"account": AccountFactory.create().id, "started_on": "2025-02-01"}
    response = api_a.post("/api/v1/onboarding-plans/", {**body, "completed_on": "2025-01-01"})
    assert list(field_errors(response)) == ["completed_on"]


def test_bad_nested_milestones_are_reported_by_position(api_a: TenantClient) -> None:
    body = {
        "account": AccountFactory.create().id,
        "started_on": "2025-01-01",
        "milestones": [{"name": "Fine"}, {"name": "Bad", "plan": 1}],
    }
    errors = field_errors(api_a.post("/api/v1/onboarding-plans/", body))
    assert errors == {"milestones": {"1": {"plan": ["Unknown field."]}}}
    assert not OnboardingPlan.objects.exists()


def test_changing_a_milestone_marks_its_plans_account(
    api_a: TenantClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    milestone = MilestoneFactory.create()
    published = record_published_events(monkeypatch)
    api_a.patch(f"/api/v1/milestones/{milestone.id}/", {"completed_on": "2025-01-02"})
    assert published == [AccountsTouched(account_ids=[milestone.plan.account_id])]


def test_a_usage_event_is_stored_once_per_idempotency_key(api_a: TenantClient) -> None:
    body = {"account": AccountFactory.create().id, "name": "export", "occurred_at": WHEN}
    first = api_a.post("/api/v1/usage-events/", {**body, "idempotency_key": "evt-1"})
    again = api_a.post("/api/v1/usage-events/", {**body, "idempotency_key": "evt-1", "value": 9})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert UsageEvent.objects.count() == 1
    generated = api_a.post("/api/v1/usage-events/", body)
    assert generated.status_code == 201
    assert generated.json()["idempotency_key"]


def test_usage_event_properties_must_be_an_object(api_a: TenantClient) -> None:
    body = {"account": AccountFactory.create().id, "name": "x", "occurred_at": WHEN}
    response = api_a.post("/api/v1/usage-events/", {**body, "properties": [1, 2]})
    assert list(field_errors(response)) == ["properties"]


def test_a_touchpoint_is_authored_by_the_signed_in_user(
    alice_client: TenantClient, api_a: TenantClient, world: World
) -> None:
    body = {"account": AccountFactory.create().id, "kind": "meeting", "occurred_at": WHEN}
    by_alice = alice_client.post("/api/v1/touchpoints/", body).json()
    assert by_alice["author"] == world.alice.user.id
    by_key = api_a.post("/api/v1/touchpoints/", body).json()
    assert by_key["author"] is None


# --- filters ------------------------------------------------------------------------------------


def ids(client: TenantClient, path: str) -> set[int]:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_opportunities_are_filtered_by_status_and_close_date(api_a: TenantClient) -> None:
    early = OpportunityFactory.create(status="won", close_date=dt.date(2025, 1, 10))
    late = OpportunityFactory.create(status="open", close_date=dt.date(2025, 3, 10))
    base = "/api/v1/opportunities/"
    assert ids(api_a, f"{base}?status=won") == {early.id}
    assert ids(api_a, f"{base}?close_date_from=2025-02-01") == {late.id}
    assert ids(api_a, f"{base}?close_date_to=2025-01-10") == {early.id}
    assert ids(api_a, f"{base}?account={late.account_id}") == {late.id}
    assert ids(api_a, f"{base}?amount_min=2000") == set()


def test_subscriptions_are_filtered_by_the_day_they_are_in_force(api_a: TenantClient) -> None:
    ended = SubscriptionFactory.create(
        period_start=dt.date(2024, 1, 1), period_end=dt.date(2025, 1, 1)
    )
    current = SubscriptionFactory.create(period_start=dt.date(2025, 1, 1))
    SubscriptionFactory.create(period_start=dt.date(2024, 6, 1), status="canceled")
    base = "/api/v1/subscriptions/?in_force_on="
    assert ids(api_a, f"{base}2024-12-31") == {ended.id}
    assert ids(api_a, f"{base}2025-01-01") == {current.id}


def test_tickets_milestones_surveys_and_events_have_their_filters(api_a: TenantClient) -> None:
    open_ticket = TicketFactory.create(status="pending", priority="urgent")
    TicketFactory.create(status="closed")
    assert ids(api_a, "/api/v1/tickets/?is_open=true") == {open_ticket.id}
    assert ids(api_a, "/api/v1/tickets/?priority=urgent") == {open_ticket.id}

    overdue = MilestoneFactory.create(due_on=dt.date(2020, 1, 1))
    MilestoneFactory.create(due_on=dt.date(2020, 1, 1), completed_on=dt.date(2020, 1, 2))
    MilestoneFactory.create(due_on=timezone.now().date() + dt.timedelta(days=5))
    assert ids(api_a, "/api/v1/milestones/?is_overdue=true") == {overdue.id}

    csat = SurveyResponseFactory.create(kind="csat", score=2)
    SurveyResponseFactory.create(kind="nps", score=9)
    assert ids(api_a, "/api/v1/survey-responses/?kind=csat") == {csat.id}
    assert ids(api_a, "/api/v1/survey-responses/?score_min=5") == {csat.id + 1}

    old = UsageEventFactory.create(occurred_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    UsageEventFactory.create(occurred_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert ids(api_a, "/api/v1/usage-events/?occurred_before=2024-06-01T00:00:00Z") == {old.id}


def test_records_are_searched(api_a: TenantClient) -> None:
    match = TicketFactory.create(subject="Export to CSV fails")
    TicketFactory.create(subject="Invoice question")
    assert ids(api_a, "/api/v1/tickets/?search=csv") == {match.id}
    contact = ContactFactory.create(email="jo@umbrella.example")
    assert ids(api_a, "/api/v1/contacts/?search=umbrella") == {contact.id}
