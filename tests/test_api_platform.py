"""The API skeleton: credentials, scopes, one error shape, pagination, throttling, docs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django_tenants.utils import schema_context
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.integrations.authentication import ApiKeyPrincipal
from apps.integrations.models import ApiKey
from fullfield.api.permissions import IsAuthenticatedWithScope
from fullfield.api.throttling import PerCredentialRateThrottle
from tests.fixtures import TenantClient, World


def test_an_admin_creates_an_api_key_shown_once_and_stored_only_hashed(
    alice_client: TenantClient, world: World
) -> None:
    created = alice_client.post("/api/v1/api-keys/", {"name": "warehouse", "scope": "read"})
    assert created.status_code == 201
    key = created.json()["key"]
    prefix = created.json()["prefix"]
    assert key.startswith(prefix + ".")
    with schema_context(world.tenant_a.schema_name):
        stored = ApiKey.objects.get(prefix=prefix)
        assert key not in stored.hashed_key and key.split(".")[1] not in stored.hashed_key
    listed = alice_client.get("/api/v1/api-keys/").json()["results"]
    assert [k["name"] for k in listed] == ["warehouse"]
    assert "key" not in listed[0]


def test_an_integrator_checks_who_the_api_sees(world: World, make_api_key: Any) -> None:
    reader = TenantClient(world.tenant_a).use_api_key(
        make_api_key(world.tenant_a, scope="read", name="bi export")
    )
    assert reader.get("/api/v1/me/").json() == {
        "tenant": "alpha",
        "credential": "api_key",
        "name": "bi export",
        "scope": "read",
    }


@pytest.mark.parametrize(
    ("scope", "method", "allowed"),
    [
        ("read", "GET", True),
        ("read", "HEAD", True),
        ("read", "POST", False),
        ("read", "PATCH", False),
        ("read", "DELETE", False),
        ("read_write", "POST", True),
        ("read_write", "DELETE", True),
    ],
)
def test_a_read_key_reads_but_cannot_write(scope: str, method: str, allowed: bool) -> None:
    request = Request(getattr(APIRequestFactory(), method.lower())("/api/v1/anything/"))
    api_key = ApiKey(name="k", scope=scope)
    request.user = ApiKeyPrincipal(api_key)  # type: ignore[assignment]
    request.auth = api_key
    assert IsAuthenticatedWithScope().has_permission(request, APIView()) is allowed


def test_api_keys_cannot_manage_api_keys_and_members_cannot_either(
    api_a: TenantClient, bob_client: TenantClient
) -> None:
    assert api_a.get("/api/v1/api-keys/").status_code == 403
    assert bob_client.get("/api/v1/api-keys/").status_code == 403


def test_a_revoked_key_is_refused(alice_client: TenantClient, world: World) -> None:
    created = alice_client.post("/api/v1/api-keys/", {"name": "old", "scope": "read_write"}).json()
    caller = TenantClient(world.tenant_a).use_api_key(created["key"])
    assert caller.get("/api/v1/me/").status_code == 200
    revoked = alice_client.post(f"/api/v1/api-keys/{created['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    response = caller.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid, revoked or expired API key."


def test_garbage_keys_and_unknown_schemes_are_refused(client_a: TenantClient) -> None:
    assert client_a.get("/api/v1/api-keys/", HTTP_AUTHORIZATION="Api-Key nope").status_code == 401
    assert client_a.get("/api/v1/api-keys/", HTTP_AUTHORIZATION="Api-Key ").status_code == 401


def test_a_key_of_another_tenant_cannot_be_revoked(
    alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    created = alice_client.post("/api/v1/api-keys/", {"name": "mine"}).json()
    response = charlie_client.post(f"/api/v1/api-keys/{created['id']}/revoke/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_every_error_has_one_shape(alice_client: TenantClient) -> None:
    invalid = alice_client.post("/api/v1/api-keys/", {"name": "", "scope": "admin"})
    assert invalid.status_code == 400
    body = invalid.json()["error"]
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"name", "scope"}
    missing = alice_client.get("/api/v1/no-such-resource/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = alice_client.delete("/api/v1/api-keys/")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()["error"]) == {"code", "message", "fields"}


def test_lists_are_cursor_paginated(alice_client: TenantClient) -> None:
    for n in range(5):
        alice_client.post("/api/v1/api-keys/", {"name": f"key {n}"})
    first = alice_client.get("/api/v1/api-keys/?page_size=2").json()
    assert [k["name"] for k in first["results"]] == ["key 4", "key 3"]
    assert "cursor=" in first["next"]
    second = alice_client.get(first["next"]).json()
    assert [k["name"] for k in second["results"]] == ["key 2", "key 1"]


def test_too_many_requests_get_429_with_retry_after(
    api_a: TenantClient, monkeypatch: pytest.MonkeyPatch, world: World
) -> None:
    monkeypatch.setattr(PerCredentialRateThrottle, "THROTTLE_RATES", {"credential": "3/min"})
    statuses = [api_a.get("/api/v1/me/").status_code for _ in range(4)]
    assert statuses[:3] != [429, 429, 429] and statuses[3] == 429
    throttled = api_a.get("/api/v1/me/")
    assert int(throttled["Retry-After"]) > 0
    assert "Retry in" in throttled.json()["error"]["message"]


def test_throttling_budgets_are_per_credential(
    world: World, make_api_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PerCredentialRateThrottle, "THROTTLE_RATES", {"credential": "2/min"})
    first = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, name="one"))
    second = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, name="two"))
    for _ in range(2):
        first.get("/api/v1/me/")
    assert first.get("/api/v1/me/").status_code == 429
    assert second.get("/api/v1/me/").status_code != 429


def test_openapi_schema_and_docs_are_served_without_any_cdn(client_a: TenantClient) -> None:
    schema = client_a.get("/api/schema/?format=json")
    assert schema.status_code == 200
    document = schema.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/api-keys/" in document["paths"]
    docs = client_a.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(not s.startswith(("http://", "https://", "//")) for s in sources), sources
    assert any("swagger-ui" in s for s in sources)


def test_healthz_reports_database_and_redis(client_a: TenantClient) -> None:
    response = client_a.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_the_default_page_size_is_bounded() -> None:
    assert api_settings.PAGE_SIZE and api_settings.PAGE_SIZE <= 500


def test_an_api_key_is_identified_by_its_prefix_and_its_hash_never_leaves_the_database(
    alice_client: TenantClient, world: World
) -> None:
    created = alice_client.post("/api/v1/api-keys/", {"name": "crm", "scope": "read"})
    listed = alice_client.get("/api/v1/api-keys/")
    revoked = alice_client.post(f"/api/v1/api-keys/{created.json()['prefix']}/revoke/")
    with schema_context(world.tenant_a.schema_name):
        stored = ApiKey.objects.get(prefix=created.json()["prefix"])
    assert created.json()["id"] == listed.json()["results"][0]["id"] == stored.prefix
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    digest = stored.hashed_key.rsplit("$", 1)[-1]
    for response in (created, listed, revoked):
        assert digest not in response.content.decode()
        assert stored.hashed_key not in response.content.decode()
