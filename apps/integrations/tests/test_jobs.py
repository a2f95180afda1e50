"""The job log API: /api/v1/jobs/ and /api/v1/jobs/{id}/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.integrations.models import Job
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World


def make_job(**fields: object) -> Job:
    started = timezone.now() - timedelta(seconds=3)
    values: dict[str, object] = {
        "kind": Job.Kind.EVENT_BATCH,
        "status": Job.Status.SUCCEEDED,
        "total": 10,
        "processed": 10,
        "accepted": 10,
        "started_at": started,
        "finished_at": started + timedelta(seconds=1.5),
    }
    values.update(fields)
    return Job.objects.create(**values)


def test_an_ingest_request_can_be_followed_to_its_job(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    body = {
        "events": [
            {
                "id": "e1",
                "account_external_id": "a",
                "name": "n",
                "occurred_at": "2024-01-01T00:00:00Z",
            },
            {
                "id": "e2",
                "account_external_id": "a",
                "name": "",
                "occurred_at": "2024-01-01T00:00:00Z",
            },
        ]
    }
    posted = api_a.post("/api/v1/events/batch/", body, format="json").json()

    job = api_a.get(f"/api/v1/jobs/{posted['job']}/").json()

    assert job["kind"] == "event_batch"
    assert job["status"] == "partial"
    assert (job["total"], job["accepted"], job["duplicates"], job["rejected"]) == (2, 1, 0, 1)
    assert job["errors"] == [
        {"index": 1, "field": "name", "message": posted["errors"][0]["message"]}
    ]
    assert job["progress"] == {"processed": 2, "total": 2, "percent": 100.0}
    assert job["duration_seconds"] is not None and job["duration_seconds"] >= 0
    assert job["api_key"]
    assert job["parameters"]["source_system"] == "api"


def test_a_job_shows_progress_and_running_time_while_it_runs(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    job = make_job(
        kind=Job.Kind.CSV_IMPORT,
        status=Job.Status.RUNNING,
        total=400,
        processed=100,
        finished_at=None,
    )
    body = api_a.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["progress"] == {"processed": 100, "total": 400, "percent": 25.0}
    assert body["finished_at"] is None
    assert body["duration_seconds"] >= 3


def test_jobs_are_listed_newest_first_and_filtered_by_kind_and_status(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    batch = make_job()
    segment = make_job(kind=Job.Kind.SEGMENT, status=Job.Status.PARTIAL, rejected=2)
    failed = make_job(kind=Job.Kind.SEGMENT, status=Job.Status.FAILED)

    listed = api_a.get("/api/v1/jobs/").json()["results"]
    assert [job["id"] for job in listed] == [failed.pk, segment.pk, batch.pk]

    by_kind = api_a.get("/api/v1/jobs/?kind=segment").json()["results"]
    assert [job["id"] for job in by_kind] == [failed.pk, segment.pk]
    by_both = api_a.get("/api/v1/jobs/?kind=segment&status=partial").json()["results"]
    assert [job["id"] for job in by_both] == [segment.pk]


def test_unknown_filter_values_are_refused_by_name(api_a: TenantClient, tenant_a: Tenant) -> None:
    response = api_a.get("/api/v1/jobs/?kind=nonsense&status=done")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"kind", "status"}


def test_the_job_list_is_cursor_paginated(api_a: TenantClient, tenant_a: Tenant) -> None:
    jobs = [make_job() for _ in range(5)]
    first = api_a.get("/api/v1/jobs/?page_size=2").json()
    assert [job["id"] for job in first["results"]] == [jobs[4].pk, jobs[3].pk]
    second = api_a.get(first["next"]).json()
    assert [job["id"] for job in second["results"]] == [jobs[2].pk, jobs[1].pk]


def test_read_only_keys_and_members_may_read_the_job_log(
    world: World, make_api_key: Callable[..., str], bob_client: TenantClient, tenant_a: Tenant
) -> None:
    job = make_job()
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, "read"))
    assert reader.get(f"/api/v1/jobs/{job.pk}/").status_code == 200
    assert bob_client.get("/api/v1/jobs/").status_code == 200


def test_anonymous_callers_cannot_read_jobs(client_a: TenantClient, tenant_a: Tenant) -> None:
    job = make_job()
    assert client_a.get(f"/api/v1/jobs/{job.pk}/").status_code == 401
    assert client_a.get("/api/v1/jobs/").status_code == 401


def test_another_tenants_job_is_not_found(
    world: World, charlie_client: TenantClient, make_api_key: Callable[..., str], db: None
) -> None:
    with schema_context(world.tenant_a.schema_name):
        job = make_job()
    assert charlie_client.get(f"/api/v1/jobs/{job.pk}/").status_code == 404
    assert job.pk not in [
        row["id"] for row in charlie_client.get("/api/v1/jobs/").json()["results"]
    ]
    key_b = TenantClient(world.tenant_b).use_api_key(make_api_key(world.tenant_b))
    assert key_b.get(f"/api/v1/jobs/{job.pk}/").status_code == 404


@pytest.mark.parametrize("job_id", ["0", "99999999999999999999999"])
def test_ids_that_cannot_exist_are_not_found(
    api_a: TenantClient, tenant_a: Tenant, job_id: str
) -> None:
    response = api_a.get(f"/api/v1/jobs/{job_id}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_import_jobs_link_to_their_rejected_rows(api_a: TenantClient, tenant_a: Tenant) -> None:
    job = make_job(kind=Job.Kind.CSV_IMPORT, status=Job.Status.PARTIAL, rejected=1)
    job.rejected_rows.name = "imports/rejected/2024/05/job.csv"
    job.errors = [{"row": 3, "field": "email", "message": "Enter a valid email address."}]
    job.save()

    body = api_a.get(f"/api/v1/jobs/{job.pk}/").json()

    assert body["rejected_rows_url"].endswith(f"/api/v1/imports/{job.pk}/rejected.csv")
    assert body["errors"] == [
        {"row": 3, "field": "email", "message": "Enter a valid email address."}
    ]
    assert api_a.get(f"/api/v1/jobs/{make_job().pk}/").json()["rejected_rows_url"] is None
