"""What can be bulk upserted: one spec per entity, with the hooks where entities differ."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import models

from apps.accounts.models import Account, Contact, Lead, Opportunity, Subscription
from apps.accounts.services import rules
from apps.accounts.services.bulk.items import FieldErrors, Item
from apps.accounts.services.bulk.parsing import Parser, parser_for
from apps.accounts.services.records import accounts_touch, lifecycle_stage_changed


@dataclasses.dataclass(frozen=True)
class Reference:
    """A related account, named in an item by `<name>_id` or `<name>_external_id`."""

    name: str
    required: bool
    # Accounts may name another item of the same request as their parent.
    within_batch: bool = False


@dataclasses.dataclass(frozen=True)
class EntitySpec:
    model: type[models.Model]
    columns: tuple[str, ...]
    references: tuple[Reference, ...]
    has_owner: bool = False
    # Where entities differ, a hook here rather than a branch on the model in the batch code:
    # parents may be items of the same request, and loops are refused (accounts);
    hierarchy: bool = False
    # values derived from the merged record (a lead's converted_at), and the fields it sets;
    normalise: Callable[[dict[str, Any]], None] | None = None
    derived: tuple[str, ...] = ()
    # the column naming the account whose scores the record feeds (None: feeds none);
    scored_through: str | None = "account_id"
    # what to announce once the items are written.
    after_write: Callable[[Sequence[Item]], None] | None = None

    def check(self, values: Mapping[str, Any]) -> FieldErrors:
        return rules.record_check(self.model, values)

    @property
    def fields(self) -> dict[str, models.Field[Any, Any]]:
        return {name: self.model._meta.get_field(name) for name in self.columns}  # type: ignore[misc]

    def read_only_names(self) -> frozenset[str]:
        names = {"id", "created_at", "updated_at"}
        for field in self.model._meta.concrete_fields:
            names.update({field.name, field.attname})
        return frozenset(names) - set(self.columns) - {"source_system", "external_id"}

    def record_fields(self) -> tuple[str, ...]:
        """The record's fields an item sets (a reference and the owner by the field's name):
        what the REST API's serializer of the record makes writable, in this order."""
        owner = ("owner",) if self.has_owner else ()
        references = tuple(reference.name for reference in self.references)
        return ("source_system", "external_id", *references, *self.columns, *owner)

    def item_keys(self) -> frozenset[str]:
        keys = {"source_system", "external_id", *self.columns}
        for reference in self.references:
            keys.update(reference_keys(reference.name))
        if self.has_owner:
            keys.update({"owner_id", "owner_email"})
        return frozenset(keys)


def reference_keys(name: str) -> tuple[str, str, str]:
    return f"{name}_id", f"{name}_external_id", f"{name}_source_system"


def _accounts_written(written: Sequence[Item]) -> None:
    for item in written:
        previous = item.existing["lifecycle_stage"] if item.existing else None
        stage = item.merged["lifecycle_stage"]
        if previous is not None and previous != stage:
            assert item.id is not None
            lifecycle_stage_changed(account_id=item.id, previous_stage=previous, stage=stage)
    # New accounts are due for their first score.
    accounts_touch(account_ids=[item.id for item in written if item.created])


def _lead_normalise(merged: dict[str, Any]) -> None:
    merged["converted_at"] = rules.lead_converted_at(merged["status"], merged["converted_at"])


ACCOUNT_COLUMNS = (
    "name",
    "domain",
    "industry",
    "region",
    "segment",
    "tier",
    "lifecycle_stage",
    "currency",
    "attributes",
)

SPECS: dict[str, EntitySpec] = {
    "accounts": EntitySpec(
        model=Account,
        columns=ACCOUNT_COLUMNS,
        references=(Reference("parent", required=False, within_batch=True),),
        has_owner=True,
        hierarchy=True,
        scored_through=None,
        after_write=_accounts_written,
    ),
    "contacts": EntitySpec(
        model=Contact,
        columns=("email", "name", "title", "persona", "is_champion"),
        references=(Reference("account", required=True),),
        scored_through=None,
    ),
    "leads": EntitySpec(
        model=Lead,
        columns=("email", "name", "company", "lead_source", "campaign", "status", "converted_at"),
        references=(Reference("converted_account", required=False),),
        normalise=_lead_normalise,
        derived=("converted_at",),
        scored_through="converted_account_id",
    ),
    "opportunities": EntitySpec(
        model=Opportunity,
        columns=(
            "name",
            "kind",
            "stage",
            "status",
            "amount",
            "currency",
            "close_date",
            "loss_reason",
        ),
        references=(Reference("account", required=True),),
    ),
    "subscriptions": EntitySpec(
        model=Subscription,
        columns=(
            "plan",
            "mrr",
            "quantity",
            "currency",
            "period_start",
            "period_end",
            "status",
            "change_kind",
        ),
        references=(Reference("account", required=True),),
    ),
}
BULK_ENTITIES = tuple(SPECS)


def bulk_item_fields(entity: str) -> tuple[str, ...]:
    """The fields an item of `entity` may name, in a stable order (key fields first)."""
    spec = SPECS[entity]
    first = ("external_id", "source_system", *spec.columns)
    return (*first, *sorted(spec.item_keys() - set(first)))


PARSERS: dict[str, dict[str, Parser]] = {
    entity: {name: parser_for(field) for name, field in spec.fields.items()}
    for entity, spec in SPECS.items()
}
