"""Outbound webhooks through a real Celery worker process, Redis and a real HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.integrations.models import Job, WebhookDelivery
from apps.integrations.tests.test_webhooks import (
    Receiver,
    running_receiver,
    verify_like_a_receiver,
)
from apps.integrations.webhooks.event_types import WEBHOOK_DISPATCH_TASK
from apps.integrations.webhooks.services import webhook_endpoint_create
from fullfield.celery_app import app
from fullfield.tenancy.models import Tenant
from tests.fixtures import WorkerProcess, World, running_celery_worker
from tests.polling import wait_until

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def webhook_worker(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real worker like `celery_worker_process`, allowed to reach this machine's receiver.

    The shared worker rightly refuses loopback targets, and a test cannot wait a minute for
    the first retry, so this one runs with private targets allowed and 1-second retries.
    """
    with running_celery_worker(
        tmp_path_factory.mktemp("webhook-worker"),
        FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS="1",
        FULLFIELD_WEBHOOKS_RETRY_BASE_SECONDS="1",
    ) as worker:
        yield worker


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


def test_a_worker_delivers_a_domain_event_retrying_after_a_failure(
    committed_tenant: Tenant,
    webhook_worker: WorkerProcess,
    receiver: Receiver,
    django_db_blocker: Any,
    settings: Any,
) -> None:
    receiver.statuses = [503, 200]
    settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        endpoint, secret = webhook_endpoint_create(
            url=receiver.url, event_types=["lifecycle_stage.changed"]
        )
        account = Account.objects.create(name="Acme", source_system="crm", external_id="A-1")
        # Through the platform's app: another test may have made a plain Celery app current.
        app.send_task(
            WEBHOOK_DISPATCH_TASK,
            kwargs={
                "event": "lifecycle_stage.changed",
                "account_id": account.pk,
                "previous_stage": "adopting",
                "stage": "churned",
            },
            queue=webhook_worker.queue,
        )

    def delivered() -> WebhookDelivery | None:
        with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
            return WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDelivery.Status.DELIVERED
            ).first()

    delivery = wait_until(delivered, timeout=60, explain=webhook_worker.log)

    assert delivery.attempts == 2
    assert delivery.response_code == 200
    assert [r.headers["Fullfield-Delivery-Attempt"] for r in receiver.requests] == ["1", "2"]
    assert all(verify_like_a_receiver(secret, request) for request in receiver.requests)
    assert delivery.payload["data"]["account"]["external_id"] == "A-1"
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        job = Job.objects.get(webhook_deliveries=delivery)
        assert (job.status, job.accepted, job.finished_at is not None) == ("succeeded", 1, True)
