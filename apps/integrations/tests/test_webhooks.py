"""Outbound webhooks: endpoints API, signatures, SSRF guard, retries, auto-disable, fan-out."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accounts.events import LifecycleStageChanged
from apps.accounts.models import Account
from apps.integrations.events import ImportFinished
from apps.integrations.models import Job, WebhookDelivery, WebhookEndpoint
from apps.integrations.tasks import webhooks_dispatch
from apps.integrations.webhooks.event_types import WEBHOOK_DISPATCH_TASK
from apps.integrations.webhooks.services import (
    retry_delay,
    webhook_deliveries_resume,
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_event_dispatch,
)
from apps.integrations.webhooks.signing import signature_verify
from fullfield import events
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

PUBLIC_URL = "https://93.184.215.14/hooks"  # a literal public address: no DNS needed


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server in a thread that answers with the given status codes, in turn."""

    statuses: list[int]
    requests: list[ReceivedRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks?source=fullfield"

    def status_for(self, index: int) -> int:
        return self.statuses[min(index, len(self.statuses) - 1)]


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver(statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            index = len(state.requests)
            state.requests.append(ReceivedRequest(self.path, dict(self.headers.items()), body))
            status = state.status_for(index)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, *args: Any) -> None:
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.server.shutdown()
        state.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def private_targets_allowed(settings: Any) -> None:
    settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = True


def verify_like_a_receiver(secret: str, request: ReceivedRequest) -> bool:
    """An independent receiver: the documented recipe, not Fullfield's own helper."""
    parts = dict(item.split("=", 1) for item in request.headers["Fullfield-Signature"].split(","))
    message = parts["t"].encode() + b"." + request.body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) <= 300
    return fresh and hmac.compare_digest(expected, parts["v1"])


def make_endpoint(url: str, *types: str) -> tuple[WebhookEndpoint, str]:
    return webhook_endpoint_create(url=url, event_types=list(types or ["lifecycle_stage.changed"]))


def dispatch_lifecycle(account_id: int = 0, event_id: uuid.UUID | None = None) -> list[int]:
    return webhook_event_dispatch(
        event_name="lifecycle_stage.changed",
        data={"account_id": account_id, "previous_stage": "adopting", "stage": "churned"},
        event_id=event_id or uuid.uuid4(),
    )


def make_due(delivery_id: int) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


# --- endpoints API ----------------------------------------------------------------------------


def test_an_admin_creates_an_endpoint_and_sees_its_secret_only_once(
    alice_client: TenantClient,
) -> None:
    response = alice_client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": PUBLIC_URL, "event_types": ["health_band.changed", "import.finished"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["secret"].startswith("ffwhsec_")
    assert created["enabled"] is True
    detail = alice_client.get(f"/api/v1/webhooks/endpoints/{created['id']}/").json()
    assert "secret" not in detail
    assert detail["event_types"] == ["health_band.changed", "import.finished"]
    listed = alice_client.get("/api/v1/webhooks/endpoints/").json()["results"]
    assert [row["id"] for row in listed] == [created["id"]]
    assert created["secret"] not in str(listed)


def test_the_documented_event_types_are_listed(alice_client: TenantClient) -> None:
    names = [row["name"] for row in alice_client.get("/api/v1/webhooks/event-types/").json()]
    assert names == [
        "health_band.changed",
        "work_item.created",
        "work_item.completed",
        "play.fired",
        "lifecycle_stage.changed",
        "import.finished",
    ]


def test_unknown_event_types_are_refused_by_position(
    alice_client: TenantClient, tenant_a: Tenant
) -> None:
    response = alice_client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": PUBLIC_URL, "event_types": ["import.finished", "account.deleted"]},
        format="json",
    )
    assert response.status_code == 400
    messages = response.json()["error"]["fields"]["event_types"]
    assert messages[0].startswith("[1]: unknown event type 'account.deleted'")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://10.20.30.40/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:8080/hook", "loopback"),
        ("http://localhost:8000/hook", "localhost (127.0.0.1): it is a loopback"),
        ("http://[::ffff:10.0.0.1]/hook", "embedded 10.0.0.1"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::2]/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://100.64.0.1/hook", "not a publicly routable"),
        ("ftp://93.184.215.14/hook", "Only http and https"),
        ("http://user:pass@93.184.215.14/hook", "Credentials"),
        ("http://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_unsafe_targets_are_refused_when_an_endpoint_is_saved(
    alice_client: TenantClient, tenant_a: Tenant, url: str, reason: str
) -> None:
    response = alice_client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": url, "event_types": ["import.finished"]},
        format="json",
    )
    assert response.status_code == 400
    assert reason in response.json()["error"]["fields"]["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_changing_the_url_to_an_unsafe_target_is_refused(
    alice_client: TenantClient, tenant_a: Tenant
) -> None:
    endpoint_id = alice_client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": PUBLIC_URL, "event_types": ["import.finished"]},
        format="json",
    ).json()["id"]
    response = alice_client.patch(
        f"/api/v1/webhooks/endpoints/{endpoint_id}/",
        {"url": "http://169.254.169.254/"},
        format="json",
    )
    assert response.status_code == 400
    assert WebhookEndpoint.objects.get().url == PUBLIC_URL


def test_members_and_api_keys_cannot_manage_endpoints(
    bob_client: TenantClient, api_a: TenantClient
) -> None:
    for client in (bob_client, api_a):
        assert client.get("/api/v1/webhooks/endpoints/").status_code == 403
        response = client.post(
            "/api/v1/webhooks/endpoints/",
            {"url": PUBLIC_URL, "event_types": ["import.finished"]},
            format="json",
        )
        assert response.status_code == 403


def test_another_tenant_never_sees_endpoints_or_deliveries(
    world: World, alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    endpoint_id = alice_client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": PUBLIC_URL, "event_types": ["import.finished"]},
        format="json",
    ).json()["id"]
    with schema_context(world.tenant_a.schema_name):
        delivery = WebhookDelivery.objects.create(
            endpoint_id=endpoint_id, event_type="import.finished", event_id=uuid.uuid4(), payload={}
        )
    base = f"/api/v1/webhooks/endpoints/{endpoint_id}/"
    assert charlie_client.get("/api/v1/webhooks/endpoints/").json()["results"] == []
    assert charlie_client.get(base).status_code == 404
    assert charlie_client.get(f"{base}deliveries/").status_code == 404
    assert charlie_client.get(f"{base}deliveries/{delivery.pk}/").status_code == 404
    assert charlie_client.post(f"{base}test/").status_code == 404
    assert charlie_client.patch(base, {"enabled": False}, format="json").status_code == 404
    assert charlie_client.delete(base).status_code == 404
    with schema_context(world.tenant_a.schema_name):
        assert WebhookEndpoint.objects.get().enabled is True


def test_an_admin_disables_and_re_enables_an_endpoint_which_resets_its_failures(
    alice_client: TenantClient, tenant_a: Tenant
) -> None:
    endpoint, _ = make_endpoint(PUBLIC_URL)
    url = f"/api/v1/webhooks/endpoints/{endpoint.pk}/"
    disabled = alice_client.patch(url, {"enabled": False}, format="json").json()
    assert (disabled["enabled"], disabled["disabled_reason"]) == (
        False,
        "Disabled by an administrator.",
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=4)
    enabled = alice_client.patch(url, {"enabled": True}, format="json").json()
    assert (enabled["enabled"], enabled["consecutive_failures"], enabled["disabled_reason"]) == (
        True,
        0,
        "",
    )
    assert alice_client.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.exists()


# --- signatures and the test action --------------------------------------------------------------


def test_a_test_event_is_sent_now_and_its_signature_verifies_at_the_receiver(
    alice_client: TenantClient, receiver: Receiver, private_targets_allowed: None
) -> None:
    created = alice_client.post(
        "/api/v1/webhooks/endpoints/",
        {"url": receiver.url, "event_types": ["import.finished"]},
        format="json",
    ).json()
    response = alice_client.post(f"/api/v1/webhooks/endpoints/{created['id']}/test/")
    assert response.status_code == 200
    delivery = response.json()
    assert (delivery["status"], delivery["response_code"], delivery["attempts"]) == (
        "delivered",
        200,
        1,
    )
    assert delivery["duration_ms"] is not None
    [request] = receiver.requests
    assert request.path == "/hooks?source=fullfield"
    assert verify_like_a_receiver(created["secret"], request)
    assert signature_verify(
        secret=created["secret"], body=request.body, header=request.headers["Fullfield-Signature"]
    )
    assert not verify_like_a_receiver("ffwhsec_not_the_secret", request)
    tampered = ReceivedRequest(
        request.path, request.headers, request.body.replace(b"test", b"pwnd")
    )
    assert not verify_like_a_receiver(created["secret"], tampered)
    body = orjson.loads(request.body)
    assert body["type"] == "webhook.test"
    assert body["tenant"] == "alpha"
    assert request.headers["Fullfield-Event-Id"] == body["id"] == delivery["event_id"]


def test_a_failing_test_event_is_reported_without_retries_or_counting_against_the_endpoint(
    alice_client: TenantClient, tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None
) -> None:
    receiver.statuses = [503]
    endpoint, _ = make_endpoint(receiver.url)
    delivery = alice_client.post(f"/api/v1/webhooks/endpoints/{endpoint.pk}/test/").json()
    assert (delivery["status"], delivery["response_code"]) == ("failed", 503)
    assert delivery["last_error"] == "The receiver answered HTTP 503."
    assert delivery["next_attempt_at"] is None
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_the_guard_runs_again_at_send_time(
    alice_client: TenantClient, tenant_a: Tenant, receiver: Receiver, settings: Any
) -> None:
    settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    endpoint, _ = make_endpoint(receiver.url)
    settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = False  # e.g. DNS now points inside
    delivery = alice_client.post(f"/api/v1/webhooks/endpoints/{endpoint.pk}/test/").json()
    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith("Refused before sending")
    assert "loopback" in delivery["last_error"]
    assert receiver.requests == []


def test_redirects_are_not_followed(
    tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None
) -> None:
    receiver.statuses = [302]
    make_endpoint(receiver.url)
    [delivery_id] = dispatch_lifecycle()
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    assert outcome.status == "retrying"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.response_code == 302
    assert "Redirects are not followed" in delivery.last_error
    assert len(receiver.requests) == 1  # the metadata address in Location was never asked


# --- delivery, retries, disabling ------------------------------------------------------------


def test_the_retry_schedule_grows_by_five_and_is_capped() -> None:
    minutes = [retry_delay(attempt) / dt.timedelta(minutes=1) for attempt in range(1, 8)]
    assert minutes == [1, 5, 25, 125, 360, 360, 360]


def test_a_delivery_that_fails_is_retried_later_and_then_delivered_once(
    tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None
) -> None:
    receiver.statuses = [500, 200]
    _, secret = make_endpoint(receiver.url)
    [delivery_id] = dispatch_lifecycle()

    first = webhook_delivery_attempt(delivery_id=delivery_id)
    assert (first.status, first.retry_in) == ("retrying", dt.timedelta(minutes=1))
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("retrying", 1, 500)
    assert delivery.next_attempt_at is not None and delivery.last_attempt_at is not None
    assert delivery.next_attempt_at - delivery.last_attempt_at == dt.timedelta(minutes=1)

    # A duplicate or early task message finds nothing due and sends nothing.
    assert webhook_delivery_attempt(delivery_id=delivery_id).status == "skipped"
    assert len(receiver.requests) == 1

    make_due(delivery_id)
    assert webhook_delivery_attempt(delivery_id=delivery_id).status == "delivered"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 2, 200)
    assert delivery.delivered_at is not None
    assert webhook_delivery_attempt(delivery_id=delivery_id).status == "skipped"
    assert [r.headers["Fullfield-Delivery-Attempt"] for r in receiver.requests] == ["1", "2"]
    assert len({r.headers["Fullfield-Event-Id"] for r in receiver.requests}) == 1
    assert all(verify_like_a_receiver(secret, r) for r in receiver.requests)
    job = Job.objects.get(webhook_deliveries=delivery)
    assert (job.kind, job.status, job.total, job.accepted, job.rejected) == (
        "webhook_delivery",
        "succeeded",
        1,
        1,
        0,
    )


def test_a_delivery_held_by_another_worker_is_not_sent_twice(
    tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None
) -> None:
    make_endpoint(receiver.url)
    [delivery_id] = dispatch_lifecycle()
    lease = timezone.now() + dt.timedelta(seconds=30)
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=WebhookDelivery.Status.SENDING, attempts=1, lease_expires_at=lease
    )
    outcome = webhook_delivery_attempt(delivery_id=delivery_id)
    assert outcome.status == "skipped"
    assert outcome.retry_in is not None and outcome.retry_in <= dt.timedelta(seconds=30)
    assert receiver.requests == []
    # A worker killed mid-attempt: once its lease has expired, the delivery goes out again.
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert webhook_delivery_attempt(delivery_id=delivery_id).status == "delivered"
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 2
    assert len(receiver.requests) == 1


def test_a_delivery_fails_for_good_after_the_last_attempt(
    tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None, settings: Any
) -> None:
    settings.FULLFIELD_WEBHOOKS_MAX_ATTEMPTS = 3
    receiver.statuses = [500]
    make_endpoint(receiver.url)
    [delivery_id] = dispatch_lifecycle()
    outcomes = []
    for _ in range(3):
        make_due(delivery_id)
        outcomes.append(webhook_delivery_attempt(delivery_id=delivery_id).status)
    assert outcomes == ["retrying", "retrying", "failed"]
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    job = Job.objects.get(webhook_deliveries=delivery)
    assert (job.status, job.rejected) == ("failed", 1)
    assert job.errors[0]["message"] == "The receiver answered HTTP 500."


def test_an_endpoint_is_disabled_after_repeated_failed_deliveries(
    tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None, settings: Any
) -> None:
    settings.FULLFIELD_WEBHOOKS_MAX_ATTEMPTS = 1
    settings.FULLFIELD_WEBHOOKS_DISABLE_AFTER = 3
    receiver.statuses = [500, 500, 200, 500, 500, 500]
    endpoint, _ = make_endpoint(receiver.url)
    failures = []
    for _ in range(6):
        [delivery_id] = dispatch_lifecycle()
        webhook_delivery_attempt(delivery_id=delivery_id)
        endpoint.refresh_from_db()
        failures.append(endpoint.consecutive_failures)
    assert failures == [1, 2, 0, 1, 2, 3]  # a delivered event in between resets the count
    assert endpoint.enabled is False
    assert endpoint.disabled_reason.startswith("Disabled after 3 failed deliveries in a row")
    assert endpoint.disabled_at is not None
    assert dispatch_lifecycle() == []  # a disabled endpoint gets no new deliveries


def test_a_delivery_waiting_when_its_endpoint_is_disabled_is_not_sent(
    tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None
) -> None:
    endpoint, _ = make_endpoint(receiver.url)
    [delivery_id] = dispatch_lifecycle()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason="Disabled by an administrator."
    )
    assert webhook_delivery_attempt(delivery_id=delivery_id).status == "failed"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.attempts == 0
    assert "disabled" in delivery.last_error
    assert receiver.requests == []


def test_deliveries_whose_task_message_was_lost_are_resumed(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    make_endpoint(PUBLIC_URL)
    lost, recent, abandoned, done = (dispatch_lifecycle()[0] for _ in range(4))
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=lost).update(
        status="retrying", next_attempt_at=now - dt.timedelta(minutes=11)
    )
    WebhookDelivery.objects.filter(pk=recent).update(
        status="retrying", next_attempt_at=now - dt.timedelta(minutes=1)
    )
    WebhookDelivery.objects.filter(pk=abandoned).update(
        status="sending", lease_expires_at=now - dt.timedelta(seconds=5)
    )
    WebhookDelivery.objects.filter(pk=done).update(status="delivered", next_attempt_at=None)
    with django_capture_on_commit_callbacks() as enqueued:
        assert webhook_deliveries_resume() == 2
    assert len(enqueued) == 2


# --- fan-out ------------------------------------------------------------------------------------


def test_the_dispatch_task_listens_to_the_domain_events_that_exist() -> None:
    assert WEBHOOK_DISPATCH_TASK in events.subscribers(LifecycleStageChanged)
    assert WEBHOOK_DISPATCH_TASK in events.subscribers(ImportFinished)


def test_an_event_reaches_each_enabled_endpoint_subscribed_to_it_once(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    account = Account.objects.create(name="Acme", source_system="crm", external_id="A-1")
    wants, _ = make_endpoint(PUBLIC_URL, "lifecycle_stage.changed", "import.finished")
    make_endpoint(PUBLIC_URL, "import.finished")
    off, _ = make_endpoint(PUBLIC_URL, "lifecycle_stage.changed")
    WebhookEndpoint.objects.filter(pk=off.pk).update(enabled=False, disabled_reason="x")
    event_id = uuid.uuid4()
    with django_capture_on_commit_callbacks() as enqueued:
        webhooks_dispatch.run(
            event="lifecycle_stage.changed",
            account_id=account.pk,
            previous_stage="adopting",
            stage="churned",
        )
    assert len(enqueued) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint_id == wants.pk
    assert delivery.event_type == "lifecycle_stage.changed"
    assert delivery.payload["data"]["stage"] == "churned"
    assert delivery.payload["data"]["account"]["external_id"] == "A-1"
    assert Job.objects.get(webhook_deliveries=delivery).total == 1
    # Running the same dispatch again (a redelivered task) adds nothing.
    for _ in range(2):
        dispatch_lifecycle(account.pk, event_id=event_id)
    assert WebhookDelivery.objects.filter(event_id=event_id).count() == 1


def test_an_import_finished_event_is_delivered_with_its_counts(tenant_a: Tenant) -> None:
    make_endpoint(PUBLIC_URL, "import.finished")
    event = ImportFinished(
        job_id=7, entity="accounts", status="partial", total=10, accepted=8, rejected=2
    )
    webhook_event_dispatch(event_name=event.name, data=event.payload(), event_id=uuid.uuid4())
    assert WebhookDelivery.objects.get().payload["data"] == {
        "job_id": 7,
        "entity": "accounts",
        "status": "partial",
        "total": 10,
        "accepted": 8,
        "rejected": 2,
    }


def test_the_delivery_log_lists_attempts_newest_first_and_filters_by_status(
    alice_client: TenantClient, tenant_a: Tenant, receiver: Receiver, private_targets_allowed: None
) -> None:
    receiver.statuses = [500, 200]
    endpoint, _ = make_endpoint(receiver.url)
    first = dispatch_lifecycle()[0]
    webhook_delivery_attempt(delivery_id=first)
    second = dispatch_lifecycle()[0]
    webhook_delivery_attempt(delivery_id=second)
    base = f"/api/v1/webhooks/endpoints/{endpoint.pk}/deliveries/"
    rows = alice_client.get(base).json()["results"]
    assert [(r["id"], r["status"], r["response_code"], r["attempts"]) for r in rows] == [
        (second, "delivered", 200, 1),
        (first, "retrying", 500, 1),
    ]
    assert rows[0]["duration_ms"] is not None
    retrying = alice_client.get(base, {"status": "retrying"}).json()["results"]
    assert [r["id"] for r in retrying] == [first]
    assert alice_client.get(base, {"status": "lost"}).status_code == 400
    detail = alice_client.get(f"{base}{first}/").json()
    assert detail["payload"]["type"] == "lifecycle_stage.changed"
    other, _ = make_endpoint(PUBLIC_URL)
    assert (
        alice_client.get(f"/api/v1/webhooks/endpoints/{other.pk}/deliveries/{first}/").status_code
        == 404
    )
