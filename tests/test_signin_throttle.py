"""Failed sign-ins are throttled per account and per client address on every credential
surface (sign-in form, operator Basic auth, API keys); successful sign-ins are unaffected."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from fullfield.tenancy.context import use_public_schema
from fullfield.users.models import User
from fullfield.users.signin import API_KEY, signin_succeeded
from fullfield.users.signin import PASSWORD as PASSWORD_SURFACE
from tests.fixtures import PASSWORD, TenantClient, World


@pytest.fixture
def small_budgets(settings: Any) -> None:
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 5


@pytest.fixture
def address() -> str:
    """A client address of this test only (counters live in Redis across tests)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture
def alice_counters_cleared(world: World) -> Iterator[None]:
    yield
    with schema_context(world.tenant_a.schema_name):
        signin_succeeded(surface=PASSWORD_SURFACE, identifier="alice@alpha.test")


def sign_in(world: World, email: str, password: str, address: str) -> Any:
    return TenantClient(world.tenant_a).post(
        "/login/",
        {"username": email, "password": password},
        format="multipart",
        REMOTE_ADDR=address,
    )


def test_the_sign_in_form_refuses_an_account_after_its_failed_attempts_with_retry_after(
    world: World, db: None, small_budgets: None, address: str, alice_counters_cleared: None
) -> None:
    failures = [sign_in(world, "alice@alpha.test", "wrong", address) for _ in range(3)]
    assert [response.status_code for response in failures] == [200, 200, 200]
    throttled = sign_in(world, "alice@alpha.test", PASSWORD, f"{address}9")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 900
    assert "Too many failed sign-in attempts" in throttled.context["form"].non_field_errors()[0]
    assert "Too many failed sign-in attempts" in throttled.content.decode()  # shown on the page
    assert "_auth_user_id" not in throttled.wsgi_request.session
    # Another account from another address signs in as usual.
    assert sign_in(world, "bob@alpha.test", PASSWORD, f"{address}8").status_code == 302


def test_a_successful_sign_in_is_unaffected_by_a_few_mistakes_and_clears_them(
    world: World, db: None, small_budgets: None, address: str, alice_counters_cleared: None
) -> None:
    for _ in range(2):
        assert sign_in(world, "alice@alpha.test", "wrong", address).status_code == 200
    assert sign_in(world, "alice@alpha.test", PASSWORD, address).status_code == 302
    for _ in range(2):
        assert sign_in(world, "alice@alpha.test", "wrong", f"{address}7").status_code == 200
    assert sign_in(world, "alice@alpha.test", PASSWORD, f"{address}7").status_code == 302


def test_the_sign_in_form_refuses_an_address_trying_many_accounts(
    world: World, db: None, small_budgets: None, address: str
) -> None:
    for n in range(5):
        assert sign_in(world, f"nobody{n}@alpha.test", "wrong", address).status_code == 200
    assert sign_in(world, "bob@alpha.test", PASSWORD, address).status_code == 429
    assert sign_in(world, "bob@alpha.test", PASSWORD, f"{address}1").status_code == 302


def test_operator_basic_auth_is_throttled_per_account(
    world: World, db: None, small_budgets: None, address: str
) -> None:
    use_public_schema()
    email = f"ops-{uuid.uuid4().hex[:6]}@fullfield.test"
    User.objects.create_superuser(email, PASSWORD)

    def operator(password: str, remote: str) -> Any:
        token = base64.b64encode(f"{email}:{password}".encode()).decode()
        client = APIClient(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {token}")
        return client.get("/api/operator/tenants/", REMOTE_ADDR=remote)

    assert [operator("wrong", address).status_code for _ in range(3)] == [401, 401, 401]
    throttled = operator(PASSWORD, f"{address}2")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert throttled.json()["error"]["code"] == "throttled"
    assert "Too many failed sign-in attempts" in throttled.json()["error"]["message"]
    signin_succeeded(surface=PASSWORD_SURFACE, identifier=email)
    assert operator(PASSWORD, f"{address}2").status_code == 200


def test_guessing_api_keys_is_throttled_per_address_and_valid_keys_elsewhere_still_work(
    world: World, db: None, small_budgets: None, address: str, make_api_key: Any
) -> None:
    key = make_api_key(world.tenant_a)
    client = TenantClient(world.tenant_a)
    guesses = [
        client.get(
            "/api/v1/me/",
            HTTP_AUTHORIZATION=f"Api-Key {uuid.uuid4().hex[:8]}.x",
            REMOTE_ADDR=address,
        ).status_code
        for _ in range(5)
    ]
    assert guesses == [401] * 5
    throttled = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR=address)
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    segment = client.post(
        "/api/v1/segment/v1/track",
        {},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        REMOTE_ADDR=address,
    )
    assert segment.status_code == 429
    elsewhere = client.get(
        "/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR=f"{address}3"
    )
    assert elsewhere.status_code == 200
    assert API_KEY == "api_key"
