"""Stripe delivers the same event twice at once: a real server applies it exactly once."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import stripe
from django_tenants.utils import schema_context

from apps.accounts.models import Subscription
from apps.integrations.models import Job, StripeEvent
from apps.integrations.stripe.services import stripe_connection_set
from apps.integrations.tests.test_stripe import (
    DAY,
    SECRET,
    WEBHOOK,
    price_item,
    stripe_event,
    subscription,
)
from fullfield.tenancy.models import Tenant
from tests.fixtures import host_of


def test_concurrent_deliveries_of_one_event_apply_it_once(
    committed_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        stripe_connection_set(endpoint_secret=SECRET, tolerance_seconds=300)
    body = json.dumps(
        stripe_event(
            "customer.subscription.created",
            subscription(items=[price_item(5000)]),
            created=DAY,
        )
    )
    copies = 6
    barrier = threading.Barrier(copies)
    outcomes: list[tuple[int, str]] = []

    def deliver() -> None:
        header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
        port = urlsplit(tenant_server).port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        connection.request(
            "POST",
            WEBHOOK,
            body=body,
            headers={
                "Host": host_of(committed_tenant),
                "Content-Type": "application/json",
                "Stripe-Signature": header,
            },
        )
        response = connection.getresponse()
        outcomes.append((response.status, json.loads(response.read()).get("outcome", "")))
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == [(200, "applied")] + [(200, "duplicate")] * (copies - 1)
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        assert StripeEvent.objects.count() == 1
        assert Subscription.objects.count() == 1
        assert Job.objects.filter(kind=Job.Kind.STRIPE).count() == copies
