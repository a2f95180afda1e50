"""CSV imports: accept an upload as a queued Job, then run it in chunks from a Celery task.

The run streams the stored file twice: once to count (and prove it is readable CSV, so a
broken file fails before anything is written), once to import. Each chunk of rows goes
through the same services as the REST API and batch ingest, in its own transaction that also
advances the job's progress, so `processed` never counts rows that were not written.

A dry run does the same work inside one transaction that is rolled back at the end, so its
counts are exactly what the import would do (a row that updates a record created earlier in
the file is counted as an update); its progress is written through a second connection,
because the job row must stay visible while that transaction is open.

Rows are imported in file order. Two rows with the same external id never share a chunk: the
later one updates what the earlier one wrote. Accounts whose parent appears in a later chunk
are rejected ("no account with ..."): put parents before their children.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Final

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.services import BULK_MAX_ITEMS
from apps.integrations.events import ImportFinished
from apps.integrations.imports.columns import RECORD_ENTITIES, ColumnPlan, column_plan
from apps.integrations.imports.exports import SafeCsvWriter
from apps.integrations.imports.processing import (
    ChunkOutcome,
    EventRows,
    RecordRows,
    Reject,
    RowProcessor,
)
from apps.integrations.imports.reading import (
    FileUnreadable,
    Row,
    csv_rows,
    is_blank,
    text_of,
    upload_inspect,
)
from apps.integrations.ingest.request_body import PayloadTooLarge
from apps.integrations.ingest.services import JOB_ERRORS_KEPT, job_status, retrying_deadlocks
from apps.integrations.models import ApiKey, Job
from fullfield.errors import DomainError
from fullfield.events import publish
from fullfield.tenancy.context import current_schema

logger = logging.getLogger(__name__)

IMPORT_TASK: Final = "integrations.csv_import_run"
CHUNK_ROWS: Final = BULK_MAX_ITEMS
MAX_UPLOAD_BYTES: Final = 1024 * 1024 * 1024
REJECTED_HEADER: Final = ("row", "column", "message")


# --- upload --------------------------------------------------------------------------------


def csv_import_create(
    *,
    upload: Any,
    entity: str,
    mapping: Mapping[str, str] | None,
    dry_run: bool,
    source_system: str | None,
    api_key: ApiKey | None,
    created_by_id: int | None,
    queue: str | None = None,
) -> Job:
    """Check the upload's encoding, header and mapping, store it and queue its import.

    `upload` is a Django UploadedFile. Raises DomainError (400) naming what is wrong, or
    PayloadTooLarge (413). The task is sent once the transaction commits (to `queue`, or the
    default queue).
    """
    size = upload.size or 0
    if size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"The file is {size:,} bytes; the limit is {MAX_UPLOAD_BYTES:,} bytes "
            f"({MAX_UPLOAD_BYTES // 1024**3} GB). Split it into smaller files."
        )
    if source_system is not None and not 1 <= len(source_system.strip()) <= 40:
        raise DomainError(
            "Invalid source_system.", fields={"source_system": ["1 to 40 characters."]}
        )
    facts = upload_inspect(upload)
    plan = column_plan(entity=entity, header=facts.header, mapping=mapping)
    previous = (
        Job.objects.filter(
            kind=Job.Kind.CSV_IMPORT,
            content_sha256=facts.sha256,
            parameters__entity=entity,
            parameters__dry_run=False,
        )
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    job = Job(
        kind=Job.Kind.CSV_IMPORT,
        status=Job.Status.QUEUED,
        api_key=api_key,
        created_by_id=created_by_id,
        content_sha256=facts.sha256,
        parameters={
            "entity": entity,
            "mapping": dict(mapping) if mapping is not None else None,
            "columns": plan.describe(),
            "ignored_columns": list(plan.ignored),
            "dry_run": dry_run,
            "source_system": source_system.strip() if source_system else None,
            "file_name": str(upload.name or "")[:200],
            "size_bytes": facts.size,
            "same_file_as_job": previous,
        },
    )
    # The tenant's schema names the folder, so no two tenants' files ever share one. The upload
    # itself is handed over, so a file Django spooled to disk is moved rather than copied.
    upload.seek(0)
    job.upload.save(f"{current_schema()}/{uuid.uuid4().hex}.csv", upload, save=False)
    with transaction.atomic():
        job.save()
        job_id = job.pk
        transaction.on_commit(lambda: csv_import_enqueue(job_id=job_id, queue=queue))
    return job


def csv_import_enqueue(*, job_id: int, queue: str | None = None) -> None:
    from fullfield.celery_app import app

    options: dict[str, Any] = {"queue": queue} if queue else {}
    app.send_task(IMPORT_TASK, args=[job_id], **options)


# --- run -----------------------------------------------------------------------------------


def csv_import_run(*, job_id: int, chunk_rows: int = CHUNK_ROWS) -> Job | None:
    """Run a queued import; None when there is nothing to do.

    Safe to call twice: the job is claimed with a conditional UPDATE (queued -> running) under
    a session advisory lock, so a redelivered message finds it running (lock held: another
    worker has it) or finished and does nothing. A job left running by a worker that died
    (lock free) is run again from the start; the rows it had written count as duplicates.
    """
    with _job_lock(job_id) as locked:
        if not locked:
            logger.info("csv import %s is being run by another worker", job_id)
            return None
        job = _claim(job_id)
        if job is None:
            return None
        return _Import(job, chunk_rows=chunk_rows).run()


@contextmanager
def _job_lock(job_id: int) -> Iterator[bool]:
    key = f"csv_import:{current_schema()}:{job_id}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        locked = bool(cursor.fetchone()[0])
    try:
        yield locked
    finally:
        if locked:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def _claim(job_id: int) -> Job | None:
    jobs = Job.objects.filter(pk=job_id, kind=Job.Kind.CSV_IMPORT)
    if jobs.filter(status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=timezone.now()
    ):
        return jobs.get()
    job = jobs.first()
    if job is None or job.status != Job.Status.RUNNING:
        return None  # finished (or unknown): a redelivered message changes nothing
    logger.warning("csv import %s was left running by a stopped worker; running it again", job_id)
    job.parameters["restarts"] = int(job.parameters.get("restarts", 0)) + 1
    job.processed = job.accepted = job.duplicates = job.rejected = 0
    job.errors = []
    job.save(
        update_fields=["parameters", "processed", "accepted", "duplicates", "rejected", "errors"]
    )
    return job


@dataclass
class _Tally:
    processed: int = 0
    created: int = 0
    existing: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, outcome: ChunkOutcome) -> None:
        outcome.rejects.sort(key=lambda reject: reject.row)  # stable: a row's problems keep order
        self.processed += outcome.rows
        self.created += outcome.created
        self.existing += outcome.existing
        self.rejected += outcome.rejected
        for reject in outcome.rejects:
            if len(self.errors) == JOB_ERRORS_KEPT:
                break
            self.errors.append(
                {"row": reject.row, "field": reject.column, "message": reject.message}
            )


class _Import:
    def __init__(self, job: Job, *, chunk_rows: int) -> None:
        self.job = job
        self.parameters: dict[str, Any] = dict(job.parameters)
        self.entity: str = self.parameters["entity"]
        self.dry_run = bool(self.parameters.get("dry_run"))
        self.chunk_rows = max(1, min(chunk_rows, BULK_MAX_ITEMS))
        self.tally = _Tally()
        self.last_row = 1

    # -- the stored file --

    @contextmanager
    def rows(self) -> Iterator[Iterator[Row]]:
        name = str(self.job.upload.name)
        with default_storage.open(name, "rb") as binary, text_of(binary) as text:
            yield csv_rows(text)

    def plan(self) -> ColumnPlan:
        with self.rows() as rows:
            header = next(rows, (1, []))[1]
        return column_plan(
            entity=self.entity, header=header, mapping=self.parameters.get("mapping")
        )

    def count(self) -> int:
        total = 0
        with self.rows() as rows:
            next(rows, None)
            for _number, cells in rows:
                if not is_blank(cells):
                    total += 1
        return total

    def chunks(self, processor: RowProcessor) -> Iterator[list[Row]]:
        with self.rows() as rows:
            next(rows, None)
            chunk: list[Row] = []
            keys: set[Hashable] = set()
            for number, cells in rows:
                if is_blank(cells):
                    continue
                key = processor.chunk_key(cells)
                if len(chunk) >= self.chunk_rows or (key is not None and key in keys):
                    yield chunk
                    chunk, keys = [], set()
                chunk.append((number, cells))
                if key is not None:
                    keys.add(key)
            if chunk:
                yield chunk

    # -- the run --

    def run(self) -> Job:
        started = time.monotonic()
        rejects = _RejectedRows()
        try:
            plan = self.plan()
            total = self.count()
            Job.objects.filter(pk=self.job.pk).update(total=total, processed=0)
            self.job.total = total
            processor = self.processor(plan)
            rejects.start(plan.header)
            if self.dry_run:
                self.run_dry(processor, rejects)
            else:
                self.run_for_real(processor, rejects)
            return self.finish(rejects, started=started)
        except FileUnreadable as unreadable:
            return self.fail(unreadable.message, row=unreadable.row, started=started)
        except Exception:
            logger.exception("csv import %s failed at row %s", self.job.pk, self.last_row)
            return self.fail(self.stopped_message(), row=self.last_row, started=started)
        finally:
            rejects.close()

    def processor(self, plan: ColumnPlan) -> RowProcessor:
        source_system = self.parameters.get("source_system")
        if self.entity in RECORD_ENTITIES:
            return RecordRows(plan, source_system=source_system)
        return EventRows(plan, source_system=source_system, now=timezone.now())

    def run_for_real(self, processor: RowProcessor, rejects: _RejectedRows) -> None:
        for chunk in self.chunks(processor):
            self.last_row = chunk[0][0]

            def write(chunk: list[Row] = chunk) -> ChunkOutcome:
                outcome = processor.process(chunk)
                Job.objects.filter(pk=self.job.pk).update(
                    processed=F("processed") + outcome.rows,
                    accepted=F("accepted") + outcome.created,
                    duplicates=F("duplicates") + outcome.existing,
                    rejected=F("rejected") + outcome.rejected,
                )
                return outcome

            outcome = retrying_deadlocks(write)
            self.tally.add(outcome)
            rejects.add(chunk, outcome.rejects)

    def run_dry(self, processor: RowProcessor, rejects: _RejectedRows) -> None:
        with _progress_elsewhere(self.job.pk) as report, transaction.atomic():
            for chunk in self.chunks(processor):
                self.last_row = chunk[0][0]
                outcome = processor.process(chunk)
                self.tally.add(outcome)
                rejects.add(chunk, outcome.rejects)
                report(self.tally)
            transaction.set_rollback(True)

    def stopped_message(self) -> str:
        if self.dry_run:
            return (
                f"The dry run stopped at row {self.last_row} because of an internal error "
                "(it is logged); nothing was written."
            )
        return (
            f"The import stopped at row {self.last_row} because of an internal error (it is "
            "logged). The rows before it were imported; upload the file again to finish: "
            "rows already imported are matched, not duplicated."
        )

    def fail(self, message: str, *, row: int, started: float) -> Job:
        job = self.job
        job.refresh_from_db(fields=["processed", "accepted", "duplicates", "rejected"])
        job.status = Job.Status.FAILED
        job.errors = [{"row": row, "field": "", "message": message}, *self.tally.errors][
            :JOB_ERRORS_KEPT
        ]
        job.finished_at = timezone.now()
        self.parameters["result"] = {
            "summary": message,
            "seconds": round(time.monotonic() - started, 3),
        }
        job.parameters = self.parameters
        if self.dry_run:
            job.processed = job.accepted = job.duplicates = job.rejected = 0
        job.save(
            update_fields=[
                "status",
                "errors",
                "finished_at",
                "parameters",
                "processed",
                "accepted",
                "duplicates",
                "rejected",
            ]
        )
        self.announce()
        return job

    def finish(self, rejects: _RejectedRows, *, started: float) -> Job:
        job, tally = self.job, self.tally
        seconds = time.monotonic() - started
        job.status = job_status(
            accepted=tally.created, duplicates=tally.existing, rejected=tally.rejected
        )
        job.processed = tally.processed
        job.accepted = tally.created
        job.duplicates = tally.existing
        job.rejected = tally.rejected
        job.errors = tally.errors
        job.finished_at = timezone.now()
        self.parameters["result"] = {
            "summary": self.summary(),
            "created": tally.created,
            "updated" if self.entity in RECORD_ENTITIES else "already_stored": tally.existing,
            "rejected": tally.rejected,
            "seconds": round(seconds, 3),
            "rows_per_second": round(tally.processed / seconds) if seconds > 0 else None,
        }
        job.parameters = self.parameters
        rejects.save_to(job)
        job.save()
        logger.info(
            "csv import %s %s: %s rows in %.1f s", job.pk, job.status, tally.processed, seconds
        )
        self.announce()
        return job

    def summary(self) -> str:
        tally, dry_run = self.tally, self.dry_run

        def verb(done: str, would: str) -> str:
            return would if dry_run else done

        if self.entity in RECORD_ENTITIES:
            parts = [
                f"{tally.created:,} {self.entity} {verb('created', 'would be created')}",
                f"{tally.existing:,} "
                + verb(
                    "matched existing records by source_system and external_id and were updated",
                    "match existing records by source_system and external_id and would be updated",
                ),
            ]
        else:
            parts = [
                f"{tally.created:,} events {verb('stored', 'would be stored')}",
                f"{tally.existing:,} "
                + verb(
                    "were already stored (same id) and were skipped",
                    "are already stored (same id) and would be skipped",
                ),
            ]
        parts.append(f"{tally.rejected:,} rows rejected")
        text = "; ".join(parts) + "."
        if dry_run:
            text = "Dry run, nothing was written: " + text
        previous = self.parameters.get("same_file_as_job")
        if previous:
            text += f" The same file was imported before by job {previous}."
        if self.parameters.get("restarts"):
            text += (
                " The worker running this import stopped, so it was run again from the start;"
                " rows it had written count as already existing."
            )
        return text

    def announce(self) -> None:
        if self.dry_run:
            return  # subscribers hear about data that changed; a dry run changes none
        job = self.job
        publish(
            ImportFinished(
                job_id=job.pk,
                entity=self.entity,
                status=job.status,
                total=job.total,
                accepted=job.accepted,
                rejected=job.rejected,
            )
        )


class _RejectedRows:
    """The rejected rows as CSV, spooled to a temporary file: one line per problem."""

    def __init__(self) -> None:
        self.binary: IO[bytes] | None = None
        self.text: io.TextIOWrapper | None = None
        self.writer: SafeCsvWriter | None = None
        self.width = 0

    def start(self, header: tuple[str, ...]) -> None:
        self.binary = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        # With a byte-order mark, spreadsheet programs read the file as UTF-8.
        self.text = io.TextIOWrapper(self.binary, encoding="utf-8-sig", newline="")
        self.writer = SafeCsvWriter(self.text)
        self.writer.writerow([*REJECTED_HEADER, *header])
        self.width = len(header)

    def add(self, chunk: list[Row], rejects: list[Reject]) -> None:
        """Write the problems of one chunk, in row order (the tally sorted them)."""
        if not rejects or self.writer is None:
            return
        cells_of = dict(chunk)
        for reject in rejects:
            cells = cells_of.get(reject.row, [])
            self.writer.writerow([reject.row, reject.column, reject.message, *cells])

    def save_to(self, job: Job) -> None:
        if self.text is None or self.binary is None:
            return
        self.text.flush()
        self.binary.seek(0)
        job.rejected_rows.save(
            f"{current_schema()}/rejected-{job.pk}-{uuid.uuid4().hex[:8]}.csv",
            File(self.binary),
            save=False,
        )

    def close(self) -> None:
        if self.text is not None:
            self.text.close()  # closes the temporary file under it too
        self.text = self.binary = self.writer = None


@contextmanager
def _progress_elsewhere(job_id: int) -> Iterator[Callable[[_Tally], None]]:
    """Report progress through a second connection, outside the caller's open transaction."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    other.set_schema(current_schema())  # type: ignore[attr-defined]
    table = Job._meta.db_table

    def report(tally: _Tally) -> None:
        with other.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET processed = %s, accepted = %s, duplicates = %s, "  # noqa: S608
                "rejected = %s WHERE id = %s AND processed <= %s",
                [
                    tally.processed,
                    tally.created,
                    tally.existing,
                    tally.rejected,
                    job_id,
                    tally.processed,
                ],
            )

    try:
        yield report
    finally:
        other.close()
