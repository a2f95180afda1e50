"""CSV imports: /api/v1/imports/ upload, the import task, rejected rows, idempotent re-uploads."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DEFAULT_DB_ALIAS, connections

from apps.accounts.models import Account, Contact, Lead, Opportunity, Subscription, UsageEvent
from apps.accounts.tests.rollup import assert_rollup_matches_events
from apps.integrations.imports import processing
from apps.integrations.imports.exports import csv_cell_neutralise
from apps.integrations.imports.services import csv_import_run
from apps.integrations.models import Job
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def csv_text(*rows: list[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def upload(
    client: TenantClient,
    content: str | bytes,
    *,
    entity: str = "accounts",
    mapping: dict[str, str] | str | None = None,
    dry_run: bool = False,
    **extra: Any,
) -> Any:
    data = content.encode() if isinstance(content, str) else content
    body: dict[str, Any] = {
        "file": SimpleUploadedFile("data.csv", data, content_type="text/csv"),
        "entity": entity,
        "dry_run": "true" if dry_run else "false",
        **extra,
    }
    if mapping is not None:
        body["mapping"] = mapping if isinstance(mapping, str) else orjson.dumps(mapping).decode()
    return client.post("/api/v1/imports/", body, format="multipart")


def run_import(response: Any, **options: Any) -> Job:
    assert response.status_code == 202, response.content
    job = csv_import_run(job_id=response.json()["id"], **options)
    assert job is not None
    return job


def rejected_rows(client: TenantClient, job: Job) -> list[list[str]]:
    response = client.get(f"/api/v1/imports/{job.pk}/rejected.csv")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text)))


ACCOUNTS = csv_text(
    ["external_id", "name", "segment", "lifecycle_stage"],
    ["A-1", "Acme", "smb", "adopting"],
    ["A-2", "Globex", "enterprise", "onboarding"],
    ["A-3", "Initech", "smb", "prospect"],
)


# --- upload validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "options", "field", "words"),
    [
        (ACCOUNTS, {"entity": "planets"}, "entity", "not a valid choice"),
        (ACCOUNTS, {"mapping": {"colour": "name"}}, "mapping", "Unknown field 'colour'"),
        (ACCOUNTS, {"mapping": {"name": "Company"}}, "mapping", "'Company' (mapped to name)"),
        (ACCOUNTS, {"mapping": "{not json"}, "mapping", "JSON object"),
        (ACCOUNTS, {"mapping": '["name"]'}, "mapping", "JSON object"),
        ("name,segment\nAcme,smb\n", {}, "file", "A column for external_id is required"),
        ("external_id,nmae\nA-1,Acme\n", {}, "file", "Unknown column 'nmae'"),
        ("external_id;name\nA-1;Acme\n", {}, "file", "separate columns with ';'"),
        ("external_id,name,name\nA-1,a,b\n", {}, "file", "names the column 'name' 2 times"),
        ("", {}, "file", "The file is empty"),
        ("external_id,name\n", {}, "file", "header but no rows"),
        ("external_id,name\n\n\n", {}, "file", "header but no rows"),
        ('"external_id,name\nA-1,Acme\n', {}, "file", "not valid CSV"),
        ("external_id,name\nA-1,Caf\xe9\n".encode("latin-1"), {}, "file", "not UTF-8"),
        (
            "id,name,occurred_at\n1,x,2024-01-01T00:00:00Z\n",
            {"entity": "events"},
            "file",
            "A column for account_external_id is required",
        ),
    ],
)
def test_an_unusable_upload_is_refused_at_once_naming_the_problem(
    api_a: TenantClient,
    tenant_a: Tenant,
    content: str | bytes,
    options: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = upload(api_a, content, **options)

    assert response.status_code == 400, response.content
    messages = " ".join(response.json()["error"]["fields"][field])
    assert words in messages
    assert not Job.objects.exists()


def test_an_upload_is_stored_in_the_tenants_folder_and_queued(
    api_a: TenantClient, tenant_a: Tenant, media_root: Path
) -> None:
    response = upload(api_a, ACCOUNTS, source_system="crm")

    assert response.status_code == 202
    body = response.json()
    assert body["kind"] == "csv_import"
    assert body["status"] == "queued"
    assert body["parameters"]["entity"] == "accounts"
    assert body["parameters"]["columns"] == {
        "external_id": "external_id",
        "name": "name",
        "segment": "segment",
        "lifecycle_stage": "lifecycle_stage",
    }
    assert body["rejected_rows_url"] == f"/api/v1/imports/{body['id']}/rejected.csv"
    job = Job.objects.get(pk=body["id"])
    assert len(job.content_sha256) == 64
    stored = media_root / str(job.upload.name)
    assert stored.read_text() == ACCOUNTS
    assert stored.parent.name == tenant_a.schema_name
    assert api_a.get(f"/api/v1/jobs/{job.pk}/").json()["status"] == "queued"


def test_a_read_only_key_cannot_upload_but_can_follow_an_import(
    api_a: TenantClient,
    tenant_a: Tenant,
    world: World,
    make_api_key: Callable[..., str],
) -> None:
    job = run_import(upload(api_a, ACCOUNTS))
    reader = TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a, "read"))

    assert upload(reader, ACCOUNTS).status_code == 403
    assert reader.get(f"/api/v1/imports/{job.pk}/").status_code == 200
    assert len(rejected_rows(reader, job)) == 1
    assert Job.objects.count() == 1


# --- running ------------------------------------------------------------------------------


def test_an_import_stores_good_rows_and_rejects_bad_ones_whole(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = csv_text(
        ["external_id", "name", "segment", "lifecycle_stage", "attributes"],
        ["A-1", "Acme", "smb", "adopting", '{"plan": "pro"}'],
        ["A-2", "Globex", "smb", "sleeping", "{}"],  # bad stage
        ["A-3", "", "smb", "adopting", ""],  # a new account needs a name
        ["A-4", "Hooli", "smb", "adopting", "[1, 2]"],  # attributes must be an object
        ["A-5", "Initech", "enterprise", "expanding", ""],
    )
    job = run_import(upload(api_a, content))

    assert (job.status, job.total, job.processed) == ("partial", 5, 5)
    assert (job.accepted, job.duplicates, job.rejected) == (2, 0, 3)
    assert set(Account.objects.values_list("external_id", flat=True)) == {"A-1", "A-5"}
    assert Account.objects.get(external_id="A-1").attributes == {"plan": "pro"}
    assert [(error["row"], error["field"]) for error in job.errors] == [
        (3, "lifecycle_stage"),
        (4, "name"),
        (5, "attributes"),
    ]
    assert "'sleeping' is not one of" in job.errors[0]["message"]
    assert job.errors[1]["message"] == "This field is required to create a record."
    body = api_a.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["progress"] == {"processed": 5, "total": 5, "percent": 100.0}
    assert body["parameters"]["result"]["summary"] == (
        "2 accounts created; 0 matched existing records by source_system and external_id and "
        "were updated; 3 rows rejected."
    )


@pytest.mark.parametrize(
    ("entity", "header", "good", "bad", "bad_column", "model"),
    [
        (
            "contacts",
            ["external_id", "account_external_id", "email", "persona"],
            ["C-1", "A-1", "ann@acme.test", "admin"],
            ["C-2", "A-404", "bob@acme.test", "admin"],
            "account_external_id",
            Contact,
        ),
        (
            "leads",
            ["external_id", "email", "lead_source", "status"],
            ["L-1", "ann@example.test", "webinar", "working"],
            ["L-2", "not an email", "webinar", "working"],
            "email",
            Lead,
        ),
        (
            "opportunities",
            ["external_id", "account_external_id", "name", "amount", "status", "close_date"],
            ["O-1", "A-1", "Renewal", "1200.50", "won", "2024-03-31"],
            ["O-2", "A-1", "Upsell", "lots", "open", "2024-03-31"],
            "amount",
            Opportunity,
        ),
        (
            "subscriptions",
            ["external_id", "account_external_id", "plan", "mrr", "period_start", "period_end"],
            ["S-1", "A-1", "pro", "99.00", "2024-01-01", ""],
            ["S-2", "A-1", "pro", "99.00", "2024-02-01", "2024-01-01"],
            "period_end",
            Subscription,
        ),
    ],
)
def test_records_of_every_kind_import_through_the_bulk_service(
    api_a: TenantClient,
    tenant_a: Tenant,
    entity: str,
    header: list[str],
    good: list[str],
    bad: list[str],
    bad_column: str,
    model: Any,
) -> None:
    Account.objects.create(name="Acme", external_id="A-1", currency=tenant_a.currency)

    job = run_import(upload(api_a, csv_text(header, good, bad), entity=entity))

    assert (job.status, job.accepted, job.rejected) == ("partial", 1, 1)
    assert list(model.objects.values_list("external_id", flat=True)) == [good[0]]
    assert job.errors[0]["row"] == 3
    assert job.errors[0]["field"] == bad_column


def test_a_mapping_reads_renamed_columns_and_ignores_the_rest(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = csv_text(
        ["Company ID", "Company", "segment", "Notes"],
        ["A-1", "Acme", "smb", "call back"],
    )
    response = upload(api_a, content, mapping={"external_id": "Company ID", "name": "Company"})
    assert response.json()["parameters"]["ignored_columns"] == ["Notes"]

    job = run_import(response)

    assert job.status == "succeeded"
    account = Account.objects.get(external_id="A-1")
    assert (account.name, account.segment) == ("Acme", "smb")


def test_with_a_mapping_unnamed_and_repeated_unused_columns_do_not_matter(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = csv_text(["Id", "Company", "", "Notes", "Notes"], ["A-1", "Acme", "x", "a", "b"])

    response = upload(api_a, content, mapping={"external_id": "Id", "name": "Company"})

    assert response.json()["parameters"]["ignored_columns"] == [
        "(column 3, unnamed)",
        "Notes",
        "Notes",
    ]
    assert run_import(response).accepted == 1


def test_a_file_saved_by_a_spreadsheet_with_a_byte_order_mark_imports(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = "\ufeffexternal_id,name\r\nA-1,Café\r\n".encode()

    job = run_import(upload(api_a, content))

    assert job.status == "succeeded"
    assert Account.objects.get(external_id="A-1").name == "Café"


def test_errors_name_the_files_own_column_headers(api_a: TenantClient, tenant_a: Tenant) -> None:
    content = csv_text(["Company ID", "Company", "Stage"], ["A-1", "Acme", "asleep"])
    mapping = {"external_id": "Company ID", "name": "Company", "lifecycle_stage": "Stage"}

    job = run_import(upload(api_a, content, mapping=mapping))

    assert job.errors[0]["row"] == 2
    assert job.errors[0]["field"] == "Stage"


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    Account.objects.create(name="Old name", external_id="A-1", currency=tenant_a.currency)
    content = csv_text(
        ["external_id", "name", "lifecycle_stage"],
        ["A-1", "Acme", "adopting"],
        ["A-2", "Globex", "adopting"],
        ["A-3", "Initech", "dormant"],
        ["A-2", "Globex Corp", "adopting"],  # updates the row above, even in a dry run
    )

    job = run_import(upload(api_a, content, dry_run=True))

    assert (job.status, job.processed, job.total) == ("partial", 4, 4)
    assert (job.accepted, job.duplicates, job.rejected) == (1, 2, 1)
    assert job.parameters["result"]["summary"].startswith("Dry run, nothing was written: ")
    assert list(Account.objects.values_list("external_id", "name")) == [("A-1", "Old name")]
    assert Account.objects.get().rescore_requested_at is None
    assert [row[0] for row in rejected_rows(api_a, job)[1:]] == ["4"]


def test_a_dry_run_of_events_stores_no_event_and_creates_no_account(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = csv_text(
        ["id", "account_external_id", "name", "occurred_at"],
        ["e1", "new-account", "login", "2024-05-01T12:00:00Z"],
        ["e2", "new-account", "login", "not a time"],
    )

    job = run_import(upload(api_a, content, entity="events", dry_run=True))

    assert (job.accepted, job.rejected) == (1, 1)
    assert not UsageEvent.objects.exists()
    assert not Account.objects.exists()


def test_events_import_with_their_id_as_idempotency_key(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = csv_text(
        [
            "id",
            "account_external_id",
            "contact_external_id",
            "name",
            "occurred_at",
            "value",
            "properties",
        ],
        ["e1", "acme", "u1", "report.exported", "2024-05-01T12:00:00Z", "2", '{"format": "pdf"}'],
        ["e2", "acme", "", "login", "2024-05-01T13:00:00+02:00", "", ""],
        ["e3", "acme", "", "login", "2024-05-01", "1", ""],  # no time zone
        ["e4", "acme", "", "login", "2024-05-01T12:00:00Z", "many", ""],
        ["e5", "acme", "", "", "2024-05-01T12:00:00Z", "1", "{"],  # two problems
        ["e1", "acme", "u1", "report.exported", "2024-05-01T12:00:00Z", "2", ""],  # repeat
    )

    job = run_import(upload(api_a, content, entity="events"))

    assert (job.accepted, job.duplicates, job.rejected, job.total) == (2, 1, 3, 6)
    first = UsageEvent.objects.get(idempotency_key="e1")
    assert first.contact is not None
    assert (first.value, first.properties, first.contact.external_id) == (
        2.0,
        {"format": "pdf"},
        "u1",
    )
    assert [(error["row"], error["field"]) for error in job.errors] == [
        (4, "occurred_at"),
        (5, "value"),
        (6, "properties"),
    ]
    rows = rejected_rows(api_a, job)
    assert [row[:2] for row in rows[1:]] == [
        ["4", "occurred_at"],
        ["5", "value"],
        ["6", "properties"],
    ]


def test_an_event_row_with_two_bad_cells_lists_both(api_a: TenantClient, tenant_a: Tenant) -> None:
    content = csv_text(
        ["id", "account_external_id", "name", "occurred_at"],
        ["e1", "acme", "", "yesterday"],
    )

    job = run_import(upload(api_a, content, entity="events"))

    assert job.status == "failed"
    assert [error["field"] for error in job.errors] == ["name", "occurred_at"]
    assert job.rejected == 1


def test_the_job_shows_progress_as_each_chunk_is_written(
    api_a: TenantClient, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    process = processing.RecordRows.process

    def observed(self: processing.RecordRows, chunk: Any) -> processing.ChunkOutcome:
        job = Job.objects.get()
        seen.append((job.processed, job.total))
        return process(self, chunk)

    monkeypatch.setattr(processing.RecordRows, "process", observed)
    rows = [["external_id", "name"], *[[f"A-{n}", f"Account {n}"] for n in range(5)]]

    job = run_import(upload(api_a, csv_text(*rows)), chunk_rows=2)

    assert seen == [(0, 5), (2, 5), (4, 5)]
    assert (job.processed, job.total, job.accepted) == (5, 5, 5)


def test_blank_lines_are_skipped_and_rows_keep_their_file_numbers(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = 'external_id,name\n\nA-1,"Acme\nInc"\n\nA-2,Globex,extra\n'

    job = run_import(upload(api_a, content))

    assert (job.total, job.accepted, job.rejected) == (2, 1, 1)
    assert Account.objects.get().name == "Acme\nInc"
    assert job.errors == [
        {"row": 5, "field": "", "message": "Has 3 cells; the header has 2 columns."}
    ]


def test_a_file_broken_halfway_imports_nothing(api_a: TenantClient, tenant_a: Tenant) -> None:
    rows = [["external_id", "name"], *[[f"A-{n}", "ok"] for n in range(10)]]
    content = csv_text(*rows) + 'A-99,"unclosed\n'

    job = run_import(upload(api_a, content), chunk_rows=3)

    assert job.status == "failed"
    assert job.errors[0]["row"] == 12
    assert "not valid CSV" in job.errors[0]["message"]
    assert not Account.objects.exists()
    response = api_a.get(f"/api/v1/imports/{job.pk}/rejected.csv")
    assert response.status_code == 404


# --- rejected rows -------------------------------------------------------------------------


def test_rejected_rows_download_with_row_column_message_and_neutralised_cells(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    content = csv_text(
        ["external_id", "name", "lifecycle_stage", "segment"],
        ["A-1", "Acme", "adopting", "smb"],
        ["A-2", '=HYPERLINK("http://evil.test")', "nope", "+1"],
        ["A-3", "@SUM(A1)", "adopting", "-2"],  # good: stored as given
        ["A-4", "\tTabbed", "nope", "ok"],
    )
    job = run_import(upload(api_a, content))

    rows = rejected_rows(api_a, job)

    assert rows[0] == [
        "row",
        "column",
        "message",
        "external_id",
        "name",
        "lifecycle_stage",
        "segment",
    ]
    assert rows[1][:2] == ["3", "lifecycle_stage"]
    assert rows[1][3:] == ["A-2", '\'=HYPERLINK("http://evil.test")', "nope", "'+1"]
    assert rows[2][:2] == ["5", "lifecycle_stage"]
    assert rows[2][4] == "'\tTabbed"
    assert len(rows) == 3
    assert Account.objects.get(external_id="A-3").name == "@SUM(A1)"


@pytest.mark.parametrize(
    ("cell", "exported"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
        (7, 7),
    ],
)
def test_exported_cells_that_a_spreadsheet_would_run_are_neutralised(
    cell: object, exported: object
) -> None:
    assert csv_cell_neutralise(cell) == exported


def test_rejected_rows_wait_until_the_import_finishes(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    job_id = upload(api_a, ACCOUNTS).json()["id"]

    response = api_a.get(f"/api/v1/imports/{job_id}/rejected.csv")

    assert response.status_code == 409
    assert "queued" in response.json()["error"]["message"]


# --- re-uploads and redelivery -------------------------------------------------------------


def test_uploading_the_same_accounts_again_updates_them_and_creates_no_duplicate(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    first = run_import(upload(api_a, ACCOUNTS))
    second = run_import(upload(api_a, ACCOUNTS))

    assert Account.objects.count() == 3
    assert (first.accepted, first.duplicates) == (3, 0)
    assert (second.status, second.accepted, second.duplicates) == ("succeeded", 0, 3)
    assert second.parameters["same_file_as_job"] == first.pk
    assert second.parameters["result"]["updated"] == 3
    assert f"imported before by job {first.pk}" in second.parameters["result"]["summary"]


def test_uploading_the_same_events_again_stores_none_twice(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    rows = [["id", "account_external_id", "name", "occurred_at"]]
    rows += [[f"e{n}", f"acct-{n % 3}", "login", "2024-05-01T12:00:00Z"] for n in range(20)]
    content = csv_text(*rows)

    first = run_import(upload(api_a, content, entity="events"), chunk_rows=7)
    second = run_import(upload(api_a, content, entity="events"), chunk_rows=7)

    assert UsageEvent.objects.count() == 20
    assert (first.accepted, first.duplicates) == (20, 0)
    assert (second.status, second.accepted, second.duplicates) == ("succeeded", 0, 20)
    assert "were already stored (same id)" in second.parameters["result"]["summary"]


def test_a_redelivered_task_for_a_finished_import_does_nothing(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    job = run_import(upload(api_a, ACCOUNTS))
    Account.objects.all().delete()

    assert csv_import_run(job_id=job.pk) is None

    assert not Account.objects.exists()
    job.refresh_from_db()
    assert (job.status, job.accepted) == ("succeeded", 3)


def test_a_task_leaves_an_import_alone_while_another_worker_holds_it(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    job_id = upload(api_a, ACCOUNTS).json()["id"]
    other_worker = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other_worker.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                [f"csv_import:{tenant_a.schema_name}:{job_id}"],
            )

        assert csv_import_run(job_id=job_id) is None
    finally:
        other_worker.close()

    assert Job.objects.get(pk=job_id).status == "queued"
    assert not Account.objects.exists()


def test_an_import_left_running_by_a_stopped_worker_is_run_again(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    job_id = upload(api_a, ACCOUNTS).json()["id"]
    Job.objects.filter(pk=job_id).update(status="running", processed=1, total=3, accepted=1)
    Account.objects.create(name="Acme", external_id="A-1", currency=tenant_a.currency)

    job = csv_import_run(job_id=job_id)

    assert job is not None
    assert (job.status, job.accepted, job.duplicates, job.processed) == ("succeeded", 2, 1, 3)
    assert Account.objects.count() == 3
    assert "run again from the start" in job.parameters["result"]["summary"]


# --- tenants -------------------------------------------------------------------------------


def test_another_tenant_can_neither_see_nor_download_an_import(
    api_a: TenantClient, tenant_a: Tenant, charlie_client: TenantClient
) -> None:
    job = run_import(upload(api_a, csv_text(["external_id", "name"], ["A-1", ""])))
    assert job.rejected == 1

    for path in (
        f"/api/v1/imports/{job.pk}/",
        f"/api/v1/imports/{job.pk}/rejected.csv",
        f"/api/v1/jobs/{job.pk}/",
    ):
        response = charlie_client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


# --- memory --------------------------------------------------------------------------------


def write_events_file(path: Path, rows: int) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "account_external_id", "name", "occurred_at", "value", "properties"])
        for n in range(rows):
            writer.writerow(
                [
                    f"evt-{n:08d}",
                    f"acct-{n % 500}",
                    ("login", "report.exported", "seat.added")[n % 3],
                    f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z",
                    str(n % 7),
                    f'{{"plan": "pro", "seats": {n % 40}}}',
                ]
            )


def test_a_large_event_file_imports_in_bounded_memory(
    api_a: TenantClient, tenant_a: Tenant, tmp_path: Path
) -> None:
    rows = 60_000
    path = tmp_path / "events.csv"
    write_events_file(path, rows)
    size = path.stat().st_size
    with path.open("rb") as file:
        response = api_a.post(
            "/api/v1/imports/", {"file": file, "entity": "events"}, format="multipart"
        )
    assert response.status_code == 202, response.content

    tracemalloc.start()
    try:
        job = csv_import_run(job_id=response.json()["id"], chunk_rows=250)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert job is not None
    assert (job.status, job.accepted, job.processed) == ("succeeded", rows, rows)
    # Reading the whole file into one string alone would take its size; holding its rows as
    # Python objects takes several times that. The import holds one chunk (250 rows) at a time
    # (measured: a peak of about 2 MB for this 5.6 MB file).
    assert peak < size, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_imported_events_are_counted_in_the_daily_rollup_once(
    api_a: TenantClient, tenant_a: Tenant
) -> None:
    rows = [["id", "account_external_id", "name", "occurred_at", "value"]]
    rows += [[f"e{n}", "acct-1", "login", "2024-05-01T12:00:00Z", "2"] for n in range(5)]
    content = csv_text(*rows)

    run_import(upload(api_a, content, entity="events"), chunk_rows=2)
    run_import(upload(api_a, content, entity="events"), chunk_rows=2)

    account = Account.objects.get(external_id="acct-1")
    assert assert_rollup_matches_events() == {(account.pk, date(2024, 5, 1), "login", 5, 10.0)}
