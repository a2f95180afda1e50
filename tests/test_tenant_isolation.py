"""Tenancy rules: every one of them has a test here."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from tests.fixtures import TenantClient, World


def test_unknown_host_is_404_and_never_falls_through_to_public(client_a: TenantClient) -> None:
    for path in ("/", "/login/", "/api/v1/me/", "/api/docs/", "/api/operator/tenants/"):
        response = client_a.get(path, HTTP_HOST="nosuchtenant.localhost")
        assert response.status_code == 404, path


def test_health_probes_by_ip_address_reach_the_health_check(client_a: TenantClient) -> None:
    response = client_a.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_bare_base_domain_serves_the_public_platform_not_a_tenant(client_a: TenantClient) -> None:
    assert client_a.get("/login/", HTTP_HOST="localhost").status_code == 404
    assert client_a.get("/healthz", HTTP_HOST="localhost").status_code == 200


@pytest.mark.parametrize(
    "host", ["ALPHA.LOCALHOST", "Alpha.Localhost:8000", "alpha.localhost.", "ALPHA.localhost.:80"]
)
def test_host_names_reach_the_tenant_regardless_of_case_and_a_trailing_dot(
    api_a: TenantClient, host: str
) -> None:
    response = api_a.get("/api/v1/me/", HTTP_HOST=host)
    assert response.status_code == 200
    assert response.json()["tenant"] == "alpha"
    assert api_a.get("/healthz", HTTP_HOST="LOCALHOST.").status_code == 200
    assert api_a.get("/api/v1/me/", HTTP_HOST="BETA.LOCALHOST").status_code == 401


def test_tenant_host_serves_its_login_page(client_a: TenantClient) -> None:
    response = client_a.get("/login/")
    assert response.status_code == 200
    assert b"Sign in to Alpha Corp" in response.content


def test_alice_signs_in_with_email_and_password_on_her_tenant(client_a: TenantClient) -> None:
    response = client_a.post(
        "/login/",
        {"username": "alice@alpha.test", "password": "correct-horse-battery-staple"},
        format="multipart",
    )
    assert response.status_code == 302
    assert client_a.get("/").status_code == 200


def test_alice_cannot_sign_in_on_another_tenants_host(client_b: TenantClient) -> None:
    response = client_b.post(
        "/login/",
        {"username": "alice@alpha.test", "password": "correct-horse-battery-staple"},
        format="multipart",
    )
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_tenant_a_session_is_not_a_session_on_tenant_b(world: World, db: None) -> None:
    alice = TenantClient(world.tenant_a).login_as(world.alice)
    assert alice.get("/api/v1/api-keys/").status_code == 200
    session_cookie = alice.cookies["fullfield_session"].value
    stranger = TenantClient(world.tenant_b)
    stranger.cookies["fullfield_session"] = session_cookie
    assert stranger.get("/api/v1/api-keys/").status_code == 401
    assert stranger.get("/").status_code == 302  # to the login page


def test_session_and_csrf_cookies_are_host_only(client_a: TenantClient) -> None:
    client_a.post(
        "/login/",
        {"username": "alice@alpha.test", "password": "correct-horse-battery-staple"},
        format="multipart",
    )
    for name in ("fullfield_session", "fullfield_csrftoken"):
        assert client_a.cookies[name]["domain"] == ""


def test_tenant_a_api_key_is_refused_on_tenant_b(world: World, make_api_key: Any) -> None:
    key = make_api_key(world.tenant_a)
    assert TenantClient(world.tenant_a).use_api_key(key).get("/api/v1/accounts/").status_code == 200
    response = TenantClient(world.tenant_b).use_api_key(key).get("/api/v1/accounts/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_cache_keys_are_tenant_prefixed(world: World, db: None) -> None:
    with schema_context(world.tenant_a.schema_name):
        cache.set("shared-name", "alpha's value")
    with schema_context(world.tenant_b.schema_name):
        assert cache.get("shared-name") is None
        cache.set("shared-name", "beta's value")
    with schema_context(world.tenant_a.schema_name):
        assert cache.get("shared-name") == "alpha's value"
        cache.delete("shared-name")
    with schema_context(world.tenant_b.schema_name):
        cache.delete("shared-name")


def test_no_tenant_table_exists_in_the_public_schema(world: World, db: None) -> None:
    tenant_only_tables = ["users_user", "integrations_apikey", "django_session"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        public_tables = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [world.tenant_a.schema_name],
        )
        tenant_tables = {row[0] for row in cursor.fetchall()}
    app_tables = {
        t
        for t in tenant_tables
        if t.split("_")[0] in {"accounts", "scoring", "squads", "integrations"}
    }
    assert app_tables, "tenant schema has the app tables"
    assert not app_tables & public_tables
    for table in tenant_only_tables:
        assert table in tenant_tables
    # users_user exists in public too, but only for platform operators
    assert "tenancy_tenant" in public_tables
    assert "tenancy_tenant" not in tenant_tables


@pytest.mark.parametrize("path", ["/api/v1/api-keys/"])
def test_anonymous_api_calls_get_401_with_the_error_shape(
    client_a: TenantClient, path: str
) -> None:
    response = client_a.get(path)
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}
