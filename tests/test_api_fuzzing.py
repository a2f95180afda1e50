"""Every operation of the tenant API, fed inputs generated from its own OpenAPI schema,
answers without a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.fixtures import World, host_of

# Operations that hand work to other processes or the network are fuzzed in their own tests.
EXCLUDED_PATHS = r"^/api/v1/(stripe/webhook|webhooks/endpoints/\{[^}]+\}/test)/$"


def _load_schema() -> Any:
    document = SchemaGenerator(urlconf="fullfield.urls_tenant").get_schema(
        request=None, public=True
    )
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
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


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_with_a_server_error(
    case: Any, world: World, db: None, make_api_key: Any, connection_kept_across_requests: None
) -> None:
    key = make_api_key(world.tenant_a)
    response = case.call(
        headers={"Host": host_of(world.tenant_a), "Authorization": f"Api-Key {key}"}
    )
    case.validate_response(response, checks=[not_a_server_error])
