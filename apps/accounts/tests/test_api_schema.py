"""The OpenAPI schema of the account endpoints: complete, typed, and free of warnings."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema


@pytest.fixture(scope="module")
def schema_and_warnings() -> tuple[dict[str, Any], str]:
    patterns = [path("api/v1/", include("apps.accounts.api.urls"))]
    GENERATOR_STATS.reset()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    return schema, stderr.getvalue()


def test_the_schema_of_the_account_endpoints_has_no_warnings_or_errors(
    schema_and_warnings: tuple[dict[str, Any], str],
) -> None:
    schema, warnings = schema_and_warnings
    assert warnings == ""
    validate_schema(schema)


def test_every_operation_has_a_summary(schema_and_warnings: tuple[dict[str, Any], str]) -> None:
    schema, _ = schema_and_warnings
    operations = [
        (route, method, operation)
        for route, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > 50
    missing = [(route, method) for route, method, op in operations if not op.get("summary")]
    assert missing == []


def test_the_special_endpoints_are_documented_with_their_shapes(
    schema_and_warnings: tuple[dict[str, Any], str],
) -> None:
    schema, _ = schema_and_warnings
    paths = schema["paths"]
    assert {"/api/v1/accounts/{id}/timeline/", "/api/v1/accounts/{id}/360/"} <= set(paths)
    for resource in ["accounts", "contacts", "leads", "opportunities", "subscriptions"]:
        bulk = paths[f"/api/v1/{resource}/bulk/"]["post"]
        assert "requestBody" in bulk
    assert "delete" not in paths["/api/v1/subscriptions/{id}/"]
    assert set(paths["/api/v1/usage-events/{id}/"]) == {"get"}
    list_parameters = {p["name"] for p in paths["/api/v1/opportunities/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "ordering", "search", "status", "close_date_from"} <= (
        list_parameters
    )
