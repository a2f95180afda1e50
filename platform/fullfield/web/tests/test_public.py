"""The public site on the bare domain: product page, sign-up, operator console."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from fullfield.tenancy.context import use_public_schema
from fullfield.tenancy.models import Tenant
from fullfield.users.models import User
from tests.fixtures import PASSWORD, World


@pytest.fixture
def public(world: World, db: None) -> None:
    use_public_schema()


def visitor() -> Client:
    """A browser from an address of its own, so the sign-up throttle counts it alone."""
    address = uuid.uuid4().hex
    documentation_ip = f"2001:db8:{address[:4]}:{address[4:8]}:{address[8:12]}::{address[12:16]}"
    return Client(HTTP_HOST="localhost", REMOTE_ADDR=documentation_ip)


def sign_up(client: Client, **changes: str) -> object:
    form = {
        "name": "Delta Dynamics",
        "slug": "delta-dyn",
        "admin_email": "Founder@Delta.test",
        "password": "a long enough passphrase",
        "currency": "EUR",
    }
    form.update(changes)
    return client.post("/signup/", form)


def test_the_product_page_invites_to_sign_up(public: None) -> None:
    page = visitor().get("/").content.decode()
    assert 'href="/signup/"' in page
    assert "Account 360" in page


def test_signing_up_provisions_a_tenant_and_sends_the_admin_to_its_sign_in(public: None) -> None:
    client = visitor()
    response = client.post(
        "/signup/",
        {
            "name": "Delta Dynamics",
            "slug": "delta-dyn",
            "admin_email": "Founder@Delta.test",
            "password": "a long enough passphrase",
            "currency": "EUR",
        },
        SERVER_PORT="8123",
        HTTP_HOST="localhost:8123",
    )
    assert response.status_code == 302
    assert response["Location"] == (
        "http://delta-dyn.localhost:8123/login/?email=founder%40delta.test"
    )
    tenant = Tenant.objects.get(slug="delta-dyn")
    assert tenant.ready and tenant.currency == "EUR" and tenant.name == "Delta Dynamics"
    with schema_context(tenant.schema_name):
        assert User.objects.get().check_password("a long enough passphrase")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"slug": "Not A Slug!"}, "slug", "lowercase letters"),
        ({"slug": "www"}, "slug", "reserved"),
        ({"slug": "alpha"}, "slug", "Already taken"),
        ({"admin_email": "not-an-email"}, "admin_email", "valid email"),
        ({"password": "password"}, "password", "too common"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_sign_up_refuses_bad_input_naming_the_field(
    public: None, changes: dict[str, str], field: str, message: str
) -> None:
    response = sign_up(visitor(), **changes)
    assert response.status_code in (400, 409)  # type: ignore[attr-defined]
    errors = response.context["form"].errors  # type: ignore[attr-defined]
    assert any(message in error for error in errors[field]), errors
    assert not Tenant.objects.filter(slug="delta-dyn").exists()


def test_sign_up_is_throttled_per_address(public: None) -> None:
    client = visitor()
    statuses = [
        sign_up(client, slug="", name="x").status_code  # type: ignore[attr-defined]
        for _ in range(6)
    ]
    assert statuses == [400] * 5 + [429]
    assert "Too many sign-ups" in sign_up(client).content.decode()  # type: ignore[attr-defined]
    # A forged forwarding header does not buy a fresh allowance.
    forged = client.post("/signup/", {"slug": ""}, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forged.status_code == 429
    assert not Tenant.objects.filter(slug="delta-dyn").exists()


def test_the_operator_console_lists_tenants_for_operators_only(public: None) -> None:
    client = visitor()
    response = client.get("/operator/")
    assert response.status_code == 302 and response["Location"].startswith("/operator/login/")
    User.objects.create_user("ops@fullfield.test", PASSWORD, is_staff=True)
    signed_in = client.post(
        "/operator/login/", {"username": "ops@fullfield.test", "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    page = client.get("/operator/").content.decode()
    assert "Alpha Corp" in page and "alpha.localhost" in page and "Beta Ltd" in page


def test_a_tenant_admin_is_not_an_operator(public: None, world: World) -> None:
    client = visitor()
    response = client.post(
        "/operator/login/", {"username": "alice@alpha.test", "password": PASSWORD}
    )
    assert response.status_code == 200  # refused: Alice is a user of her tenant, not of public
    assert client.get("/operator/").status_code == 302
