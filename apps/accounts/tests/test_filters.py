"""Date-time filters accept any ISO 8601 offset and refuse what no database can store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from apps.accounts.tests.factories import SurveyResponseFactory
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def _ids(response: Any) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def test_a_filter_offset_beyond_what_postgresql_stores_is_converted_to_utc(
    api_a: TenantClient,
) -> None:
    # 2026-03-01T20:00-19:00 is 2026-03-02T15:00Z; PostgreSQL itself refuses a -19:00 offset.
    before = SurveyResponseFactory.create(responded_at=datetime(2026, 3, 2, 14, 59, tzinfo=UTC))
    at = SurveyResponseFactory.create(responded_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    after = SurveyResponseFactory.create(responded_at=datetime(2026, 3, 2, 16, 0, tzinfo=UTC))

    response = api_a.get(
        "/api/v1/survey-responses/", {"responded_after": "2026-03-01T20:00:00-19:00"}
    )
    assert response.status_code == 200
    assert _ids(response) == {at.pk, after.pk}
    response = api_a.get(
        "/api/v1/survey-responses/", {"responded_before": "2026-03-01T20:00:00-19:00"}
    )
    assert _ids(response) == {before.pk}


def test_a_filter_date_time_out_of_range_is_refused_by_name(api_a: TenantClient) -> None:
    response = api_a.get("/api/v1/tickets/", {"opened_before": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["opened_before"]
