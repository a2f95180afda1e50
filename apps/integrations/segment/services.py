"""Applying Segment calls: group -> accounts, identify -> contacts, track/page/screen -> events.

Within one request the calls apply in that order (whatever their order in the batch), so a
track call can rely on the group and identify calls sent with it. Accounts and contacts are
written through the account record's bulk upsert (one statement per entity), events through
the batch ingest path; all of a request commits together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.db import connection

from apps.accounts.models import Account, Contact
from apps.accounts.services import (
    BULK_MAX_ITEMS,
    FieldNames,
    ItemResult,
    UsageEventsStored,
    records_upsert_many,
    usage_events_store,
)
from apps.integrations.ingest.services import ingest_job_record, retrying_deadlocks
from apps.integrations.ingest.validation import IngestError
from apps.integrations.models import ApiKey, Job
from apps.integrations.segment.messages import (
    SOURCE_SYSTEM,
    GroupCall,
    IdentifyCall,
    SegmentEvent,
    message_read,
)
from fullfield.tenancy.context import current_tenant

_REFUSED: Final = "this workspace does not create accounts or contacts from ingested data"
_ACCOUNT_FIELDS: Final = {"name": "traits.name", "industry": "traits.industry"}
_CONTACT_FIELDS: Final = {
    "email": "traits.email",
    "name": "traits.name",
    "title": "traits.title",
    "account_external_id": "context.groupId",
}


@dataclass
class SegmentOutcome:
    total: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: list[IngestError] = field(default_factory=list)
    # What the track/page/screen calls stored: conflicts, and records created on the way.
    events: UsageEventsStored = field(default_factory=UsageEventsStored)

    @property
    def rejected(self) -> int:
        return len({error["index"] for error in self.errors})

    def reject(self, positions: Iterable[int], field_name: str, message: str) -> None:
        self.errors.extend(
            IngestError(index=position, field=field_name, message=message) for position in positions
        )


@dataclass
class SegmentResult:
    job: Job
    outcome: SegmentOutcome


def segment_messages_ingest(
    *,
    messages: Sequence[Any],
    kind: str | None,
    shared_context: dict[str, Any],
    started_at: datetime,
    endpoint: str,
    body_bytes: int,
    api_key: ApiKey | None,
    created_by_id: int | None,
) -> SegmentResult:
    """Apply Segment calls and record them as one `segment` Job, in one transaction."""
    groups: list[GroupCall] = []
    identifies: list[IdentifyCall] = []
    events: list[SegmentEvent] = []
    positions: list[int] = []
    invalid: list[IngestError] = []
    for position, raw in enumerate(messages):
        call, problems = message_read(
            raw, position=position, kind=kind, shared_context=shared_context, now=started_at
        )
        invalid.extend(
            IngestError(index=position, field=name, message=message) for name, message in problems
        )
        if isinstance(call, GroupCall):
            groups.append(call)
        elif isinstance(call, IdentifyCall):
            identifies.append(call)
        elif isinstance(call, SegmentEvent):
            events.append(call)
            positions.append(position)

    def work() -> SegmentResult:
        outcome = SegmentOutcome(total=len(messages), errors=list(invalid))
        _apply(outcome, groups=groups, identifies=identifies, events=events, positions=positions)
        outcome.errors.sort(key=lambda error: error["index"])
        job = ingest_job_record(
            kind=Job.Kind.SEGMENT,
            total=outcome.total,
            accepted=outcome.accepted,
            duplicates=outcome.duplicates,
            rejected=outcome.rejected,
            errors=outcome.errors,
            parameters={"endpoint": endpoint, "body_bytes": body_bytes},
            started_at=started_at,
            api_key=api_key,
            created_by_id=created_by_id,
            stored=outcome.events,
        )
        return SegmentResult(job=job, outcome=outcome)

    return retrying_deadlocks(work)


def _apply(
    outcome: SegmentOutcome,
    *,
    groups: list[GroupCall],
    identifies: list[IdentifyCall],
    events: list[SegmentEvent],
    positions: list[int],
) -> None:
    create_unknown = current_tenant().ingest_creates_unknown_accounts
    user_ids = {call.user_id for call in identifies} | {c.user_id for c in groups if c.user_id}
    known_contacts = _existing(Contact, user_ids)
    if not create_unknown:
        # A group call linking an unknown user would be half applied; refuse it whole.
        for call in groups:
            if call.user_id and call.user_id not in known_contacts:
                outcome.reject(
                    [call.position],
                    "userId",
                    f"No contact with userId '{call.user_id}'; {_REFUSED}.",
                )
    failed = {error["index"] for error in outcome.errors}
    groups = [call for call in groups if call.position not in failed]

    accounts_ok = _apply_groups(outcome, groups, identifies, create_unknown=create_unknown)
    _apply_identifies(
        outcome,
        identifies,
        [call for call in groups if call.group_id in accounts_ok],
        known_contacts,
        create_unknown=create_unknown,
    )
    failed = {error["index"] for error in outcome.errors}
    applied = {call.position for call in groups} | {call.position for call in identifies}
    outcome.accepted += len(applied - failed)

    ingested = usage_events_store(
        events=events,
        positions=positions,
        source_system=SOURCE_SYSTEM,
        field_names=FieldNames(account="context.groupId", contact="userId"),
    )
    outcome.accepted += ingested.accepted
    outcome.duplicates += ingested.duplicates
    outcome.errors.extend(ingested.errors)
    outcome.events = ingested


def _existing(model: type[Account] | type[Contact], external_ids: set[str]) -> set[str]:
    if not external_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id FROM {model._meta.db_table} "  # noqa: S608  (table name)
            "WHERE source_system = %s AND external_id = ANY(%s)",
            [SOURCE_SYSTEM, sorted(external_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


def _stored_attributes(external_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    rows = Account.objects.filter(
        source_system=SOURCE_SYSTEM, external_id__in=list(external_ids)
    ).values_list("external_id", "attributes")
    return {external_id: attributes or {} for external_id, attributes in rows if external_id}


def _apply_groups(
    outcome: SegmentOutcome,
    groups: list[GroupCall],
    identifies: list[IdentifyCall],
    *,
    create_unknown: bool,
) -> set[str]:
    """Upsert the accounts named by group calls (and create those identify calls name).

    Returns the external ids of the accounts that exist afterwards.
    """
    merged: dict[str, dict[str, Any]] = {}
    attributes: dict[str, dict[str, Any]] = {}
    callers: dict[str, list[int]] = {}
    for call in groups:
        merged.setdefault(call.group_id, {}).update(call.account)
        attributes.setdefault(call.group_id, {}).update(call.attributes)
        callers.setdefault(call.group_id, []).append(call.position)
    wanted = set(merged) | {call.account_external_id for call in identifies} - {None}
    existing = _existing(Account, wanted)  # type: ignore[arg-type]
    stored_attributes = _stored_attributes(existing & set(attributes))

    items: list[dict[str, Any]] = []
    for group_id, fields in merged.items():
        if group_id not in existing and not create_unknown:
            outcome.reject(
                callers[group_id], "groupId", f"No account with groupId '{group_id}'; {_REFUSED}."
            )
            continue
        item = {"source_system": SOURCE_SYSTEM, "external_id": group_id, **fields}
        if group_id not in existing:
            item.setdefault("name", group_id)
        if attributes[group_id]:
            item["attributes"] = {**stored_attributes.get(group_id, {}), **attributes[group_id]}
        items.append(item)
    new_from_identify: dict[str, str] = {}
    for identify in identifies:
        account = identify.account_external_id
        if account is None or account in existing or account in merged:
            continue
        if create_unknown:
            new_from_identify.setdefault(account, identify.company_name or account)
    items.extend(
        {"source_system": SOURCE_SYSTEM, "external_id": account, "name": name}
        for account, name in new_from_identify.items()
    )
    written = set(existing)
    for item, result in _upsert("accounts", items):
        key = item["external_id"]
        if result.status == "error":
            for name, messages in result.errors.items():
                outcome.reject(
                    callers.get(key, []), _ACCOUNT_FIELDS.get(name, f"traits.{name}"), messages[0]
                )
        else:
            written.add(key)
    return written


def _apply_identifies(
    outcome: SegmentOutcome,
    identifies: list[IdentifyCall],
    groups: list[GroupCall],
    known_contacts: set[str],
    *,
    create_unknown: bool,
) -> None:
    merged: dict[str, dict[str, Any]] = {}
    callers: dict[str, list[int]] = {}
    for identify in identifies:
        item = merged.setdefault(identify.user_id, {})
        item.update(identify.contact)
        if identify.account_external_id is not None:
            item["account_external_id"] = identify.account_external_id
        callers.setdefault(identify.user_id, []).append(identify.position)
    for group in groups:
        if group.user_id:
            merged.setdefault(group.user_id, {})["account_external_id"] = group.group_id
            callers.setdefault(group.user_id, []).append(group.position)

    items: list[dict[str, Any]] = []
    for user_id, fields in merged.items():
        if user_id not in known_contacts:
            if not create_unknown:
                outcome.reject(
                    callers[user_id], "userId", f"No contact with userId '{user_id}'; {_REFUSED}."
                )
                continue
            if "account_external_id" not in fields:
                outcome.reject(
                    callers[user_id],
                    "context.groupId",
                    "A new user needs an account: send context.groupId or traits.company.id, "
                    "or a group call with this userId.",
                )
                continue
        item = {"source_system": SOURCE_SYSTEM, "external_id": user_id, **fields}
        if "account_external_id" in item:
            item["account_source_system"] = SOURCE_SYSTEM
        items.append(item)
    for item, result in _upsert("contacts", items):
        for name, messages in result.errors.items():
            outcome.reject(
                callers[item["external_id"]], _CONTACT_FIELDS.get(name, name), messages[0]
            )


def _upsert(entity: str, items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], ItemResult]]:
    # Sorted by external id so concurrent requests lock shared rows in the same order.
    items = sorted(items, key=lambda item: item["external_id"])
    paired: list[tuple[dict[str, Any], ItemResult]] = []
    for start in range(0, len(items), BULK_MAX_ITEMS):
        chunk = items[start : start + BULK_MAX_ITEMS]
        paired.extend(zip(chunk, records_upsert_many(entity=entity, items=chunk), strict=True))
    return paired
