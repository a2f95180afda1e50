"""Writes of the account record: single records (records.py) and bulk upserts (bulk.py)."""

from apps.accounts.services.bulk import (
    BULK_ENTITIES,
    BULK_MAX_ITEMS,
    ItemResult,
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
    usage_event_record,
)

__all__ = [
    "BULK_ENTITIES",
    "BULK_MAX_ITEMS",
    "ItemResult",
    "account_create",
    "account_delete",
    "account_update",
    "accounts_touch",
    "onboarding_plan_create",
    "record_create",
    "record_delete",
    "record_update",
    "records_upsert_many",
    "usage_event_record",
]
