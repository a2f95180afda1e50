"""Writing a validated bulk request: one INSERT ... ON CONFLICT DO UPDATE for all its items."""

from __future__ import annotations

import decimal
from typing import Any

import orjson
from django.db import DatabaseError, connection, transaction

from apps.accounts.models import Subscription
from apps.accounts.services.bulk.items import Item
from apps.accounts.services.bulk.validation import Batch
from apps.accounts.services.records import accounts_touch
from apps.accounts.services.revenue import revenue_terms_changed


def batch_write(batch: Batch) -> None:
    pending = [item for item in batch.valid() if item.changed]
    if not pending:
        return
    try:
        with transaction.atomic():
            _upsert(batch, pending)
    except DatabaseError:
        # Validation should have caught every constraint; if the database still refuses
        # (a concurrent write, a rule not mirrored here), find the items it refuses one
        # by one so that the others are still written.
        _write_one_by_one(batch, pending)


def batch_after_write(batch: Batch) -> None:
    """Announce what the entity announces and mark the accounts whose scores it feeds."""
    written = [item for item in batch.valid() if item.changed and item.id is not None]
    spec = batch.spec
    if spec.after_write is not None:
        spec.after_write(written)
    column = spec.scored_through
    if column is None:
        return
    touched: set[int | None] = set()
    for item in written:
        touched.add(item.merged[column])
        if item.existing is not None:
            touched.add(item.existing[column])
    accounts_touch(account_ids=touched)
    if spec.model is Subscription:
        revenue_terms_changed(account_ids=touched)


def _write_one_by_one(batch: Batch, pending: list[Item]) -> None:
    for item in pending:
        item.id, item.created = (item.existing["id"] if item.existing else None), False
    by_key = batch.first_item_by_key()
    remaining = pending
    while remaining:
        waiting: list[Item] = []
        for item in remaining:
            parent = by_key.get(item.parent_key_in_batch) if item.parent_key_in_batch else None
            if parent is not None and parent.id is None:
                if parent.ok:
                    waiting.append(item)  # its parent comes later in the request
                else:
                    item.error(item.references["parent"].field, "The parent was not saved.")
                continue
            try:
                with transaction.atomic():
                    _upsert(batch, [item])
            except DatabaseError as error:
                item.id, item.created = (item.existing["id"] if item.existing else None), False
                diag = getattr(error.__cause__, "diag", None)
                reason = getattr(diag, "constraint_name", None) or str(error).splitlines()[0]
                item.error("non_field_errors", f"The database refused this item: {reason}.")
        if len(waiting) == len(remaining):
            for item in waiting:
                item.error(item.references["parent"].field, "The parent was not saved.")
            return
        remaining = waiting


def _upsert(batch: Batch, pending: list[Item]) -> None:
    spec = batch.spec
    fields = [
        field
        for field in spec.model._meta.concrete_fields
        if not field.primary_key and field.attname not in {"created_at", "updated_at"}
    ]
    columns = [field.attname for field in fields]
    writable = [*spec.columns, *(f"{ref.name}_id" for ref in spec.references)]
    if spec.has_owner:
        writable.append("owner_id")
    definitions = ", ".join(f'"{field.attname}" {field.db_type(connection)}' for field in fields)
    column_list = ", ".join(f'"{name}"' for name in columns)
    assignments = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in writable)
    rows = [{name: item.merged[name] for name in columns} for item in pending]
    for item, row in zip(pending, rows, strict=True):
        if item.parent_key_in_batch is not None:
            row["parent_id"] = None  # set once the parent's id is known
    document = orjson.dumps(rows, default=_json_default).decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {batch.table} ({column_list}, "created_at", "updated_at")
            SELECT {column_list}, now(), now()
            FROM jsonb_to_recordset(%s::jsonb) AS r({definitions})
            ON CONFLICT (source_system, external_id) DO UPDATE
            SET {assignments}, "updated_at" = EXCLUDED."updated_at"
            RETURNING id, source_system, external_id, (xmax = 0) AS created
            """,  # noqa: S608 - identifiers come from the model, values are parameters
            [document],
        )
        written = {(system, external): (pk, created) for pk, system, external, created in cursor}
    for item in pending:
        assert item.key is not None
        item.id, item.created = written[item.key]
    if spec.hierarchy:
        _link_parents_in_batch(batch, pending)


def _link_parents_in_batch(batch: Batch, pending: list[Item]) -> None:
    ids_by_key = {item.key: item.id for item in batch.items if item.id is not None}
    links = [
        (item.id, ids_by_key[item.parent_key_in_batch])
        for item in pending
        if item.parent_key_in_batch is not None
    ]
    if not links:
        return
    children, parents = zip(*links, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {batch.table} a SET parent_id = v.parent_id
            FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, parent_id)
            WHERE a.id = v.id
            """,  # noqa: S608 - the table name is the model's, never input
            [list(children), list(parents)],
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")
