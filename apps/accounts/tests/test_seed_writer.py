"""Seeding a tenant's schema: determinism, sizes, invariants in the database, idempotency."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import models, transaction
from django.db.models import Count, Q, Sum
from django_tenants.utils import schema_context

from apps.accounts.models import (
    Account,
    Contact,
    OnboardingPlan,
    Subscription,
    SurveyResponse,
    UsageEvent,
)
from apps.accounts.seed import seed_demo
from apps.accounts.seed.generator import SeedConfig, iter_account_plans
from apps.accounts.seed.writer import SEEDED_MODELS, tenant_seed
from fullfield.errors import Conflict, DomainError
from fullfield.tenancy.models import Tenant
from fullfield.users.models import User
from tests.fixtures import World

ANCHOR = date(2025, 6, 15)
SMALL = {"accounts": 30, "months": 6, "seed": 3}
# Written when the row is stored, not part of the generated data.
BOOKKEEPING = {"id", "created_at", "updated_at", "received_at", "rescore_requested_at"}


class _Rollback(Exception):
    pass


def tenant_digest() -> str:
    """A canonical digest of every seeded row, with foreign keys as natural keys."""
    natural: dict[type[models.Model], dict[Any, Any]] = {
        Account: dict(Account.objects.values_list("id", "external_id")),
        Contact: dict(Contact.objects.values_list("id", "external_id")),
        OnboardingPlan: {
            row[0]: row[1:]
            for row in OnboardingPlan.objects.values_list("id", "account__external_id", "name")
        },
        User: dict(User.objects.values_list("id", "email")),
    }
    digest = hashlib.sha256()
    for model in SEEDED_MODELS:
        fields = [f for f in model._meta.concrete_fields if f.name not in BOOKKEEPING]
        rows = []
        for values in model._default_manager.values_list(*(f.attname for f in fields)):
            cells = []
            for field, value in zip(fields, values, strict=True):
                if field.is_relation and value is not None:
                    value = natural[field.related_model][value]  # type: ignore[index]
                cells.append(repr(value))
            rows.append("|".join(cells))
        digest.update(model.__name__.encode())
        for row in sorted(rows):
            digest.update(row.encode())
    return digest.hexdigest()


def seeded_and_rolled_back(**options: Any) -> str:
    """Seed in a savepoint, digest it, and roll it back, leaving the tenant empty again."""
    digest = ""
    try:
        with transaction.atomic():
            tenant_seed(anchor=ANCHOR, **options)
            digest = tenant_digest()
            raise _Rollback
    except _Rollback:
        pass
    return digest


def in_force_on(day: date, prefix: str = "") -> Q:
    """Terms that count towards MRR on `day`."""
    return (
        Q(**{f"{prefix}status__in": ["active", "past_due"]})
        & Q(**{f"{prefix}period_start__lte": day})
        & (Q(**{f"{prefix}period_end__isnull": True}) | Q(**{f"{prefix}period_end__gt": day}))
    )


def test_two_seeds_with_the_same_parameters_write_identical_rows(tenant_a: Tenant) -> None:
    first = seeded_and_rolled_back(**SMALL)
    assert not Account.objects.exists()
    second = seeded_and_rolled_back(**SMALL)
    assert first == second
    assert seeded_and_rolled_back(**{**SMALL, "seed": 4}) != first


def test_the_database_holds_exactly_the_generated_plan(tenant_a: Tenant) -> None:
    result = tenant_seed(anchor=ANCHOR, **SMALL)
    config = SeedConfig(anchor=ANCHOR, currency=tenant_a.currency, **SMALL)
    generated = list(iter_account_plans(config))
    assert Account.objects.count() == 30 == result.rows["accounts"]
    assert UsageEvent.objects.count() == sum(len(p.usage) for p in generated)
    assert Subscription.objects.count() == sum(len(p.subscriptions) for p in generated)
    assert SurveyResponse.objects.count() == sum(len(p.surveys) for p in generated)
    assert result.rows["usage events"] == UsageEvent.objects.count() > 0
    names = {p.account.external_id: p.account.name for p in generated}
    assert dict(Account.objects.values_list("external_id", "name")) == names


def test_seeded_accounts_await_their_first_score_and_use_the_tenant_currency(
    tenant_a: Tenant,
) -> None:
    tenant_seed(anchor=ANCHOR, **SMALL)
    assert not Account.objects.filter(rescore_requested_at__isnull=True).exists()
    assert set(Account.objects.values_list("currency", flat=True)) == {tenant_a.currency}
    assert set(Subscription.objects.values_list("currency", flat=True)) == {tenant_a.currency}


def test_accounts_get_owners_and_parents_inside_the_tenant(tenant_a: Tenant) -> None:
    tenant_seed(anchor=ANCHOR, accounts=150, months=6, seed=5)
    users = set(User.objects.values_list("id", flat=True))
    assert set(Account.objects.values_list("owner_id", flat=True)) <= users
    assert Account.objects.filter(parent__isnull=False).exists()


def test_churned_accounts_have_no_mrr_at_the_anchor_and_customers_do(tenant_a: Tenant) -> None:
    tenant_seed(anchor=ANCHOR, **SMALL)
    in_force = in_force_on(ANCHOR, "subscriptions__")
    per_account = Account.objects.annotate(mrr=Sum("subscriptions__mrr", filter=in_force))
    assert not per_account.filter(lifecycle_stage__in=["churned", "prospect"], mrr__gt=0).exists()
    customers = per_account.exclude(lifecycle_stage__in=["churned", "prospect"])
    assert customers.exists()
    assert not customers.filter(Q(mrr__isnull=True) | Q(mrr__lte=0)).exists()


def test_terms_of_one_subscription_line_do_not_overlap_in_the_database(tenant_a: Tenant) -> None:
    tenant_seed(anchor=ANCHOR, accounts=60, months=12, seed=9)
    terms = Subscription.objects.order_by("account_id", "external_id").values_list(
        "account_id", "external_id", "period_start", "period_end"
    )
    previous: dict[tuple[int, str], date | None] = {}
    for account_id, external_id, start, end in terms:
        line = (account_id, str(external_id).split("-")[2])
        if line in previous:
            assert previous[line] is not None and previous[line] <= start  # type: ignore[operator]
        previous[line] = end


def test_usage_fades_before_an_account_churns(tenant_a: Tenant) -> None:
    tenant_seed(anchor=ANCHOR, accounts=120, months=18, seed=2)
    churned_on = dict(
        Subscription.objects.filter(change_kind="cancellation", period_end__isnull=True)
        .values_list("account_id")
        .annotate(day=models.Max("period_start"))
    )
    assert len(churned_on) >= 5
    last, earlier = 0, 0
    for account_id, occurred_at in UsageEvent.objects.filter(account_id__in=churned_on).values_list(
        "account_id", "occurred_at"
    ):
        days_before = (churned_on[account_id] - occurred_at.date()).days
        last += 0 < days_before <= 60
        earlier += 120 < days_before <= 180
    assert last < earlier * 0.75


def test_seeded_survey_scores_are_in_range_and_tied_to_a_moment(tenant_a: Tenant) -> None:
    tenant_seed(anchor=ANCHOR, **SMALL)
    for kind, (low, high) in SurveyResponse.SCORE_RANGES.items():
        scores = SurveyResponse.objects.filter(kind=kind)
        assert not scores.exclude(score__gte=low, score__lte=high).exists()
    assert not SurveyResponse.objects.filter(moment="").exists()


def test_dated_rows_end_before_the_anchor_day(tenant_a: Tenant) -> None:
    tenant_seed(anchor=ANCHOR, **SMALL)
    limit = datetime(2025, 6, 15, tzinfo=UTC)
    assert not UsageEvent.objects.filter(occurred_at__gte=limit).exists()
    counts = UsageEvent.objects.aggregate(n=Count("id"), keys=Count("idempotency_key"))
    assert counts["n"] == counts["keys"] > 0


def test_seeding_a_tenant_that_has_accounts_is_refused_and_writes_nothing(
    tenant_a: Tenant,
) -> None:
    Account.objects.create(name="Existing customer")
    with pytest.raises(Conflict):
        tenant_seed(anchor=ANCHOR, **SMALL)
    assert Account.objects.count() == 1
    assert not UsageEvent.objects.exists()


def test_invalid_sizes_are_refused_before_anything_is_written(tenant_a: Tenant) -> None:
    with pytest.raises(DomainError) as refused:
        tenant_seed(anchor=ANCHOR, accounts=-1)
    assert "accounts" in refused.value.fields
    assert not Account.objects.exists()


def test_seed_demo_seeds_once_and_a_second_run_changes_nothing(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FULLFIELD_SKIP_DEMO_SEED", raising=False)
    output = io.StringIO()
    seed_demo(stdout=output, accounts=12, months=3)
    first = tenant_digest()
    assert Account.objects.count() == 12
    seed_demo(stdout=output, accounts=12, months=3)
    assert Account.objects.count() == 12
    assert tenant_digest() == first
    assert "seeded" in output.getvalue()
    assert "already has accounts" in output.getvalue()


def test_seed_demo_does_nothing_when_the_demo_seed_is_switched_off(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FULLFIELD_SKIP_DEMO_SEED", "1")
    output = io.StringIO()
    seed_demo(stdout=output, accounts=12, months=3)
    assert not Account.objects.exists()
    assert "skipped" in output.getvalue()


def test_the_seed_tenant_command_fills_the_named_tenant_only(world: World, db: None) -> None:
    output = io.StringIO()
    call_command(
        "seed_tenant",
        "--tenant",
        world.tenant_a.slug,
        "--accounts",
        "15",
        "--months",
        "4",
        "--seed",
        "8",
        "--anchor",
        "2025-06-15",
        stdout=output,
    )
    assert "15 accounts" in output.getvalue()
    with schema_context(world.tenant_a.schema_name):
        assert Account.objects.count() == 15
        assert UsageEvent.objects.exists()
        assert Subscription.objects.aggregate(total=Sum("mrr"))["total"] > Decimal(0)
    with schema_context(world.tenant_b.schema_name):
        assert not Account.objects.exists()


def test_the_seed_tenant_command_names_what_was_wrong(world: World, db: None) -> None:
    with pytest.raises(CommandError, match="--tenant"):
        call_command("seed_tenant", "--tenant", "no-such-tenant")
    with pytest.raises(CommandError, match="--anchor"):
        call_command("seed_tenant", "--tenant", world.tenant_a.slug, "--anchor", "yesterday")
    with pytest.raises(CommandError, match="--accounts"):
        call_command("seed_tenant", "--tenant", world.tenant_a.slug, "--accounts", "0")
