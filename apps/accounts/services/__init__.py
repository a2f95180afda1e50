"""Writes of the account record: single records (records.py), bulk upserts (bulk/),
subscription-term chains (subscriptions.py) and usage events with their rollup (usage.py)."""

from apps.accounts.services.bulk import (
    BULK_ENTITIES,
    BULK_MAX_ITEMS,
    ItemResult,
    bulk_item_fields,
    records_upsert_many,
)
from apps.accounts.services.records import (
    account_create,
    account_delete,
    account_update,
    accounts_touch,
    onboarding_plan_create,
    record_create,
    record_delete,
    record_update,
)
from apps.accounts.services.usage import (
    FieldNames,
    UsageEventsStored,
    usage_event_record,
    usage_events_store,
    usage_rollup_rebuild,
)

__all__ = [
    "BULK_ENTITIES",
    "BULK_MAX_ITEMS",
    "FieldNames",
    "ItemResult",
    "UsageEventsStored",
    "account_create",
    "account_delete",
    "account_update",
    "accounts_touch",
    "bulk_item_fields",
    "onboarding_plan_create",
    "record_create",
    "record_delete",
    "record_update",
    "records_upsert_many",
    "usage_event_record",
    "usage_events_store",
    "usage_rollup_rebuild",
]
