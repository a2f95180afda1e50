"""Cross-tenant, for every operation in the OpenAPI schema: Alice (tenant A) never reaches
Charlie's tenant B, whether B's ids are in the path or inside a request body, and B is left
exactly as it was."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.accounts.seed.writer import tenant_seed
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.reliability

PARAMETER = re.compile(r"\{([^}]+)\}")
METHODS = ("get", "post", "put", "patch", "delete")


def operations(client: TenantClient) -> list[tuple[str, str, dict[str, Any]]]:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def first_id(client: TenantClient, collection: str) -> str | None:
    """The id of one object the client's tenant has in `collection`, if it has any."""
    response = client.get(collection)
    if response.status_code != 200:
        return None
    body = response.json()
    results = body.get("results", body) if isinstance(body, dict) else body
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        return None
    value = results[0].get("id")
    return None if value is None else str(value)


def fill(path: str, client: TenantClient) -> str | None:
    """`path` with each parameter set to an object of the client's tenant, found by listing the
    collection before it; None when that tenant has no such object."""
    while match := PARAMETER.search(path):
        object_id = first_id(client, path[: match.start()])
        if object_id is None:
            return None
        path = path[: match.start()] + object_id + path[match.end() :]
    return path


def singular_of(path: str) -> str:
    return singular(path.strip("/").split("/")[-1]) if path.count("/") == 4 else ""


def singular(segment: str) -> str:
    name = segment.replace("-", "_")
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name.removesuffix("s")


def snapshot(tenant: Tenant) -> dict[str, str]:
    """Every table of the tenant's schema: its row count and a digest of all its rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [tenant.schema_name],
        )
        tables = [row[0] for row in cursor.fetchall()]
        digests = {}
        for table in tables:
            # Names from the catalog, quoted: no input reaches this statement.
            digest_sql = (
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "  # noqa: S608
                f'FROM "{tenant.schema_name}"."{table}" t'
            )
            cursor.execute(digest_sql)
            count, digest = cursor.fetchone()
            digests[table] = f"{count}:{digest}"
    return digests


@pytest.fixture
def seeded_b(world: World, db: None) -> Tenant:
    with schema_context(world.tenant_b.schema_name):
        tenant_seed(anchor=date.today(), accounts=6, months=3, usage_scale=0.01)
    # A has fewer of everything, so that B's newest ids are ids A does not have (each schema
    # numbers its rows from 1): a B id that A also has is A's own object, not a leak.
    with schema_context(world.tenant_a.schema_name):
        tenant_seed(anchor=date.today(), accounts=1, months=3, usage_scale=0.01, seed=2)
    return world.tenant_b


def test_alice_gets_404_for_every_operation_on_tenant_b_ids_in_the_path_and_b_is_unchanged(
    seeded_b: Tenant, alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    before = snapshot(seeded_b)
    exercised, refused = [], []
    for path, method, _ in operations(alice_client):
        if not PARAMETER.search(path):
            continue
        b_path = fill(path, charlie_client)
        last = list(PARAMETER.finditer(path))[-1]
        b_detail = fill(path[: last.end()] + "/", charlie_client)
        if b_path is None or b_detail is None or alice_client.get(b_detail).status_code == 200:
            continue  # B has no such object, or A has one with the same id
        response = getattr(alice_client, method)(b_path, {}, format="json")
        exercised.append(f"{method.upper()} {path}")
        if response.status_code not in (400, 404):
            refused.append(f"{method.upper()} {b_path} -> {response.status_code}")
        elif response.status_code == 404:
            assert response.json()["error"]["code"] == "not_found", (path, response.json())
    assert not refused, "tenant B's objects answered tenant A's user:\n" + "\n".join(refused)
    assert len(exercised) >= 10, f"too few operations found a B object to try: {exercised}"
    assert snapshot(seeded_b) == before


def test_alice_cannot_point_her_records_at_tenant_b_objects_in_request_bodies(
    seeded_b: Tenant, alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    all_operations = operations(alice_client)
    b_ids: dict[str, str] = {}
    for path, method, _ in all_operations:
        if method == "get" and not PARAMETER.search(path) and path.count("/") == 4:
            object_id = first_id(charlie_client, path)
            if object_id is not None:
                b_ids[singular(path.strip("/").split("/")[-1])] = object_id
    before = snapshot(seeded_b)
    tried, accepted = [], []
    for path, method, operation in all_operations:
        if method != "patch" or len(PARAMETER.findall(path)) != 1:
            continue
        a_path = fill(path, alice_client)
        content: dict[str, Any] = operation.get("requestBody", {}).get("content", {})
        first: dict[str, Any] = next(iter(content.values()), {})
        ref = str(first.get("schema", {}).get("$ref", ""))
        if a_path is None or not ref:
            continue
        properties = component(alice_client, ref).get("properties", {})
        for name, definition in properties.items():
            target = name.removesuffix("_id")
            if target not in b_ids or definition.get("readOnly"):
                continue
            collection = next(p for p, m, _ in all_operations if singular_of(p) == target)
            if alice_client.get(f"{collection}{b_ids[target]}/").status_code == 200:
                continue  # A has an object with that id: not another tenant's
            response = alice_client.patch(a_path, {name: b_ids[target]}, format="json")
            tried.append(f"PATCH {path} {name}")
            if response.status_code not in (400, 404):
                accepted.append(f"PATCH {a_path} {name}={b_ids[target]} -> {response.status_code}")
            elif response.status_code == 400:
                assert name in response.json()["error"]["fields"], response.json()
    assert not accepted, "tenant A's records took tenant B's ids:\n" + "\n".join(accepted)
    assert tried, f"no PATCH operation refers to another record (B has {sorted(b_ids)})"
    assert snapshot(seeded_b) == before


_components: dict[str, Any] = {}


def component(client: TenantClient, ref: str) -> dict[str, Any]:
    if not _components:
        _components.update(client.get("/api/schema/", {"format": "json"}).json()["components"])
    name = ref.rsplit("/", 1)[-1]
    found = _components["schemas"].get(name, {})
    return found if isinstance(found, dict) else {}


@pytest.mark.parametrize("host", ["tenant_b", "public"])
def test_alice_session_and_key_on_another_host_are_refused(
    world: World, alice_client: TenantClient, make_api_key: Any, host: str, settings: Any
) -> None:
    # Every operation is tried with a foreign key from one address: the failed-credential
    # throttle (tests/test_signin_throttle.py) would answer 429 before long; this test is about
    # what each operation answers, so the budget is lifted.
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 10**6
    key = make_api_key(world.tenant_a)
    if host == "tenant_b":
        other = TenantClient(world.tenant_b)
    else:
        other = TenantClient(world.tenant_a)
        other.defaults["HTTP_HOST"] = settings.FULLFIELD_BASE_DOMAIN
    other.cookies = alice_client.cookies
    for path, method, _ in operations(alice_client):
        if PARAMETER.search(path) or method != "get":
            continue
        with_session = other.get(path)
        with_key = other.get(path, HTTP_AUTHORIZATION=f"Api-Key {key}")
        for response in (with_session, with_key):
            assert response.status_code in (401, 404), (host, path, response.status_code)
