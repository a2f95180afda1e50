"""Every operation of the tenant API, fed generated input, answers without a server error.

Two kinds of input:
- schema-driven: cases generated from the API's own OpenAPI schema (schemathesis);
- hostile bodies, for every operation: nesting far beyond the parser's limit, integers past
  64 bits in each top-level field, invalid UTF-8, random bytes and over-size bodies, which must
  be a 400 or 413 in the one error shape wherever the operation reads a JSON body.

The schema-driven cases also run with another tenant's credentials: tenant A's API key and
Alice's session on tenant B's host get only 401 or 404.

The default run is cheap (a few examples per operation, schemathesis' coverage phase off).
`FULLFIELD_FUZZ=deep` runs many more examples and the coverage phase (see the README).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from apps.accounts.tests import factories
from fullfield.api.parsers import INT_MAX, INT_MIN, JSON_MAX_DEPTH
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World, host_of

DEEP = os.environ.get("FULLFIELD_FUZZ", "").strip().lower() == "deep"
SCHEMA_EXAMPLES = 60 if DEEP else 3
HOSTILE_EXAMPLES = 100 if DEEP else 6

# Operations that hand work to other processes or the network are fuzzed in their own tests.
EXCLUDED_PATHS = r"^/api/v1/(stripe/webhook|webhooks/endpoints/\{[^}]+\}/test)/$"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = SchemaGenerator(urlconf="fullfield.urls_tenant").get_schema(
        request=None, public=True
    )
    return document


def _load_schema() -> Any:
    loaded = schemathesis.openapi.from_dict(_document())
    loaded.app = get_wsgi_application()
    phases = ["examples", "fuzzing", *(["coverage"] if DEEP else [])]
    loaded.config.phases.update(phases=phases)
    return loaded.exclude(path_regex=EXCLUDED_PATHS)


schema = _load_schema()


@pytest.fixture
def connection_kept_across_requests() -> Iterator[None]:
    """Like Django's test client: the WSGI handler must not close the test's connection
    (and with it the transaction every test runs in) when a request finishes."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_key(world: World, make_api_key: Callable[..., str]) -> str:
    return make_api_key(world.tenant_a)


@schema.parametrize()
@settings(
    max_examples=SCHEMA_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(
    case: Any, world: World, db: None, fuzz_key: str, connection_kept_across_requests: None
) -> None:
    response = case.call(
        headers={"Host": host_of(world.tenant_a), "Authorization": f"Api-Key {fuzz_key}"}
    )
    case.validate_response(response, checks=[not_a_server_error])


# --- another tenant's credentials --------------------------------------------------------

FOREIGN_EXAMPLES = 20 if DEEP else 1
# Failed credentials count against the caller's address (tests/test_signin_throttle.py); these
# come from an address of their own (TEST-NET-1), whose budget is lifted for the test.
FOREIGN_ADDRESS = "192.0.2.12"


@schema.parametrize()
@settings(
    max_examples=FOREIGN_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_tenant_a_credentials_on_tenant_b_host_get_only_401_or_404(
    case: Any,
    world: World,
    db: None,
    fuzz_key: str,
    alice_client: TenantClient,
    connection_kept_across_requests: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tenant A's API key and Alice's session, sent to tenant B's host with generated input,
    never reach an operation: 401 (the credential is unknown there) or 404, nothing else."""
    monkeypatch.setattr(django_settings, "SIGNIN_MAX_FAILURES_PER_ADDRESS", 10**6)
    monkeypatch.setattr(django_settings, "SIGNIN_MAX_FAILURES_PER_ACCOUNT", 10**6)
    session = alice_client.cookies[django_settings.SESSION_COOKIE_NAME].value
    host = host_of(world.tenant_b)
    for credential in (
        {"Authorization": f"Api-Key {fuzz_key}"},
        {"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={session}"},
    ):
        response = case.call(
            headers={"Host": host, **credential},
            environ_overrides={"REMOTE_ADDR": FOREIGN_ADDRESS},
        )
        assert response.status_code in (401, 404), (
            case.method,
            case.formatted_path,
            list(credential),
            response.status_code,
            response.text[:300],
        )


# --- hostile bodies ---------------------------------------------------------------------


def _operations() -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, request media types, top-level body fields) of every operation."""
    document = _document()
    found = []
    for path, operations in document["paths"].items():
        if re.match(EXCLUDED_PATHS, path):
            continue
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            fields: list[str] = []
            body_schema = content.get("application/json", {}).get("schema", {})
            reference = body_schema.get("$ref", "")
            if reference:
                component = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
                fields = sorted(component.get("properties", {}))
            found.append((method.upper(), path, sorted(content), fields))
    return found


OPERATIONS = _operations()

_NOT_REACHED = {401, 403, 404, 405}


def _deep(levels: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    inner = b"[" if opener == b"[" else b'{"a":'
    return inner * levels + b"1" + closer * levels


def _is_json(data: bytes) -> bool:
    try:
        msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return False
    return True


def _in_field(fields: list[str]) -> Any:
    """Strategy placing a value in one of the operation's top-level fields."""
    names = st.sampled_from(fields or ["value"])
    return lambda value: names.map(lambda name: b'{"' + name.encode() + b'":' + value + b"}")


def hostile_bodies(fields: list[str]) -> Any:
    """(kind, body) pairs of every hostile class."""
    place = _in_field(fields)
    # Far past Python's recursion limit first (the old server error), then just past the limit.
    levels = st.sampled_from([100_000, 3_000, 500, JSON_MAX_DEPTH + 1])
    too_deep = st.tuples(levels, st.sampled_from([b"[", b"{"])).map(lambda pair: _deep(*pair))
    big_int = st.one_of(
        st.integers(min_value=INT_MAX + 1, max_value=2**200),
        st.integers(min_value=-(2**200), max_value=INT_MIN - 1),
    ).map(lambda number: str(number).encode())
    invalid_utf8 = st.binary(min_size=1, max_size=20).filter(lambda data: not _is_utf8(data))
    return st.one_of(
        too_deep.map(lambda body: ("deep", body)),
        too_deep.flatmap(place).map(lambda body: ("deep", body)),
        big_int.flatmap(place).map(lambda body: ("big_int", body)),
        invalid_utf8.flatmap(lambda data: place(b'"' + data + b'"')).map(
            lambda body: ("invalid_utf8", body)
        ),
        st.binary(min_size=1, max_size=500)
        .filter(lambda data: not _is_json(data))
        .map(lambda body: ("bytes", body)),
        st.just(("over_size", b"")),
    )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Unreadable(io.RawIOBase):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("an over-size body was read")


def _path_with_objects(path: str) -> str:
    """The path with {id} naming an existing record of its resource, other ids made up."""
    resource = path.split("/")[3]
    factory_name = "".join(part.title() for part in resource.rstrip("s").split("-"))
    factory = getattr(factories, f"{factory_name}Factory", None)
    if factory is None and resource == "opportunities":
        factory = factories.OpportunityFactory
    if "{id}" in path and factory is not None:
        path = path.replace("{id}", str(factory.create().pk))
    return re.sub(r"\{[^}]+\}", "1", path)


def _client(world: World, key: str, path: str) -> TenantClient:
    # Segment takes only keys; credential management only a tenant admin's session.
    if "/segment/" in path:
        return TenantClient(world.tenant_a).use_api_key(key)
    return TenantClient(world.tenant_a).login_as(world.alice)


@pytest.mark.parametrize(
    ("method", "path", "media_types", "fields"),
    OPERATIONS,
    ids=[f"{method} {path}" for method, path, _, _ in OPERATIONS],
)
def test_hostile_bodies_are_refused_in_the_error_shape_by_every_operation(
    world: World,
    tenant_a: Tenant,
    fuzz_key: str,
    method: str,
    path: str,
    media_types: list[str],
    fields: list[str],
) -> None:
    url = _path_with_objects(path)
    if "/segment/" in url:
        url = url.rstrip("/")  # Segment's libraries post without a trailing slash
    client = _client(world, fuzz_key, url)
    reads_json = "application/json" in media_types

    @given(hostile=hostile_bodies(fields))
    @settings(
        max_examples=HOSTILE_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(hostile: tuple[str, bytes]) -> None:
        kind, body = hostile
        if kind == "over_size":
            limit = 5 * 1024 * 1024 if "/events/" in url or "/segment/" in url else 0
            limit = limit or django_settings.API_MAX_BODY_BYTES
            environ: dict[str, Any] = {
                "wsgi.input": _Unreadable(),
                "CONTENT_LENGTH": str(limit + 1),
            }
            response = client.generic(method, url, content_type="application/json", **environ)
        else:
            response = client.generic(method, url, data=body, content_type="application/json")  # type: ignore[arg-type]
        assert response.status_code < 500, (kind, body[:200], response.content[:300])
        if response.status_code >= 400 and response["Content-Type"] == "application/json":
            assert set(response.json()["error"]) == {"code", "message", "fields"}
        if not reads_json or response.status_code in _NOT_REACHED:
            return
        if kind == "over_size":
            assert response.status_code == 413, response.content[:300]
            assert f"{limit:,} bytes" in response.json()["error"]["message"]
        elif response.status_code < 300 and "rejected" in response.json():
            # Ingest refuses a bad item by position and stores the rest.
            assert response.json()["rejected"] >= 1, (kind, body[:200], response.content[:300])
        else:
            assert response.status_code == 400, (kind, body[:200], response.content[:300])

    run()
