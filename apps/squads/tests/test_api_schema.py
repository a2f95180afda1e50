"""The OpenAPI schema of the squads endpoints: complete, documented, free of warnings."""

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
    patterns = [path("api/v1/", include("apps.squads.urls"))]
    GENERATOR_STATS.reset()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    return schema, stderr.getvalue()


def test_the_schema_of_the_squads_endpoints_has_no_warnings_or_errors(
    schema_and_warnings: tuple[dict[str, Any], str],
) -> None:
    schema, warnings = schema_and_warnings
    assert warnings == ""
    validate_schema(schema)


def test_every_squads_operation_has_a_summary(
    schema_and_warnings: tuple[dict[str, Any], str],
) -> None:
    schema, _ = schema_and_warnings
    operations = [
        (route, method, operation)
        for route, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) > 40
    missing = [(route, method) for route, method, op in operations if not op.get("summary")]
    assert missing == []


def test_item_actions_and_lists_are_in_the_schema_with_cursor_pages(
    schema_and_warnings: tuple[dict[str, Any], str],
) -> None:
    paths = schema_and_warnings[0]["paths"]
    for action in ("claim", "release", "assign", "snooze", "complete", "dismiss", "comment"):
        assert "post" in paths[f"/api/v1/work-items/{{id}}/{action}/"], action
    assert "post" in paths["/api/v1/work-items/bulk/"]
    for listing in ("/api/v1/work-items/", "/api/v1/work-items/mine/", "/api/v1/squads/"):
        names = {p["name"] for p in paths[listing]["get"]["parameters"]}
        assert {"cursor", "page_size"} <= names, listing
