"""Task base classes and the beat fan-out that runs periodic work in every ready tenant."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from celery.exceptions import Reject
from celery.signals import task_postrun, task_prerun
from django_tenants.utils import get_public_schema_name, schema_context
from tenant_schemas_celery.app import get_schema_name_from_task
from tenant_schemas_celery.task import TenantTask as LibraryTenantTask

from fullfield.log_context import current_request_id, current_tenant
from fullfield.tenancy.context import current_schema

logger = logging.getLogger(__name__)


class TenantTask(LibraryTenantTask):  # type: ignore[misc]  # tenant-schemas-celery ships no types
    """A task that runs inside the schema it was sent from, and refuses to run anywhere else.

    A message without a schema header, or one sent from the public schema, is rejected
    (never acknowledged as done, never run against public data).
    """

    abstract = True
    runs_in_public_schema = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.runs_in_public_schema:
            schema = get_schema_name_from_task(self, kwargs)
            if not schema or schema == get_public_schema_name():
                logger.error(
                    "refused task %s[%s]: its message names no tenant schema (got %r); "
                    "tenant tasks must be sent from inside a tenant",
                    self.name,
                    self.request.id,
                    schema,
                )
                raise Reject(f"task {self.name} has no tenant schema", requeue=False)
        return super().__call__(*args, **kwargs)


class PublicTask(TenantTask):
    """A platform task that deliberately runs in the public schema (e.g. the beat fan-out)."""

    abstract = True
    runs_in_public_schema = True


@task_prerun.connect
def _bind_log_context(task_id: str | None = None, **_: Any) -> None:
    current_tenant.set(current_schema())
    current_request_id.set(task_id or "-")


@task_postrun.connect
def _clear_log_context(**_: Any) -> None:
    current_tenant.set("-")
    current_request_id.set("-")


@shared_task(base=PublicTask, name="fullfield.fan_out")
def fan_out(task_name: str) -> int:
    """Send `task_name` once into every ready tenant; beat schedules this, not the task itself."""
    from fullfield.tenancy.selectors import tenant_list_ready

    sent = 0
    for tenant in tenant_list_ready():
        with schema_context(tenant.schema_name):
            fan_out.app.send_task(task_name)
        sent += 1
    logger.info("fanned out %s to %d tenants", task_name, sent)
    return sent


# Ids of the subscriber runs of a batch derive from the batch message's id, so a redelivered
# batch runs each subscriber under the ids of its first delivery (webhook event ids build on it).
BATCH_RUN_NAMESPACE = uuid.UUID("6a1d2b8e-51f4-4c0a-8a3e-7d4f2f5c9b10")


@shared_task(bind=True, name="fullfield.events_deliver")
def events_deliver(self: Any, /, task_name: str, events: list[dict[str, Any]]) -> int:
    """A batch of domain events for one subscriber (fullfield.events.publish_many): runs the
    subscriber's task for each event here, in order; returns how many ran without error."""
    task = self.app.tasks[task_name]
    batch_id = self.request.id or str(uuid.uuid4())
    done = 0
    for index, kwargs in enumerate(events):
        run_id = str(uuid.uuid5(BATCH_RUN_NAMESPACE, f"{batch_id}:{index}"))
        result = task.apply(kwargs=kwargs, task_id=run_id)
        if result.failed():
            logger.error(
                "event %s for %s failed in batch %s: %r",
                kwargs.get("event"),
                task_name,
                batch_id,
                result.result,
            )
        else:
            done += 1
    return done


@shared_task(name="fullfield.worker_ping")
def worker_ping(marker: str = "beat") -> str:
    """Liveness probe for workers: leaves `marker` in the sending tenant's cache."""
    from django.core.cache import cache

    cache.set("worker-ping", marker, timeout=300)
    return str(current_schema())
