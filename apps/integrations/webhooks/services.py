"""Outbound webhooks: endpoints, fan-out of domain events, and delivery with retries.

Delivery is at least once. An attempt is claimed with a conditional UPDATE (status -> sending,
with a lease), so a redelivered or duplicated task never sends the same delivery twice at the
same time; a worker killed mid-attempt leaves a lease that expires, after which the delivery is
attempted again. Receivers deduplicate by the `Fullfield-Event-Id` header.

Retries: after failed attempt n the next one waits BASE x 5^(n-1) seconds (1 min, 5 min,
25 min, ~2 h, then capped at 6 h); after FULLFIELD_WEBHOOKS_MAX_ATTEMPTS attempts the delivery
has failed. FULLFIELD_WEBHOOKS_DISABLE_AFTER failed deliveries in a row disable the endpoint
(a delivered one resets the count); re-enabling it is an administrator's decision.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import Account
from apps.integrations.models import Job, WebhookDelivery, WebhookEndpoint
from apps.integrations.webhooks.event_types import (
    DOMAIN_EVENT_WEBHOOK_TYPES,
    EVENT_TYPES,
    TEST_EVENT_TYPE,
)
from apps.integrations.webhooks.signing import SIGNATURE_HEADER, signature_header
from apps.integrations.webhooks.targets import target_resolve
from apps.integrations.webhooks.transport import AttemptResult, webhook_post
from fullfield.errors import DomainError
from fullfield.tenancy.context import current_tenant

DELIVERY_TASK = "integrations.webhook_delivery_send"
RETRY_FACTOR = 5
RETRY_CAP = dt.timedelta(hours=6)
# Deliveries due this long ago without an attempt lost their task message: resend it.
STALL_GRACE = dt.timedelta(minutes=10)
USER_AGENT = "Fullfield-Webhooks/1.0"


# --- endpoints -------------------------------------------------------------------------------


def _new_secret() -> str:
    return f"ffwhsec_{secrets.token_urlsafe(32)}"


def _check_event_types(event_types: Sequence[str], errors: dict[str, list[str]]) -> list[str]:
    messages = []
    for index, name in enumerate(event_types):
        if name not in EVENT_TYPES:
            messages.append(
                f"[{index}]: unknown event type {name!r}; choose from {', '.join(EVENT_TYPES)}."
            )
    if not event_types:
        messages.append("Subscribe to at least one event type.")
    if messages:
        errors["event_types"] = messages
    return list(dict.fromkeys(event_types))


def _check_url(url: str, errors: dict[str, list[str]]) -> None:
    try:
        target_resolve(url)
    except DomainError as error:
        errors["url"] = error.fields.get("url", [error.message])


@transaction.atomic
def webhook_endpoint_create(
    *, url: str, event_types: Sequence[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; the returned secret is shown once, when the endpoint is created."""
    errors: dict[str, list[str]] = {}
    types = _check_event_types(event_types, errors)
    _check_url(url, errors)
    if errors:
        raise DomainError("The webhook endpoint is invalid.", fields=errors)
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=url, event_types=types, description=description, secret=secret
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    errors: dict[str, list[str]] = {}
    if event_types is not None:
        endpoint.event_types = _check_event_types(event_types, errors)
    if url is not None and url != endpoint.url:
        _check_url(url, errors)
        endpoint.url = url
    if errors:
        raise DomainError("The webhook endpoint is invalid.", fields=errors)
    if description is not None:
        endpoint.description = description
    if enabled is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.consecutive_failures = 0
        endpoint.disabled_reason = ""
        endpoint.disabled_at = None
    elif enabled is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = "Disabled by an administrator."
        endpoint.disabled_at = timezone.now()
    endpoint.save()
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


# --- fan-out -------------------------------------------------------------------------------


def _envelope(*, event_id: uuid.UUID, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(data)
    account_id = data.get("account_id")
    if isinstance(account_id, int) and "account" not in data:
        account = (
            Account.objects.filter(pk=account_id)
            .values("id", "name", "domain", "source_system", "external_id")
            .first()
        )
        if account is not None:
            data["account"] = account
    return {
        "id": str(event_id),
        "type": event_type,
        "created_at": timezone.now().isoformat(),
        "tenant": current_tenant().slug,
        "data": data,
    }


def webhook_event_dispatch(
    *, event_name: str, data: Mapping[str, Any], event_id: uuid.UUID
) -> list[int]:
    """One delivery per enabled endpoint subscribed to the event; safe to run twice."""
    event_type = DOMAIN_EVENT_WEBHOOK_TYPES.get(event_name)
    if event_type is None:
        return []
    try:
        with transaction.atomic():
            delivery_ids = _deliveries_create(event_type=event_type, data=data, event_id=event_id)
    except IntegrityError:
        delivery_ids = []  # a concurrent run of the same dispatch created them
    if not delivery_ids:
        # A rerun: make sure the deliveries still waiting for a first attempt get one.
        delivery_ids = list(
            WebhookDelivery.objects.filter(
                event_id=event_id, status=WebhookDelivery.Status.PENDING
            ).values_list("pk", flat=True)
        )
    for delivery_id in delivery_ids:
        _enqueue(delivery_id)
    return delivery_ids


def _deliveries_create(
    *, event_type: str, data: Mapping[str, Any], event_id: uuid.UUID
) -> list[int]:
    if WebhookDelivery.objects.filter(event_id=event_id).exists():
        return []
    endpoints = list(
        WebhookEndpoint.objects.filter(enabled=True, event_types__contains=[event_type]).only("pk")
    )
    if not endpoints:
        return []
    now = timezone.now()
    job = Job.objects.create(
        kind=Job.Kind.WEBHOOK_DELIVERY,
        status=Job.Status.RUNNING,
        total=len(endpoints),
        parameters={"event_type": event_type, "event_id": str(event_id)},
        started_at=now,
    )
    payload = _envelope(event_id=event_id, event_type=event_type, data=data)
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint=endpoint,
                job=job,
                event_type=event_type,
                event_id=event_id,
                payload=payload,
                next_attempt_at=now,
            )
            for endpoint in endpoints
        ]
    )
    return [delivery.pk for delivery in deliveries]


def _enqueue(delivery_id: int, *, countdown: float | None = None) -> None:
    from fullfield.celery_app import app

    def send() -> None:
        app.send_task(DELIVERY_TASK, args=[delivery_id], countdown=countdown)

    transaction.on_commit(send)


# --- delivery ------------------------------------------------------------------------------


def retry_delay(attempt: int) -> dt.timedelta:
    """How long to wait after failed attempt number `attempt` (1-based)."""
    seconds = settings.FULLFIELD_WEBHOOKS_RETRY_BASE_SECONDS * RETRY_FACTOR ** (attempt - 1)
    return min(dt.timedelta(seconds=seconds), RETRY_CAP)


def delivery_body(payload: Mapping[str, Any]) -> bytes:
    # Sorted keys: the stored JSON (jsonb) does not keep key order, the signed bytes must be stable.
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


@dataclasses.dataclass(frozen=True)
class AttemptOutcome:
    status: str
    """delivered, retrying or failed; `skipped` when this call did not own the delivery."""
    retry_in: dt.timedelta | None = None


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """Claim the delivery if it is due, POST it once, and record what happened."""
    now = timezone.now()
    due = Q(status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING]) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    abandoned = Q(status=WebhookDelivery.Status.SENDING, lease_expires_at__lt=now)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .filter(due | abandoned)
        .update(
            status=WebhookDelivery.Status.SENDING,
            attempts=F("attempts") + 1,
            lease_expires_at=now + dt.timedelta(seconds=settings.FULLFIELD_WEBHOOKS_LEASE_SECONDS),
            last_attempt_at=now,
        )
    )
    if not claimed:
        return _not_claimed(delivery_id, now=now)
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled and not delivery.is_test:
        _finish(
            delivery,
            status=WebhookDelivery.Status.FAILED,
            result=AttemptResult(
                None, "", f"The endpoint is disabled: {endpoint.disabled_reason}", 0
            ),
            counts_against_endpoint=False,
            attempts=F("attempts") - 1,
        )
        return AttemptOutcome(WebhookDelivery.Status.FAILED)
    result = _post(delivery, endpoint)
    if result.ok:
        _finish(delivery, status=WebhookDelivery.Status.DELIVERED, result=result)
        return AttemptOutcome(WebhookDelivery.Status.DELIVERED)
    if delivery.is_test or delivery.attempts >= settings.FULLFIELD_WEBHOOKS_MAX_ATTEMPTS:
        _finish(delivery, status=WebhookDelivery.Status.FAILED, result=result)
        return AttemptOutcome(WebhookDelivery.Status.FAILED)
    delay = retry_delay(delivery.attempts)
    recorded = _record_attempt(
        delivery,
        result,
        status=WebhookDelivery.Status.RETRYING,
        next_attempt_at=now + delay,  # counted from the attempt's start
    )
    if recorded:
        _enqueue(delivery.pk, countdown=delay.total_seconds())
    return AttemptOutcome(WebhookDelivery.Status.RETRYING, retry_in=delay)


def _not_claimed(delivery_id: int, *, now: dt.datetime) -> AttemptOutcome:
    """Another attempt holds the delivery: look again once its lease expires."""
    lease = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.SENDING)
        .values_list("lease_expires_at", flat=True)
        .first()
    )
    if lease is not None:
        wait = max(lease - now, dt.timedelta(seconds=1))
        _enqueue(delivery_id, countdown=wait.total_seconds())
        return AttemptOutcome("skipped", retry_in=wait)
    return AttemptOutcome("skipped")


def _post(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> AttemptResult:
    try:
        target = target_resolve(endpoint.url)
    except DomainError as refusal:
        return AttemptResult(None, "", f"Refused before sending: {refusal.message}", 0)
    body = delivery_body(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Fullfield-Event-Id": str(delivery.event_id),
        "Fullfield-Event-Type": delivery.event_type,
        "Fullfield-Delivery-Id": str(delivery.pk),
        "Fullfield-Delivery-Attempt": str(delivery.attempts),
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, body=body),
    }
    return webhook_post(target, body=body, headers=headers)


def _record_attempt(delivery: WebhookDelivery, result: AttemptResult, **changes: Any) -> bool:
    """Write the attempt's result, unless this worker lost the delivery to another one."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.SENDING, attempts=delivery.attempts
        ).update(
            response_code=result.response_code,
            response_excerpt=result.response_excerpt,
            last_error=result.error,
            duration_ms=result.duration_ms,
            lease_expires_at=None,
            **changes,
        )
    )


@transaction.atomic
def _finish(
    delivery: WebhookDelivery,
    *,
    status: str,
    result: AttemptResult,
    counts_against_endpoint: bool = True,
    **changes: Any,
) -> None:
    delivered = status == WebhookDelivery.Status.DELIVERED
    recorded = _record_attempt(
        delivery,
        result,
        status=status,
        next_attempt_at=None,
        delivered_at=timezone.now() if delivered else None,
        **changes,
    )
    if not recorded or delivery.is_test:
        return
    if delivered:
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
    elif counts_against_endpoint:
        _count_failure(delivery.endpoint_id, error=result.error)
    if delivery.job_id is not None:
        _job_progress(delivery, delivered=delivered, error=result.error)


def _count_failure(endpoint_id: int, *, error: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    limit = settings.FULLFIELD_WEBHOOKS_DISABLE_AFTER
    WebhookEndpoint.objects.filter(
        pk=endpoint_id, enabled=True, consecutive_failures__gte=limit
    ).update(
        enabled=False,
        disabled_reason=f"Disabled after {limit} failed deliveries in a row; last: {error}"[:200],
        disabled_at=timezone.now(),
    )


def _job_progress(delivery: WebhookDelivery, *, delivered: bool, error: str) -> None:
    """Count one finished delivery into its fan-out job, in one statement (no lost updates)."""
    failed = 0 if delivered else 1
    error_item = orjson.dumps(
        [{"index": delivery.pk, "field": "endpoint", "message": error or "failed"}]
    ).decode()
    table = connection.ops.quote_name(Job._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET
                processed = processed + 1,
                accepted = accepted + %(ok)s,
                rejected = rejected + %(failed)s,
                errors = CASE WHEN %(failed)s = 1 AND jsonb_array_length(errors) < 50
                              THEN errors || %(error)s::jsonb ELSE errors END,
                status = CASE
                    WHEN processed + 1 < total THEN 'running'
                    WHEN rejected + %(failed)s = 0 THEN 'succeeded'
                    WHEN accepted + %(ok)s = 0 THEN 'failed'
                    ELSE 'partial' END,
                finished_at = CASE WHEN processed + 1 >= total THEN %(now)s ELSE finished_at END
            WHERE id = %(job)s AND processed < total
            """,  # noqa: S608  (the table name comes from the model, values are parameters)
            {
                "ok": 1 - failed,
                "failed": failed,
                "error": error_item,
                "now": timezone.now(),
                "job": delivery.job_id,
            },
        )


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `webhook.test` event now, once, and return its delivery (no retries)."""
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type=TEST_EVENT_TYPE,
        event_id=event_id,
        is_test=True,
        next_attempt_at=timezone.now(),
        payload=_envelope(
            event_id=event_id,
            event_type=TEST_EVENT_TYPE,
            data={"message": "A test event from Fullfield: the endpoint is reachable."},
        ),
    )
    webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_resume() -> int:
    """Resend the task of deliveries whose message was lost (a safety net run by beat)."""
    now = timezone.now()
    stalled = WebhookDelivery.objects.filter(
        Q(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING],
            next_attempt_at__lte=now - STALL_GRACE,
        )
        | Q(status=WebhookDelivery.Status.SENDING, lease_expires_at__lt=now)
    ).values_list("pk", flat=True)[:1000]
    ids = list(stalled)
    for delivery_id in ids:
        _enqueue(delivery_id)
    return len(ids)
