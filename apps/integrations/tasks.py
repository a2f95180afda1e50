"""Celery tasks of integrations: thin, idempotent, given ids; the work is in the services."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task, shared_task

from apps.integrations.imports.tasks import (  # noqa: F401  (discovered here)
    csv_import_run_task,
    csv_imports_resume_task,
)
from apps.integrations.webhooks import services as webhooks
from apps.integrations.webhooks.event_types import WEBHOOK_DISPATCH_TASK
from fullfield.tenancy.context import current_schema

# Event ids derive from the dispatch task's id, so a redelivered message finds its deliveries.
EVENT_ID_NAMESPACE = uuid.UUID("0f5b7c52-3c1e-4d8a-9a57-2f0c6f1f4d1e")


@shared_task(bind=True, name=WEBHOOK_DISPATCH_TASK)
def webhooks_dispatch(self: Task[Any, Any], /, event: str, **data: Any) -> int:
    """Subscribed to domain events: one delivery per endpoint that wants the event."""
    task_id = self.request.id or str(uuid.uuid4())
    event_id = uuid.uuid5(EVENT_ID_NAMESPACE, f"{current_schema()}:{task_id}")
    return len(webhooks.webhook_event_dispatch(event_name=event, data=data, event_id=event_id))


@shared_task(name=webhooks.DELIVERY_TASK)
def webhook_delivery_send(delivery_id: int) -> str:
    return webhooks.webhook_delivery_attempt(delivery_id=delivery_id).status


@shared_task(name="integrations.webhook_deliveries_resume")
def webhook_deliveries_resume() -> int:
    """Beat, per tenant (fullfield.fan_out): resend tasks of deliveries whose message was lost."""
    return webhooks.webhook_deliveries_resume()
