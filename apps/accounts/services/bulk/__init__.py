"""Bulk upsert of externally sourced records by (source_system, external_id).

`records_upsert_many` is the one entry point (the REST bulk endpoints and the CSV importer
call it). Each item is validated in Python against rules derived from the model fields plus
the record invariants in `rules.py`, checked against the stored row it would update (read
once, locked), and the valid items are written with one
`INSERT ... ON CONFLICT (source_system, external_id) DO UPDATE ... RETURNING` statement.

Contract:
- one `ItemResult` per item, in order: created, updated (the record exists and now matches the
  item, whether or not anything changed) or error with field messages;
- an item is written whole or not at all; a bad item never fails the others;
- an update changes only the fields the item names (fields it leaves out keep their values);
- the same (source_system, external_id) twice in one request: the first item is processed and
  every later one is an error naming the first (no "last one wins" guessing);
- related records are named by id (`account_id`) or by external id (`account_external_id`,
  looked up in `account_source_system`, default: the item's own source system). An account's
  parent may be another item of the same request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from apps.accounts.services.bulk.items import ItemResult
from apps.accounts.services.bulk.specs import (
    BULK_ENTITIES,
    SPECS,
    EntitySpec,
    Reference,
    bulk_item_fields,
    reference_keys,
)
from apps.accounts.services.bulk.validation import Batch
from apps.accounts.services.bulk.writing import batch_after_write, batch_write
from fullfield.errors import DomainError

BULK_MAX_ITEMS = 5000

__all__ = [
    "BULK_ENTITIES",
    "BULK_MAX_ITEMS",
    "SPECS",
    "EntitySpec",
    "ItemResult",
    "Reference",
    "bulk_item_fields",
    "records_upsert_many",
    "reference_keys",
]


def records_upsert_many(*, entity: str, items: Sequence[Mapping[str, Any]]) -> list[ItemResult]:
    """Create or update records by (source_system, external_id); one result per item."""
    spec = SPECS.get(entity)
    if spec is None:
        raise DomainError(
            f"Bulk upsert supports {', '.join(BULK_ENTITIES)}; not {entity!r}.",
            fields={"entity": [f"Unknown entity {entity!r}."]},
        )
    if len(items) > BULK_MAX_ITEMS:
        raise DomainError(
            f"At most {BULK_MAX_ITEMS} items per request.",
            fields={"items": [f"At most {BULK_MAX_ITEMS} items per request; got {len(items)}."]},
        )
    with transaction.atomic():
        batch = Batch(entity, spec, items)
        batch.validate()
        batch_write(batch)
        batch_after_write(batch)
    return batch.results()
