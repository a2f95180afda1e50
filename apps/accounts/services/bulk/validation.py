"""Validating a bulk request: parse, find stored rows, resolve references, check the rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from django.db import connection, models

from apps.accounts.models import Account
from apps.accounts.services import rules
from apps.accounts.services.bulk.items import Item, ItemResult, Key, Node, RefValue, Status
from apps.accounts.services.bulk.parsing import (
    Invalid,
    parse_email,
    parse_external_id,
    parse_record_id,
    parse_source_system,
)
from apps.accounts.services.bulk.specs import PARSERS, EntitySpec, reference_keys


class Batch:
    def __init__(self, entity: str, spec: EntitySpec, raw_items: Sequence[Mapping[str, Any]]):
        self.entity = entity
        self.spec = spec
        self.model = spec.model
        self.table = spec.model._meta.db_table
        self.parsers = PARSERS[entity]
        self.raw_items = raw_items
        self.items = [Item(index=index) for index in range(len(raw_items))]
        self.currency = rules.tenant_currency()

    def valid(self) -> list[Item]:
        return [item for item in self.items if item.ok]

    def first_item_by_key(self) -> dict[Key, Item]:
        by_key: dict[Key, Item] = {}
        for item in self.items:
            if item.key is not None:
                by_key.setdefault(item.key, item)
        return by_key

    def validate(self) -> None:
        self.parse()
        self.reject_duplicates()
        self.load_existing()
        self.resolve_references()
        self.merge_and_check()
        if self.spec.hierarchy:
            self.check_hierarchy()

    # -- validation ----------------------------------------------------------------------

    def parse(self) -> None:
        allowed = self.spec.item_keys()
        read_only = self.spec.read_only_names()
        relations = {reference.name for reference in self.spec.references}
        for item, raw in zip(self.items, self.raw_items, strict=True):
            if not isinstance(raw, Mapping):
                item.error("non_field_errors", "Each item must be a JSON object.")
                continue
            for name in raw:
                if name in relations:
                    item.error(name, f"Name it with {name}_id or {name}_external_id.")
                elif name not in allowed:
                    message = "This field is read-only." if name in read_only else "Unknown field."
                    item.error(str(name), message)
            self.parse_key(item, raw)
            for name, parse in self.parsers.items():
                if name in raw:
                    try:
                        item.values[name] = parse(raw[name])
                    except Invalid as invalid:
                        item.error(name, str(invalid))
            for reference in self.spec.references:
                self.parse_reference(item, raw, reference.name, source=item.key)
            if self.spec.has_owner:
                self.parse_owner(item, raw)

    def parse_key(self, item: Item, raw: Mapping[str, Any]) -> None:
        source_system = "api"
        if "source_system" in raw:
            try:
                source_system = parse_source_system(raw["source_system"])
            except Invalid as invalid:
                item.error("source_system", str(invalid))
        if "external_id" not in raw:
            item.error("external_id", "This field is required: items are matched by it.")
            return
        try:
            external_id = parse_external_id(raw["external_id"])
        except Invalid as invalid:
            item.error("external_id", str(invalid))
            return
        item.key = (source_system, external_id)

    def parse_reference(
        self, item: Item, raw: Mapping[str, Any], name: str, *, source: Key | None
    ) -> None:
        id_key, external_key, source_key = reference_keys(name)
        given = [key for key in (id_key, external_key) if key in raw]
        if len(given) > 1:
            item.error(external_key, f"Give {id_key} or {external_key}, not both.")
            return
        if source_key in raw and external_key not in raw:
            item.error(source_key, f"Only meaningful with {external_key}.")
        if not given:
            return
        field = given[0]
        value = raw[field]
        if value is None:
            item.references[name] = RefValue(field=field)
        elif field == id_key:
            try:
                item.references[name] = RefValue(field=field, record_id=parse_record_id(value))
            except Invalid as invalid:
                item.error(field, str(invalid))
        else:
            try:
                external_id = parse_external_id(value)
                system = (
                    parse_source_system(raw[source_key])
                    if source_key in raw
                    else (source[0] if source else "api")
                )
            except Invalid as invalid:
                item.error(field, str(invalid))
                return
            item.references[name] = RefValue(field=field, key=(system, external_id))

    def parse_owner(self, item: Item, raw: Mapping[str, Any]) -> None:
        given = [key for key in ("owner_id", "owner_email") if key in raw]
        if len(given) > 1:
            item.error("owner_email", "Give owner_id or owner_email, not both.")
            return
        if not given:
            return
        field = given[0]
        value = raw[field]
        try:
            if value is None:
                item.owner = RefValue(field=field)
            elif field == "owner_id":
                item.owner = RefValue(field=field, record_id=parse_record_id(value))
            else:
                email = parse_email(value).lower()
                if not email:
                    raise Invalid("This field may not be blank; send null to clear the owner.")
                item.owner = RefValue(field=field, key=("email", email))
        except Invalid as invalid:
            item.error(field, str(invalid))

    def reject_duplicates(self) -> None:
        first_index: dict[Key, int] = {}
        for item in self.items:
            if item.key is None:
                continue
            if item.key in first_index:
                item.error(
                    "external_id",
                    f"Duplicate of item {first_index[item.key]} in this request "
                    "(same source_system and external_id); send each record once.",
                )
            else:
                first_index[item.key] = item.index

    def load_existing(self) -> None:
        """Read (and lock until commit) the stored rows the items would update."""
        wanted: dict[Key, Item] = {}
        for item in self.items:
            if item.key is not None:
                wanted.setdefault(item.key, item)
        if not wanted:
            return
        systems, external_ids = zip(*wanted, strict=True)
        json_fields = [
            field.attname
            for field in self.model._meta.concrete_fields
            if isinstance(field, models.JSONField)
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT t.* FROM {self.table} t
                JOIN unnest(%s::text[], %s::text[]) AS k(source_system, external_id)
                  ON t.source_system = k.source_system AND t.external_id = k.external_id
                FOR UPDATE OF t
                """,  # noqa: S608 - the table name is the model's, never input
                [list(systems), list(external_ids)],
            )
            names = [column.name for column in cursor.description]
            for row in cursor.fetchall():
                stored = dict(zip(names, row, strict=True))
                for name in json_fields:
                    if isinstance(stored[name], str):
                        stored[name] = orjson.loads(stored[name])
                wanted[(stored["source_system"], stored["external_id"])].existing = stored

    def resolve_references(self) -> None:
        account_ids: set[int] = set()
        account_keys: set[Key] = set()
        # Parents that are new items of this request get their id only when written.
        batch_keys = (
            {item.key for item in self.items if item.key is not None and item.existing is None}
            if self.spec.hierarchy
            else set()
        )
        for item in self.valid():
            for named in item.references.values():
                if named.record_id is not None:
                    account_ids.add(named.record_id)
                elif named.key is not None and named.key not in batch_keys:
                    account_keys.add(named.key)
        known_ids = self._existing_account_ids(account_ids)
        ids_by_key = self._account_ids_by_key(account_keys)
        owners = self._owners([item.owner for item in self.valid() if item.owner])

        for item in self.valid():
            for reference in self.spec.references:
                given = item.references.get(reference.name)
                column = f"{reference.name}_id"
                if given is None:
                    continue
                if given.record_id is None and given.key is None:
                    if reference.required:
                        item.error(given.field, "This field may not be null.")
                    else:
                        item.values[column] = None
                elif given.record_id is not None:
                    if given.record_id in known_ids:
                        item.values[column] = given.record_id
                    else:
                        item.error(given.field, f"No account with id {given.record_id}.")
                elif given.key in ids_by_key:
                    item.values[column] = ids_by_key[given.key]
                elif reference.within_batch and given.key in batch_keys:
                    item.parent_key_in_batch = given.key
                else:
                    system, external_id = given.key or ("", "")
                    item.error(
                        given.field,
                        f"No account with source_system {system!r} and external_id "
                        f"{external_id!r}.",
                    )
            if item.owner is not None:
                owner = item.owner
                if owner.record_id is None and owner.key is None:
                    item.values["owner_id"] = None
                else:
                    lookup = owner.key or ("id", str(owner.record_id))
                    if lookup in owners:
                        item.values["owner_id"] = owners[lookup]
                    else:
                        what = "email" if owner.key else "id"
                        item.error(owner.field, f"No active user with {what} {lookup[1]}.")

    def _existing_account_ids(self, ids: set[int]) -> set[int]:
        if not ids:
            return set()
        return set(Account.objects.filter(id__in=ids).values_list("id", flat=True))

    def _account_ids_by_key(self, keys: set[Key]) -> dict[Key, int]:
        if not keys:
            return {}
        systems, external_ids = zip(*keys, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT a.source_system, a.external_id, a.id FROM {Account._meta.db_table} a
                JOIN unnest(%s::text[], %s::text[]) AS k(source_system, external_id)
                  ON a.source_system = k.source_system AND a.external_id = k.external_id
                """,  # noqa: S608 - the table name is the model's, never input
                [list(systems), list(external_ids)],
            )
            return {(system, external_id): pk for system, external_id, pk in cursor.fetchall()}

    def _owners(self, owners: Iterable[RefValue]) -> dict[tuple[str, str], int]:
        emails = {owner.key[1] for owner in owners if owner.key}
        ids = {owner.record_id for owner in owners if owner.record_id is not None}
        if not emails and not ids:
            return {}
        found: dict[tuple[str, str], int] = {}
        users = rules.assignable_users().filter(models.Q(email__in=emails) | models.Q(id__in=ids))
        for pk, email in users.values_list("id", "email"):
            found[("email", email.lower())] = pk
            found[("id", str(pk))] = pk
        return found

    def merge_and_check(self) -> None:
        defaults = {
            field.attname: field.get_default()
            for field in self.model._meta.concrete_fields
            if not field.primary_key
        }
        required = [
            name
            for name, field in self.spec.fields.items()
            if not field.has_default() and not field.null and not field.blank
        ]
        references = {f"{reference.name}_id": reference for reference in self.spec.references}
        for item in self.valid():
            assert item.key is not None
            provided = item.values
            if item.existing is None:
                for name in required:
                    if name not in provided:
                        item.error(name, "This field is required to create a record.")
                for column, reference in references.items():
                    if reference.required and column not in provided:
                        id_key, external_key, _ = reference_keys(reference.name)
                        item.error(external_key, f"Required: {id_key} or {external_key}.")
                if not item.ok:
                    continue
                merged = {**defaults, "source_system": item.key[0], "external_id": item.key[1]}
                if "currency" in merged:
                    merged["currency"] = self.currency
            else:
                merged = dict(item.existing)
            merged.update(provided)
            if self.spec.normalise is not None:
                self.spec.normalise(merged)
            checked = merged
            if item.existing is not None and "currency" not in provided:
                # Only money this request sends is checked against the tenant's currency.
                checked = {name: value for name, value in merged.items() if name != "currency"}
            for field, messages in self.spec.check(checked).items():
                for message in messages:
                    item.error(self._item_field(item, field), message)
            item.merged = merged
            if item.existing is not None:
                item.id = item.existing["id"]
                item.changed = item.parent_key_in_batch is not None or any(
                    item.existing.get(name) != value for name, value in provided.items()
                )
                if not item.changed:
                    item.changed = any(
                        merged[name] != item.existing[name] for name in self.spec.derived
                    )

    def _item_field(self, item: Item, field: str) -> str:
        """An invariant names a model field; report it under the key the item used."""
        given = item.references.get(field)
        if given is not None:
            return given.field
        for reference in self.spec.references:
            if field == reference.name:
                return f"{reference.name}_external_id"
        return field

    def check_hierarchy(self) -> None:
        """Refuse parents that would make a loop, and parents that are failing new items."""
        with_parent = [
            item for item in self.valid() if "parent" in item.references and item.key is not None
        ]
        if not with_parent:
            return
        # The hierarchy as it would be after this request: stored links, overridden by items.
        parent_of: dict[Node, Node | None] = dict(
            self._stored_ancestry({item.merged["parent_id"] for item in with_parent} - {None})
        )
        for item in self.valid():
            if item.key is not None:
                node: Node = item.id if item.id is not None else item.key
                parent_of[node] = item.parent_key_in_batch or item.merged.get("parent_id")
        looping = [
            item
            for item in with_parent
            if self._reaches(parent_of, item.id if item.id is not None else item.key)
        ]
        for item in looping:
            item.error(
                item.references["parent"].field,
                "This parent would make the account its own ancestor.",
            )
        # A child of a new item that is not written cannot be written either (nor its children).
        by_key = self.first_item_by_key()
        while True:
            orphans = [
                (item, by_key[item.parent_key_in_batch])
                for item in self.valid()
                if item.parent_key_in_batch is not None and not by_key[item.parent_key_in_batch].ok
            ]
            if not orphans:
                return
            for item, parent in orphans:
                item.error(
                    item.references["parent"].field,
                    f"The parent, item {parent.index}, has errors.",
                )

    @staticmethod
    def _reaches(parent_of: Mapping[Any, Any], start: Any) -> bool:
        seen = set()
        node = parent_of.get(start)
        while node is not None and node not in seen:
            if node == start:
                return True
            seen.add(node)
            node = parent_of.get(node)
        return bool(node == start)

    def _stored_ancestry(self, account_ids: set[int]) -> dict[int | Key, int | Key | None]:
        if not account_ids:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH RECURSIVE up(id, parent_id) AS (
                    SELECT id, parent_id FROM {Account._meta.db_table} WHERE id = ANY(%s)
                    UNION
                    SELECT a.id, a.parent_id FROM {Account._meta.db_table} a
                    JOIN up ON a.id = up.parent_id
                )
                SELECT id, parent_id FROM up
                """,  # noqa: S608 - the table name is the model's, never input
                [list(account_ids)],
            )
            return dict(cursor.fetchall())

    def results(self) -> list[ItemResult]:
        results = []
        for item in self.items:
            if item.errors:
                results.append(ItemResult(item.index, "error", None, item.errors))
            else:
                status: Status = "created" if item.created else "updated"
                results.append(ItemResult(item.index, status, item.id, {}))
        return results
