"""Date-time filters accept any ISO 8601 offset and refuse what no database can store."""

from __future__ import annotations

from tests.fixtures import TenantClient


def test_a_filter_offset_beyond_what_postgresql_stores_is_converted_to_utc(
    api_a: TenantClient,
) -> None:
    response = api_a.get(
        "/api/v1/survey-responses/", {"responded_after": "0253-03-23T16:44:03-19:43"}
    )
    assert response.status_code == 200


def test_a_filter_date_time_out_of_range_is_refused_by_name(api_a: TenantClient) -> None:
    response = api_a.get("/api/v1/tickets/", {"opened_before": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert "opened_before" in response.json()["error"]["fields"]
