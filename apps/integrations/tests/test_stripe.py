"""Stripe webhooks, end to end through the API, with payloads signed by the `stripe` library."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
import stripe
from django.db.models import Q, Sum
from django_tenants.utils import schema_context

from apps.accounts.models import Account, LifecycleStage, Subscription
from apps.integrations.models import Job, StripeConnection, StripeEvent
from apps.integrations.stripe.services import stripe_connection_set
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

SECRET = "whsec_alpha_0123456789abcdefghijklmnop"
OTHER_SECRET = "whsec_beta_0123456789abcdefghijklmnopq"
WEBHOOK = "/api/v1/stripe/webhook/"
DAY = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def at(days: int, seconds: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(days=days, seconds=seconds)


def stripe_event(kind: str, obj: dict[str, Any], *, created: dt.datetime) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": kind,
        "created": int(created.timestamp()),
        "livemode": False,
        "data": {"object": obj},
    }


def customer(
    customer_id: str = "cus_acme",
    *,
    name: str | None = "Acme Inc",
    email: str = "billing@acme.example",
    currency: str | None = "usd",
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "name": name,
        "email": email,
        "currency": currency,
    }


def price_item(
    unit_amount: int,
    quantity: int = 1,
    *,
    interval: str = "month",
    interval_count: int = 1,
    currency: str = "usd",
    nickname: str = "Pro",
) -> dict[str, Any]:
    return {
        "id": f"si_{uuid.uuid4().hex[:12]}",
        "object": "subscription_item",
        "quantity": quantity,
        "price": {
            "id": f"price_{nickname.lower()}",
            "object": "price",
            "nickname": nickname,
            "currency": currency,
            "unit_amount": unit_amount,
            "billing_scheme": "per_unit",
            "recurring": {
                "interval": interval,
                "interval_count": interval_count,
                "usage_type": "licensed",
            },
        },
    }


def subscription(
    subscription_id: str = "sub_1",
    *,
    items: list[dict[str, Any]],
    status: str = "active",
    start: dt.datetime = DAY,
    customer_id: str = "cus_acme",
    ended_at: dt.datetime | None = None,
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer_id,
        "status": status,
        "currency": currency,
        "start_date": int(start.timestamp()),
        "created": int(start.timestamp()),
        "ended_at": int(ended_at.timestamp()) if ended_at else None,
        "canceled_at": int(ended_at.timestamp()) if ended_at else None,
        "items": {"object": "list", "data": items},
    }


def invoice(subscription_id: str = "sub_1", *, currency: str = "usd") -> dict[str, Any]:
    return {
        "id": f"in_{uuid.uuid4().hex[:12]}",
        "object": "invoice",
        "currency": currency,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription_id},
        },
    }


def post_signed(
    client: TenantClient,
    event: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> Any:
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def mrr_on(day: dt.date) -> Decimal:
    """MRR by the metrics' definition: counting terms (active, past_due) in force on `day`."""
    terms = Subscription.objects.filter(
        status__in=["active", "past_due"], period_start__lte=day
    ).filter(Q(period_end__isnull=True) | Q(period_end__gt=day))
    return terms.aggregate(total=Sum("mrr"))["total"] or Decimal(0)


def terms(subscription_id: str = "sub_1") -> list[tuple[Any, ...]]:
    return list(
        Subscription.objects.filter(external_id__startswith=f"{subscription_id}:")
        .order_by("period_start")
        .values_list("period_start", "period_end", "mrr", "status", "change_kind")
    )


@pytest.fixture
def connected(tenant_a: Tenant) -> StripeConnection:
    return stripe_connection_set(endpoint_secret=SECRET, tolerance_seconds=300)


# --- the connection ----------------------------------------------------------------------


def test_an_admin_stores_the_endpoint_secret_and_only_ever_sees_its_last_characters(
    alice_client: TenantClient,
) -> None:
    assert alice_client.get("/api/v1/stripe/connection/").json()["connected"] is False
    response = alice_client.put(
        "/api/v1/stripe/connection/", {"endpoint_secret": SECRET}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["connected"] is True
    assert body["secret_hint"] == "whsec_…mnop"
    assert body["tolerance_seconds"] == 300
    assert body["webhook_url"].endswith("/api/v1/stripe/webhook/")
    assert SECRET not in json.dumps(alice_client.get("/api/v1/stripe/connection/").json())
    replaced = alice_client.put(
        "/api/v1/stripe/connection/",
        {"endpoint_secret": "whsec_replacement_secret_value_1234", "tolerance_seconds": 60},
        format="json",
    ).json()
    assert (replaced["secret_hint"], replaced["tolerance_seconds"]) == ("whsec_…1234", 60)


def test_a_secret_that_is_not_a_stripe_signing_secret_is_refused_by_name(
    alice_client: TenantClient,
) -> None:
    response = alice_client.put(
        "/api/v1/stripe/connection/",
        {"endpoint_secret": "sk_live_oops", "tolerance_seconds": 5},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"tolerance_seconds"}
    response = alice_client.put(
        "/api/v1/stripe/connection/", {"endpoint_secret": "sk_live_oops"}, format="json"
    )
    assert response.status_code == 400
    assert "whsec_" in response.json()["error"]["fields"]["endpoint_secret"][0]


def test_members_and_api_keys_cannot_read_or_set_the_connection(
    bob_client: TenantClient, api_a: TenantClient
) -> None:
    for client in (bob_client, api_a):
        assert client.get("/api/v1/stripe/connection/").status_code == 403
        response = client.put(
            "/api/v1/stripe/connection/", {"endpoint_secret": SECRET}, format="json"
        )
        assert response.status_code == 403


def test_an_admin_disconnects_stripe_and_deliveries_are_then_refused(
    alice_client: TenantClient, connected: StripeConnection, client_a: TenantClient
) -> None:
    assert alice_client.delete("/api/v1/stripe/connection/").status_code == 204
    response = post_signed(client_a, stripe_event("customer.created", customer(), created=DAY))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "stripe_not_connected"


# --- signatures -----------------------------------------------------------------------------


def test_a_delivery_without_a_connection_is_refused_clearly(
    tenant_a: Tenant, client_a: TenantClient
) -> None:
    response = post_signed(client_a, stripe_event("customer.created", customer(), created=DAY))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "stripe_not_connected"
    assert "/api/v1/stripe/connection/" in error["message"]


def test_a_payload_signed_with_another_secret_is_refused_and_writes_nothing(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    event = stripe_event("customer.created", customer(), created=DAY)
    response = post_signed(client_a, event, secret=OTHER_SECRET)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not Account.objects.exists()
    assert not Job.objects.filter(kind=Job.Kind.STRIPE).exists()


def test_a_tampered_body_fails_verification(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    body = json.dumps(stripe_event("customer.created", customer(), created=DAY))
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    tampered = body.replace("Acme Inc", "Evil Inc")
    response = client_a.post(
        WEBHOOK, data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"


def test_a_request_without_the_signature_header_is_refused(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    body = json.dumps(stripe_event("customer.created", customer(), created=DAY))
    response = client_a.post(WEBHOOK, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "Stripe-Signature" in response.json()["error"]["message"]


def test_a_signature_older_than_the_tolerance_is_refused_as_expired(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    event = stripe_event("customer.created", customer(), created=DAY)
    response = post_signed(client_a, event, timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "signature_expired"
    assert "300 seconds" in error["message"]
    assert not Account.objects.exists()
    # Well inside the tolerance, the same event is accepted.
    assert post_signed(client_a, event, timestamp=int(time.time()) - 200).status_code == 200


def test_tenant_a_payload_posted_to_tenant_b_fails_and_writes_nothing_in_b(
    world: World, connected: StripeConnection, client_b: TenantClient
) -> None:
    event = stripe_event("customer.created", customer(), created=DAY)
    assert post_signed(client_b, event).status_code == 404  # B has not connected Stripe
    with schema_context(world.tenant_b.schema_name):
        stripe_connection_set(endpoint_secret=OTHER_SECRET, tolerance_seconds=300)
    response = post_signed(client_b, event)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    with schema_context(world.tenant_b.schema_name):
        assert not Account.objects.exists()
        assert not StripeEvent.objects.exists()
    assert not Account.objects.exists()  # and nothing in A either


# --- customers ------------------------------------------------------------------------------


def test_customer_created_becomes_a_stripe_account_marked_for_rescoring(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    response = post_signed(client_a, stripe_event("customer.created", customer(), created=DAY))
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["outcome"] == "applied"
    account = Account.objects.get(source_system="stripe", external_id="cus_acme")
    assert (account.name, account.domain, account.currency) == ("Acme Inc", "acme.example", "USD")
    assert account.rescore_requested_at is not None
    assert receipt["account_ids"] == [account.pk]
    job = Job.objects.get(pk=receipt["job_id"])
    assert (job.kind, job.status, job.accepted) == ("stripe", "succeeded", 1)
    assert job.parameters["event_type"] == "customer.created"


def test_a_customer_with_a_free_mail_address_gets_no_domain_and_falls_back_to_email_as_name(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    event = stripe_event(
        "customer.created", customer(name=None, email="jo@gmail.com", currency=None), created=DAY
    )
    assert post_signed(client_a, event).status_code == 200
    account = Account.objects.get(external_id="cus_acme")
    assert (account.name, account.domain, account.currency) == ("jo@gmail.com", "", "USD")


def test_customer_updated_renames_the_account(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    post_signed(client_a, stripe_event("customer.created", customer(), created=at(0)))
    post_signed(
        client_a, stripe_event("customer.updated", customer(name="Acme Group"), created=at(1))
    )
    assert Account.objects.get(external_id="cus_acme").name == "Acme Group"


def test_a_replayed_event_changes_nothing(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    created = stripe_event("customer.created", customer(name="Acme Inc"), created=at(0))
    post_signed(client_a, created)
    post_signed(
        client_a, stripe_event("customer.updated", customer(name="Acme Group"), created=at(1))
    )
    replay = post_signed(client_a, created)  # Stripe retries; signed afresh, same event id
    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    assert Account.objects.get(external_id="cus_acme").name == "Acme Group"
    assert Account.objects.count() == 1
    assert Job.objects.get(pk=replay.json()["job_id"]).duplicates == 1


def test_an_event_older_than_the_applied_state_never_overwrites_it(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    newer = stripe_event("customer.updated", customer(name="New Name"), created=at(2))
    older = stripe_event("customer.updated", customer(name="Old Name"), created=at(1))
    post_signed(client_a, newer)
    response = post_signed(client_a, older)
    assert response.json()["outcome"] == "superseded"
    assert Account.objects.get(external_id="cus_acme").name == "New Name"


def test_a_customer_in_another_currency_is_refused_and_recorded_as_a_failed_job(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    event = stripe_event("customer.created", customer(currency="eur"), created=DAY)
    response = post_signed(client_a, event)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "event_refused"
    assert "EUR" in error["message"] and "USD" in error["message"]
    assert "data.object.currency" in error["fields"]
    assert not Account.objects.exists()
    job = Job.objects.get(kind=Job.Kind.STRIPE)
    assert (job.status, job.rejected) == ("failed", 1)
    assert job.errors[0]["field"] == "data.object.currency"
    assert "EUR" in job.parameters["reason"]
    # Refused, not consumed: once fixed, Stripe's retry of the same event can still apply.
    assert not StripeEvent.objects.filter(event_id=event["id"]).exists()


def test_event_types_fullfield_does_not_map_are_acknowledged_as_ignored(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    response = post_signed(client_a, stripe_event("charge.succeeded", {"id": "ch_1"}, created=DAY))
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"


# --- subscriptions ----------------------------------------------------------------------------


def test_upgrade_downgrade_and_cancellation_produce_terms_and_mrr(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    post_signed(client_a, stripe_event("customer.created", customer(), created=at(0)))
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.created",
            subscription(items=[price_item(5000, 2)]),
            created=at(0, 5),
        ),
    )
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.updated",
            subscription(items=[price_item(5000, 3)]),
            created=at(10),
        ),
    )
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.updated",
            subscription(items=[price_item(4000, 3, nickname="Team")]),
            created=at(20),
        ),
    )
    response = post_signed(
        client_a,
        stripe_event(
            "customer.subscription.deleted",
            subscription(items=[price_item(4000, 3)], status="canceled", ended_at=at(30)),
            created=at(30),
        ),
    )
    assert response.status_code == 200
    d = DAY.date()
    assert terms() == [
        (d, d + dt.timedelta(10), Decimal("100.00"), "active", "new"),
        (d + dt.timedelta(10), d + dt.timedelta(20), Decimal("150.00"), "active", "upgrade"),
        (d + dt.timedelta(20), d + dt.timedelta(30), Decimal("120.00"), "active", "downgrade"),
        (d + dt.timedelta(30), None, Decimal("0.00"), "canceled", "cancellation"),
    ]
    assert [mrr_on(d + dt.timedelta(n)) for n in (0, 9, 10, 25, 30)] == [
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("150.00"),
        Decimal("120.00"),
        Decimal(0),
    ]
    assert Account.objects.get(external_id="cus_acme").lifecycle_stage == LifecycleStage.CHURNED


def test_a_new_subscription_after_a_churn_is_a_reactivation(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    post_signed(client_a, stripe_event("customer.created", customer(), created=at(0)))
    first = subscription(items=[price_item(9900)])
    post_signed(client_a, stripe_event("customer.subscription.created", first, created=at(0, 1)))
    ended = subscription(items=[price_item(9900)], status="canceled", ended_at=at(40))
    post_signed(client_a, stripe_event("customer.subscription.deleted", ended, created=at(40)))
    again = subscription("sub_2", items=[price_item(4900)], start=at(70))
    post_signed(client_a, stripe_event("customer.subscription.created", again, created=at(70)))
    assert terms("sub_2") == [
        (at(70).date(), None, Decimal("49.00"), "active", "reactivation"),
    ]
    assert mrr_on(at(50).date()) == 0
    assert mrr_on(at(70).date()) == Decimal("49.00")
    assert Account.objects.get(external_id="cus_acme").lifecycle_stage == LifecycleStage.ONBOARDING


def test_a_second_subscription_beside_a_paying_one_is_an_upgrade_of_the_account(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    base = subscription(items=[price_item(10000)])
    post_signed(client_a, stripe_event("customer.subscription.created", base, created=at(0)))
    addon = subscription("sub_addon", items=[price_item(2500, nickname="Addon")], start=at(5))
    post_signed(client_a, stripe_event("customer.subscription.created", addon, created=at(5)))
    assert terms("sub_addon")[0][4] == "upgrade"
    assert mrr_on(at(6).date()) == Decimal("125.00")


def test_a_trial_counts_no_mrr_until_it_converts(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    trial = subscription(items=[price_item(3000)], status="trialing")
    post_signed(client_a, stripe_event("customer.subscription.created", trial, created=at(0)))
    paid = subscription(items=[price_item(3000)])
    post_signed(client_a, stripe_event("customer.subscription.updated", paid, created=at(14)))
    d = DAY.date()
    assert terms() == [
        (d, d + dt.timedelta(14), Decimal("30.00"), "trialing", "new"),
        (d + dt.timedelta(14), None, Decimal("30.00"), "active", "new"),
    ]
    assert mrr_on(d + dt.timedelta(13)) == 0
    assert mrr_on(d + dt.timedelta(14)) == Decimal("30.00")


def test_two_changes_on_one_day_rewrite_that_days_term_and_a_revert_merges_back(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.created", subscription(items=[price_item(1000)]), created=at(0)
        ),
    )
    for quantity, seconds in ((3, 10), (2, 20)):
        post_signed(
            client_a,
            stripe_event(
                "customer.subscription.updated",
                subscription(items=[price_item(1000, quantity)]),
                created=at(5, seconds),
            ),
        )
    d = DAY.date()
    assert terms() == [
        (d, d + dt.timedelta(5), Decimal("10.00"), "active", "new"),
        (d + dt.timedelta(5), None, Decimal("20.00"), "active", "upgrade"),
    ]
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.updated",
            subscription(items=[price_item(1000, 1)]),
            created=at(5, 30),
        ),
    )
    assert terms() == [(d, None, Decimal("10.00"), "active", "new")]


def test_yearly_and_quarterly_prices_are_normalised_to_a_month(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    items = [
        price_item(120000, interval="year", nickname="Annual"),
        price_item(30000, interval="month", interval_count=3, nickname="Quarterly"),
    ]
    post_signed(
        client_a,
        stripe_event("customer.subscription.created", subscription(items=items), created=DAY),
    )
    term = Subscription.objects.get()
    assert (term.mrr, term.plan, term.currency) == (Decimal("200.00"), "Annual +1", "USD")


def test_a_subscription_in_another_currency_is_refused_and_never_mixed(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    euros = subscription(items=[price_item(5000, currency="eur")], currency="eur")
    response = post_signed(
        client_a, stripe_event("customer.subscription.created", euros, created=DAY)
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "event_refused"
    assert not Subscription.objects.exists()
    assert not Account.objects.exists()
    assert Job.objects.get(kind=Job.Kind.STRIPE).status == Job.Status.FAILED


def test_a_subscription_before_its_customer_gets_a_placeholder_the_customer_then_names(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    sub = subscription(items=[price_item(5000)])
    post_signed(client_a, stripe_event("customer.subscription.created", sub, created=at(0, 2)))
    assert Account.objects.get(external_id="cus_acme").name == "cus_acme"
    post_signed(client_a, stripe_event("customer.created", customer(), created=at(0, 1)))
    account = Account.objects.get(external_id="cus_acme")
    assert account.name == "Acme Inc"
    assert Subscription.objects.get().account == account


def test_an_unknown_customer_is_refused_when_the_tenant_does_not_create_accounts(
    world: World, connected: StripeConnection, client_a: TenantClient
) -> None:
    Tenant.objects.filter(pk=world.tenant_a.pk).update(ingest_creates_unknown_accounts=False)
    event = stripe_event(
        "customer.subscription.created", subscription(items=[price_item(5000)]), created=at(0, 2)
    )
    response = post_signed(client_a, event)
    assert response.status_code == 422
    assert "data.object.customer" in response.json()["error"]["fields"]
    assert not Account.objects.exists()
    # Once the customer exists, Stripe's retry of the same event lands.
    post_signed(client_a, stripe_event("customer.created", customer(), created=at(0, 1)))
    assert post_signed(client_a, event).json()["outcome"] == "applied"
    assert Subscription.objects.get().account.external_id == "cus_acme"


def test_an_out_of_order_subscription_snapshot_is_skipped(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    created = stripe_event(
        "customer.subscription.created", subscription(items=[price_item(5000)]), created=at(0)
    )
    upgraded = stripe_event(
        "customer.subscription.updated", subscription(items=[price_item(8000)]), created=at(3)
    )
    post_signed(client_a, upgraded)  # Stripe retried the creation later than the update
    assert post_signed(client_a, created).json()["outcome"] == "superseded"
    assert terms() == [(DAY.date(), None, Decimal("80.00"), "active", "new")]


def test_a_subscription_first_seen_when_already_canceled_keeps_its_history(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    gone = subscription(items=[price_item(5000)], status="canceled", ended_at=at(31))
    post_signed(client_a, stripe_event("customer.subscription.deleted", gone, created=at(31)))
    d = DAY.date()
    assert terms() == [
        (d, d + dt.timedelta(31), Decimal("50.00"), "active", "new"),
        (d + dt.timedelta(31), None, Decimal("0.00"), "canceled", "cancellation"),
    ]


# --- invoices -------------------------------------------------------------------------------


def test_a_failed_payment_makes_the_term_past_due_and_a_paid_invoice_active_again(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.created", subscription(items=[price_item(5000)]), created=at(0)
        ),
    )
    post_signed(client_a, stripe_event("invoice.payment_failed", invoice(), created=at(30)))
    assert Subscription.objects.get().status == "past_due"
    assert mrr_on(at(31).date()) == Decimal("50.00")  # past due still counts
    post_signed(client_a, stripe_event("invoice.paid", invoice(), created=at(33)))
    assert Subscription.objects.get().status == "active"


def test_an_older_snapshot_does_not_undo_a_newer_payment_result(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    post_signed(
        client_a,
        stripe_event(
            "customer.subscription.created", subscription(items=[price_item(5000)]), created=at(0)
        ),
    )
    post_signed(client_a, stripe_event("invoice.paid", invoice(), created=at(30, 20)))
    late = subscription(items=[price_item(5000)], status="past_due")
    post_signed(client_a, stripe_event("customer.subscription.updated", late, created=at(30, 10)))
    assert Subscription.objects.get().status == "active"


def test_an_invoice_in_another_currency_is_refused_and_leaves_the_term_unchanged(
    connected: StripeConnection, client_a: TenantClient
) -> None:
    unpaid = subscription(items=[price_item(5000)], status="past_due")
    post_signed(client_a, stripe_event("customer.subscription.created", unpaid, created=at(0)))
    before = terms()
    assert [term[3] for term in before] == ["past_due"]
    response = post_signed(
        client_a, stripe_event("invoice.paid", invoice(currency="gbp"), created=at(30))
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "event_refused"
    # Paid in pounds is not paid: the term is neither marked active nor changed in any way.
    assert terms() == before
