"""Stored adoption days built by a real Celery worker: on the report's request when it finds no
build, and in the tenant it was requested from only."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.field.selectors import FieldParameters, field_report
from apps.accounts.models import Account, OnboardingPlan, PlanAdoption, PlanAdoptionBuild
from apps.accounts.revenue.periods import Period
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess, World

pytestmark = pytest.mark.worker


def test_a_report_finding_no_build_has_a_worker_build_it_in_its_tenant(
    committed_tenant: Tenant,
    world: World,
    celery_worker_process: WorkerProcess,
    django_db_blocker: Any,
) -> None:
    # This test's worker listens on its own queue: the request goes there.
    default_queue = app.conf.task_default_queue
    app.conf.task_default_queue = celery_worker_process.queue
    try:
        requested_and_built(committed_tenant, world, celery_worker_process, django_db_blocker)
    finally:
        app.conf.task_default_queue = default_queue


def requested_and_built(
    committed_tenant: Tenant,
    world: World,
    celery_worker_process: WorkerProcess,
    django_db_blocker: Any,
) -> None:
    today = timezone.now().date()
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        account = Account.objects.create(name="Acme")
        plan = OnboardingPlan.objects.create(
            account=account, started_on=date(2026, 1, 1), completed_on=date(2026, 1, 5)
        )
        period = Period(start=today - timedelta(days=365), end=today + timedelta(days=1))
        report = field_report(parameters=FieldParameters(period=period, as_of=today))
        assert report.adoption_as_of is None

    def built() -> bool:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return PlanAdoptionBuild.objects.exists()

    deadline = time.monotonic() + 60
    while not built():
        assert time.monotonic() < deadline, celery_worker_process.log()
        time.sleep(0.2)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert list(PlanAdoption.objects.values_list("plan_id", "adopted_on")) == [(plan.id, None)]
        report = field_report(parameters=FieldParameters(period=period, as_of=today))
        assert report.adoption_as_of == PlanAdoptionBuild.objects.get().built_at
    with django_db_blocker.unblock(), schema_context(world.tenant_a.schema_name):
        assert not PlanAdoptionBuild.objects.exists()
