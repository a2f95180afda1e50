"""CSV import of 1,000,000 usage events: rows per second and peak memory.

fullfield benchmark csv_import

Generates the file on disk (deterministic), accepts it through the same service the upload
endpoint calls, and runs the import in this process through the same function the Celery task
calls, in a throwaway tenant that is deleted at the end. Peak memory is the process's peak
resident set size (ru_maxrss), shown next to what the process held before the import began.
BENCH_CSV_ROWS sets the number of rows.
"""

from __future__ import annotations

import csv
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.files.uploadedfile import UploadedFile  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from apps.accounts.models import UsageEvent  # noqa: E402
from apps.integrations.imports.services import csv_import_create, csv_import_run  # noqa: E402
from fullfield.tenancy.context import use_public_schema, use_tenant  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

ROWS = int(os.environ.get("BENCH_CSV_ROWS", "1000000"))
ACCOUNTS = 2_000
EVENT_NAMES = ("login", "report.exported", "seat.added", "dashboard.viewed", "api.called")


def write_events(path: Path, rows: int) -> None:
    """A realistic export: ids, an account, a contact on every third row, JSON properties."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(
            [
                "id",
                "account_external_id",
                "contact_external_id",
                "name",
                "occurred_at",
                "value",
                "properties",
            ]
        )
        for n in range(rows):
            account = n * 7919 % ACCOUNTS
            writer.writerow(
                [
                    f"evt-{n:09d}",
                    f"acct-{account:05d}",
                    f"user-{account:05d}-{n % 5}" if n % 3 == 0 else "",
                    EVENT_NAMES[n % len(EVENT_NAMES)],
                    f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:"
                    f"{n * 13 % 60:02d}Z",
                    n % 9,
                    f'{{"plan": "{("free", "pro", "enterprise")[n % 3]}", "seats": {n % 250}}}',
                ]
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    # Query logging (DEBUG) keeps every statement's text; a production worker does not.
    settings.DEBUG = False
    slug = f"bench{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory(prefix="csv-import-") as folder,
        override_settings(MEDIA_ROOT=str(Path(folder) / "media")),
    ):
        path = Path(folder) / "events.csv"
        write_events(path, ROWS)
        size = path.stat().st_size
        tenant = tenant_create(
            slug=slug, name="CSV import benchmark", admin_email=f"a@{slug}.test"
        ).tenant
        try:
            use_tenant(tenant)
            with path.open("rb") as file:
                upload = UploadedFile(file, name="events.csv", content_type="text/csv", size=size)
                job = csv_import_create(
                    upload=upload,
                    entity="events",
                    mapping=None,
                    dry_run=False,
                    source_system="bench",
                    api_key=None,
                    created_by_id=None,
                )
            before = peak_rss_mb()
            started = time.perf_counter()
            finished = csv_import_run(job_id=job.pk)
            elapsed = time.perf_counter() - started
            peak = peak_rss_mb()
            assert finished is not None, "the import did not run"
            stored = UsageEvent.objects.count()
            if finished.accepted != ROWS or stored != ROWS:
                raise SystemExit(
                    f"csv import: expected {ROWS:,} events, job says {finished.accepted:,} "
                    f"({finished.status}), table has {stored:,}: {finished.errors[:3]}"
                )
        finally:
            use_public_schema()
            tenant_delete(slug=slug)
    print(
        f"csv import: {ROWS:,} events ({size / 1024**2:.0f} MB) in {elapsed:.0f} s "
        f"({ROWS / elapsed:,.0f} rows/s), peak memory {peak:.0f} MB "
        f"(the process held {before:.0f} MB before the import)"
    )
    from benchmarks._report import report_row

    report_row(
        workload=f"CSV import, {ROWS:,} event rows",
        ours=ROWS / elapsed,
        unit="rows/s",
        reference_row="event ingest, API batch, 1 stream",
        goal=0.5,
        note=f"peak memory {peak:.0f} MB, {before:.0f} MB before",
    )


if __name__ == "__main__":
    main()
