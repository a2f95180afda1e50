"""Band changes are delivered in batches: each reaches each subscriber exactly once."""

from __future__ import annotations

import pytest

import apps.integrations.tasks  # noqa: F401  (registers the subscriber, as a worker does)
from apps.accounts.tests.factories import AccountFactory
from apps.integrations.models import WebhookDelivery
from apps.integrations.webhooks.event_types import WEBHOOK_DISPATCH_TASK
from apps.integrations.webhooks.services import webhook_endpoint_create
from apps.scoring.events import HealthBandChanged
from fullfield.tasks import events_deliver

pytestmark = pytest.mark.usefixtures("tenant_a")

PUBLIC_URL = "https://93.184.215.14/hooks"  # a literal public address: no DNS needed


def test_a_batch_of_band_changes_reaches_a_webhook_once_each_even_when_redelivered() -> None:
    accounts = AccountFactory.create_batch(3)
    endpoint, _ = webhook_endpoint_create(url=PUBLIC_URL, event_types=["health_band.changed"])
    changes = [
        HealthBandChanged(
            account_id=account.pk,
            previous_band="good",
            band="poor",
            previous_score=80.0,
            score=20.0 + index,
            as_of="2026-01-01T00:00:00+00:00",
        )
        for index, account in enumerate(accounts)
    ]
    batch = {
        "task_name": WEBHOOK_DISPATCH_TASK,
        "events": [{"event": change.name, **change.payload()} for change in changes],
    }

    for _ in range(2):  # the same message delivered twice (a worker died before its ack)
        assert events_deliver.apply(kwargs=batch, task_id="batch-1").get() == 3

    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert sorted(d.payload["data"]["account_id"] for d in deliveries) == sorted(
        account.pk for account in accounts
    )
    assert {d.event_type for d in deliveries} == {"health_band.changed"}
    assert len({d.event_id for d in deliveries}) == 3
