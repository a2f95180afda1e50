"""Recording ingest requests: each batch is stored through the accounts app's one event writer
(apps.accounts.services.usage_events_store) and recorded as a Job, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from django.db import OperationalError, transaction
from django.utils import timezone
from psycopg import errors as pg_errors

from apps.accounts.services import UsageEventsStored, usage_events_store
from apps.integrations.ingest.validation import DecodedBatch, IngestError
from apps.integrations.models import ApiKey, Job

logger = logging.getLogger(__name__)

JOB_ERRORS_KEPT: Final = 100
_DEADLOCK_ATTEMPTS: Final = 3

T = TypeVar("T")


def retrying_deadlocks(work: Callable[[], T]) -> T:
    """Run `work` in a transaction, again if PostgreSQL broke a deadlock by aborting it."""
    for attempt in range(1, _DEADLOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return work()
        except OperationalError as error:
            if attempt == _DEADLOCK_ATTEMPTS or not isinstance(
                error.__cause__, pg_errors.DeadlockDetected
            ):
                raise
            logger.warning("ingest transaction deadlocked (attempt %s); retrying", attempt)
    raise AssertionError("unreachable")


def job_status(*, accepted: int, duplicates: int, rejected: int, conflicts: int = 0) -> str:
    if not rejected:
        return Job.Status.SUCCEEDED
    return Job.Status.PARTIAL if accepted or duplicates or conflicts else Job.Status.FAILED


def created_summary(
    *, accounts: Sequence[str], contacts: Sequence[str], kept: int | None = None
) -> dict[str, dict[str, Any]]:
    """The accounts and contacts a request created: count and external ids (the first `kept`)."""
    return {
        "accounts": {"count": len(accounts), "external_ids": list(accounts[:kept])},
        "contacts": {"count": len(contacts), "external_ids": list(contacts[:kept])},
    }


def ingest_job_record(
    *,
    kind: str,
    total: int,
    accepted: int,
    duplicates: int,
    rejected: int,
    errors: Iterable[IngestError],
    parameters: dict[str, Any],
    started_at: datetime,
    api_key: ApiKey | None,
    created_by_id: int | None,
    stored: UsageEventsStored | None = None,
) -> Job:
    """Record a finished ingest request; `stored` adds the conflicts and created records."""
    stored = stored or UsageEventsStored()
    kept: list[dict[str, Any]] = []
    for error in errors:
        if len(kept) == JOB_ERRORS_KEPT:
            break
        kept.append(dict(error))
    return Job.objects.create(
        kind=kind,
        status=job_status(
            accepted=accepted,
            duplicates=duplicates,
            rejected=rejected,
            conflicts=len(stored.conflicts),
        ),
        api_key=api_key,
        created_by_id=created_by_id,
        total=total,
        processed=total,
        accepted=accepted,
        duplicates=duplicates,
        rejected=rejected,
        conflicts=len(stored.conflicts),
        conflict_indexes=stored.conflicts[:JOB_ERRORS_KEPT],
        created_records=created_summary(
            accounts=stored.accounts_created,
            contacts=stored.contacts_created,
            kept=JOB_ERRORS_KEPT,
        ),
        errors=kept,
        parameters=parameters,
        started_at=started_at,
        finished_at=timezone.now(),
    )


@dataclass(frozen=True)
class BatchResult:
    job: Job
    outcome: UsageEventsStored


def event_batch_ingest(
    *,
    batch: DecodedBatch,
    started_at: datetime,
    body_bytes: int,
    api_key: ApiKey | None,
    created_by_id: int | None,
) -> BatchResult:
    """Store a decoded batch and record it as an event_batch Job, in one transaction."""

    def work() -> BatchResult:
        outcome = usage_events_store(
            events=batch.events, positions=batch.positions, source_system=batch.source_system
        )
        errors = sorted([*batch.errors, *outcome.errors], key=lambda error: error["index"])
        outcome.errors = errors
        outcome.rejected = batch.total - len(batch.events) + outcome.rejected
        job = ingest_job_record(
            kind=Job.Kind.EVENT_BATCH,
            total=batch.total,
            accepted=outcome.accepted,
            duplicates=outcome.duplicates,
            rejected=outcome.rejected,
            errors=errors,
            parameters={"source_system": batch.source_system, "body_bytes": body_bytes},
            started_at=started_at,
            api_key=api_key,
            created_by_id=created_by_id,
            stored=outcome,
        )
        return BatchResult(job=job, outcome=outcome)

    return retrying_deadlocks(work)
