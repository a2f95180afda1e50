"""The OpenAPI schema tells the truth: real responses of every list operation validate against
it, and every operation has a summary."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import response_schema_conformance

from apps.accounts.models import Ticket
from apps.accounts.tests import factories
from apps.integrations.models import ApiKey, Job, WebhookDelivery
from apps.integrations.services import api_key_create
from apps.integrations.webhooks.services import webhook_endpoint_create
from apps.scoring.calibration import calibration_run
from apps.scoring.services import health_recompute
from apps.scoring.value import account_value_recompute
from apps.squads.access import actor_for_user
from apps.squads.plays import play_dry_run
from apps.squads.services import cycle_create, squad_accounts_assign, work_item_claim
from apps.squads.tests.factories import MemberFactory, PlayFactory, WorkItemFactory, join
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World, host_of


def _document(urlconf: str = "fullfield.urls_tenant") -> dict[str, Any]:
    document: dict[str, Any] = SchemaGenerator(urlconf=urlconf).get_schema(
        request=None, public=True
    )
    return document


DOCUMENT = _document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
SCHEMA.app = get_wsgi_application()


def _is_list(operation: dict[str, Any]) -> bool:
    content = operation["responses"].get("200", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = DOCUMENT["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    return body.get("type") == "array" or "results" in body.get("properties", {})


LIST_OPERATIONS = sorted(
    path
    for path, operations in DOCUMENT["paths"].items()
    if "get" in operations and _is_list(operations["get"])
)


@pytest.fixture
def connection_kept_across_requests() -> Iterator[None]:
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def one_of_everything(tenant_a: Tenant, world: World, settings: Any) -> dict[str, str]:
    """A record of every kind a list shows, with the optional fields left empty (null)."""
    settings.FULLFIELD_WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    for name in dir(factories):
        if name.endswith("Factory") and name != "DjangoModelFactory":
            factory = getattr(factories, name)
            if hasattr(factory, "create") and getattr(factory._meta, "model", None) is not None:
                factory.create()
    api_key_create(name="contract", scope="read", created_by=None)
    Job.objects.create(kind=Job.Kind.CSV_IMPORT, status=Job.Status.QUEUED)
    Job.objects.create(
        kind=Job.Kind.EVENT_BATCH, status=Job.Status.SUCCEEDED, api_key=ApiKey.objects.get()
    )
    endpoint, _ = webhook_endpoint_create(
        url="http://127.0.0.1:9/fullfield", event_types=["health_band.changed"]
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="health_band.changed", event_id=uuid.uuid4(), payload={}
    )
    account_id = Ticket.objects.get().account_id
    # Squads: Alice works in a squad that covers the account, with a claimed item and a play run.
    alice = MemberFactory.create(user=world.alice.user, permission_level="admin")
    item = WorkItemFactory.create(account_id=account_id)
    squad = item.queue.squad
    join(squad, alice)
    squad_accounts_assign(squad=squad, account_ids=[account_id])
    work_item_claim(actor=actor_for_user(world.alice.user), item_id=item.pk)
    cycle_create(
        squad=squad,
        data={
            "name": "January",
            "goal": "Renew every account",
            "starts_on": dt.date(2026, 1, 1),
            "ends_on": dt.date(2026, 1, 14),
        },
    )
    play = PlayFactory.create(squad=squad)
    play_dry_run(play=play, account=item.account)
    # Scoring: every account scored and valued; a calibration (too little history to fit).
    health_recompute()
    account_value_recompute()
    calibration_run()
    return {
        "endpoint_id": str(endpoint.pk),
        "id": str(account_id),
        "account_id": str(account_id),
        "/api/v1/squads/{id}/accounts/": str(squad.pk),
        "/api/v1/work-items/{id}/history/": str(item.pk),
    }


@pytest.mark.parametrize("path", LIST_OPERATIONS)
def test_real_responses_of_every_list_operation_match_the_schema(
    world: World,
    one_of_everything: dict[str, str],
    path: str,
) -> None:
    names = re.findall(r"\{([^}]+)\}", path)
    parameters = {name: one_of_everything.get(path, one_of_everything[name]) for name in names}
    case = SCHEMA[path]["GET"].Case(path_parameters=parameters)
    url = path.format(**parameters)
    served = TenantClient(world.tenant_a).login_as(world.alice).get(url)
    response = Response(
        status_code=served.status_code,
        headers={name: [value] for name, value in served.headers.items()},
        content=served.content,
        request=requests.Request("GET", f"http://{host_of(world.tenant_a)}{url}").prepare(),
        elapsed=0.0,
        message="",
        encoding="utf-8",
        http_version="1.1",
        verify=False,
    )
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    items = body if isinstance(body, list) else body["results"]
    assert items, f"{path}: nothing listed, so nothing was checked"
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_the_paginated_lists_are_declared_paginated() -> None:
    for path in ("/api/v1/jobs/", "/api/v1/api-keys/", "/api/v1/webhooks/endpoints/"):
        body = DOCUMENT["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        reference = body["schema"]["$ref"].rsplit("/", 1)[-1]
        assert {"next", "previous", "results"} <= set(
            DOCUMENT["components"]["schemas"][reference]["properties"]
        ), path
    job = DOCUMENT["components"]["schemas"]["Job"]["properties"]
    assert job["created_by"]["nullable"] and job["rejected_rows_url"]["nullable"]


@pytest.mark.parametrize("urlconf", ["fullfield.urls_tenant", "fullfield.urls_public"])
def test_every_operation_has_a_summary_in_good_grammar(urlconf: str) -> None:
    document = _document(urlconf)
    summaries = {
        f"{method.upper()} {path}": operation.get("summary", "")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert not [name for name, summary in summaries.items() if not summary]
    assert not [s for s in summaries.values() if " an u" in s.lower() or " a a" in s.lower()]
    assert "Create a usage event" in summaries.values() or urlconf.endswith("public")
