"""factory_boy factories for the account records (reusable by other apps' tests).

Money fields default to the current tenant's currency, so records are valid in any tenant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import factory
import pytest
from django.apps import apps as django_apps
from django.utils import timezone

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
from apps.accounts.services import rules
from apps.accounts.services.revenue import accounts_revenue_refresh
from fullfield import events
from fullfield.events import DomainEvent


def tenant_currency() -> str:
    return rules.tenant_currency()


class AccountFactory(factory.django.DjangoModelFactory[Account]):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    domain = factory.Sequence(lambda n: f"account{n}.example")
    segment = "smb"
    currency = factory.LazyFunction(tenant_currency)


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")


class LeadFactory(factory.django.DjangoModelFactory[Lead]):
    class Meta:
        model = Lead

    name = factory.Sequence(lambda n: f"Lead {n}")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    company = "Prospect Inc"


class OpportunityFactory(factory.django.DjangoModelFactory[Opportunity]):
    class Meta:
        model = Opportunity

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Deal {n}")
    amount = Decimal("1000.00")
    currency = factory.LazyFunction(tenant_currency)
    close_date = factory.LazyFunction(lambda: timezone.now().date())


class OnboardingPlanFactory(factory.django.DjangoModelFactory[OnboardingPlan]):
    class Meta:
        model = OnboardingPlan

    account = factory.SubFactory(AccountFactory)
    started_on = factory.LazyFunction(lambda: timezone.now().date() - dt.timedelta(days=10))


class MilestoneFactory(factory.django.DjangoModelFactory[Milestone]):
    class Meta:
        model = Milestone

    plan = factory.SubFactory(OnboardingPlanFactory)
    name = factory.Sequence(lambda n: f"Milestone {n}")
    position = factory.Sequence(lambda n: n)


class SubscriptionFactory(factory.django.DjangoModelFactory[Subscription]):
    class Meta:
        model = Subscription
        skip_postgeneration_save = True

    account = factory.SubFactory(AccountFactory)
    plan = "pro"
    mrr = Decimal("100.00")
    currency = factory.LazyFunction(tenant_currency)
    period_start = factory.LazyFunction(lambda: timezone.now().date() - dt.timedelta(days=30))

    @factory.post_generation
    def account_revenue(term: Subscription, create: bool, extracted: object, **_: object) -> None:
        # As the services that write terms do: the account's MRR and renewal columns follow.
        if create:
            accounts_revenue_refresh(account_ids=[term.account_id])


class UsageEventFactory(factory.django.DjangoModelFactory[UsageEvent]):
    class Meta:
        model = UsageEvent

    account = factory.SubFactory(AccountFactory)
    name = "login"
    occurred_at = factory.LazyFunction(timezone.now)
    idempotency_key = factory.Sequence(lambda n: f"event-{n}")


class TicketFactory(factory.django.DjangoModelFactory[Ticket]):
    class Meta:
        model = Ticket

    account = factory.SubFactory(AccountFactory)
    subject = factory.Sequence(lambda n: f"Ticket {n}")
    opened_at = factory.LazyFunction(timezone.now)


class SurveyResponseFactory(factory.django.DjangoModelFactory[SurveyResponse]):
    class Meta:
        model = SurveyResponse

    account = factory.SubFactory(AccountFactory)
    kind = SurveyResponse.Kind.NPS
    score = 9
    responded_at = factory.LazyFunction(timezone.now)


class TouchpointFactory(factory.django.DjangoModelFactory[Touchpoint]):
    class Meta:
        model = Touchpoint

    account = factory.SubFactory(AccountFactory)
    kind = Touchpoint.Kind.CALL
    occurred_at = factory.LazyFunction(timezone.now)
    effort_minutes = 30


def record_published_events(monkeypatch: pytest.MonkeyPatch) -> list[DomainEvent]:
    """The domain events published from now on in this test (they are still published)."""
    published: list[DomainEvent] = []
    original = events.publish

    def publish(event: DomainEvent) -> None:
        published.append(event)
        original(event)

    def publish_many(batch: Sequence[DomainEvent]) -> None:
        published.extend(batch)
        original_many(batch)

    original_many = events.publish_many
    monkeypatch.setattr(events, "publish", publish)
    monkeypatch.setattr(events, "publish_many", publish_many)
    return published


def existing_squad(squad_id: int | None) -> int | None:
    """A squad row with this id: Account.squad_id is a foreign key to the squads app's table
    (looked up through the app registry, so that accounts imports no app)."""
    if squad_id is not None:
        django_apps.get_model("squads", "Squad").objects.get_or_create(
            id=squad_id, defaults={"name": f"Squad {squad_id}", "value_area": "geography"}
        )
    return squad_id
