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

import dataclasses
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from apps.accounts.models import Account, Contact, Lead, Opportunity, Subscription
from apps.accounts.services import rules
from apps.accounts.services.records import accounts_touch, lifecycle_stage_changed
from fullfield.errors import DomainError
from fullfield.users.models import User

BULK_MAX_ITEMS = 5000

Status = Literal["created", "updated", "error"]
FieldErrors = dict[str, list[str]]
Key = tuple[str, str]
# An account in the hierarchy check: a stored account's id, or the key of a new item.
Node = int | Key


@dataclasses.dataclass(frozen=True)
class ItemResult:
    index: int
    status: Status
    id: int | None
    errors: FieldErrors


class Invalid(ValueError):
    """A value that cannot be stored in a field; the message is shown to the caller."""


Parser = Callable[[Any], Any]


# --- value parsers (built from the model fields) -----------------------------------------


def _text(max_length: int, *, blank: bool) -> Parser:
    def parse(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise Invalid("Must be a string.")
        text = str(value).strip()
        if rules.contains_nul(text):
            raise Invalid("Null characters are not allowed.")
        if not text and not blank:
            raise Invalid("This field may not be blank.")
        if len(text) > max_length:
            raise Invalid(f"At most {max_length} characters.")
        return text

    return parse


def _choice(choices: Sequence[str]) -> Parser:
    allowed = frozenset(choices)

    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(f"{value!r} is not one of: {', '.join(choices)}.")
        return value

    return parse


_email_validator = EmailValidator()


def _email(max_length: int) -> Parser:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid("Must be a string.")
        email = value.strip()
        if rules.contains_nul(email):
            raise Invalid("Null characters are not allowed.")
        if not email:
            return ""
        if len(email) > max_length:
            raise Invalid(f"At most {max_length} characters.")
        try:
            _email_validator(email)
        except DjangoValidationError:
            raise Invalid("Enter a valid email address.") from None
        return email

    return parse


def _decimal(max_digits: int, places: int) -> Parser:
    def parse(value: Any) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
            raise Invalid("Must be a number.")
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise Invalid("Must be a number.") from None
        if not number.is_finite():
            raise Invalid("Must be a finite number.")
        if number.copy_abs() >= decimal.Decimal(10) ** (max_digits - places):
            raise Invalid(f"At most {max_digits - places} digits before the decimal point.")
        rounded = number.quantize(decimal.Decimal(1).scaleb(-places))
        if rounded != number:
            raise Invalid(f"At most {places} decimal places.")
        return rounded

    return parse


def _integer(minimum: int, maximum: int) -> Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise Invalid("Must be an integer.")
        integral_text = isinstance(value, str) and value.strip().lstrip("-").isdigit()
        if integral_text or (isinstance(value, float) and value.is_integer()):
            value = int(value)
        if not isinstance(value, int):
            raise Invalid("Must be an integer.")
        if not minimum <= value <= maximum:
            raise Invalid(f"Must be from {minimum} to {maximum}.")
        return value

    return parse


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("Must be true or false.")


def _date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Invalid("Must be a date, YYYY-MM-DD.")


def _datetime(value: Any) -> datetime:
    moment: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None:
        raise Invalid("Must be a date and time, ISO 8601 (e.g. 2025-01-31T09:30:00Z).")
    # Like the API's serializers: a time without an offset is in the server's zone (UTC).
    if not timezone.is_aware(moment):
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise Invalid("Date and time out of range.") from None


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid("Must be a JSON object.")
    if rules.contains_nul(value):
        raise Invalid("Null characters are not allowed.")
    return value


def _nullable(parse: Parser) -> Parser:
    def parse_or_null(value: Any) -> Any:
        return None if value is None else parse(value)

    return parse_or_null


def _not_null(parse: Parser) -> Parser:
    def parse_not_null(value: Any) -> Any:
        if value is None:
            raise Invalid("This field may not be null.")
        return parse(value)

    return parse_not_null


def parser_for(field: models.Field[Any, Any]) -> Parser:
    parse: Parser
    if field.choices:
        parse = _choice([str(choice[0]) for choice in field.choices])
    elif isinstance(field, models.EmailField):
        parse = _email(field.max_length or 254)
    elif isinstance(field, models.CharField):
        parse = _text(field.max_length or 255, blank=field.blank)
    elif isinstance(field, models.DecimalField):
        parse = _decimal(field.max_digits or 14, field.decimal_places or 0)
    elif isinstance(field, models.PositiveIntegerField):
        parse = _integer(0, 2_147_483_647)
    elif isinstance(field, models.IntegerField):
        parse = _integer(-2_147_483_648, 2_147_483_647)
    elif isinstance(field, models.BooleanField):
        parse = _boolean
    elif isinstance(field, models.DateTimeField):
        parse = _datetime
    elif isinstance(field, models.DateField):
        parse = _date
    elif isinstance(field, models.JSONField):
        parse = _json_object
    else:  # pragma: no cover - a new field type needs a parser before it can be bulk-written
        raise TypeError(f"no bulk parser for {field!r}")
    return _nullable(parse) if field.null else _not_null(parse)


# --- entities ----------------------------------------------------------------------------


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
    check: Callable[[Mapping[str, Any]], FieldErrors]
    has_owner: bool = False

    @property
    def fields(self) -> dict[str, models.Field[Any, Any]]:
        return {name: self.model._meta.get_field(name) for name in self.columns}  # type: ignore[misc]

    def read_only_names(self) -> frozenset[str]:
        names = {"id", "created_at", "updated_at"}
        for field in self.model._meta.concrete_fields:
            names.update({field.name, field.attname})
        return frozenset(names) - set(self.columns) - {"source_system", "external_id"}

    def item_keys(self) -> frozenset[str]:
        keys = {"source_system", "external_id", *self.columns}
        for reference in self.references:
            keys.update(reference_keys(reference.name))
        if self.has_owner:
            keys.update({"owner_id", "owner_email"})
        return frozenset(keys)


def reference_keys(name: str) -> tuple[str, str, str]:
    return f"{name}_id", f"{name}_external_id", f"{name}_source_system"


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
        check=rules.account_check,
        has_owner=True,
    ),
    "contacts": EntitySpec(
        model=Contact,
        columns=("email", "name", "title", "persona", "is_champion"),
        references=(Reference("account", required=True),),
        check=lambda values: {},
    ),
    "leads": EntitySpec(
        model=Lead,
        columns=("email", "name", "company", "lead_source", "campaign", "status", "converted_at"),
        references=(Reference("converted_account", required=False),),
        check=rules.lead_check,
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
        check=rules.opportunity_check,
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
        check=rules.subscription_check,
    ),
}
BULK_ENTITIES = tuple(SPECS)


def bulk_item_fields(entity: str) -> tuple[str, ...]:
    """The fields an item of `entity` may name, in a stable order (key fields first)."""
    spec = SPECS[entity]
    first = ("external_id", "source_system", *spec.columns)
    return (*first, *sorted(spec.item_keys() - set(first)))


_parsers: dict[str, dict[str, Parser]] = {
    entity: {name: parser_for(field) for name, field in spec.fields.items()}
    for entity, spec in SPECS.items()
}
_source_system = _not_null(_text(40, blank=False))
_external_id = _not_null(_text(200, blank=False))


# --- one request ------------------------------------------------------------------------


@dataclasses.dataclass
class _RefValue:
    """A reference as the item gave it: by id, by external key, or explicitly null."""

    field: str  # the item key used, for error messages
    record_id: int | None = None
    key: Key | None = None


@dataclasses.dataclass
class _Item:
    index: int
    errors: FieldErrors = dataclasses.field(default_factory=dict)
    key: Key | None = None
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    references: dict[str, _RefValue] = dataclasses.field(default_factory=dict)
    owner: _RefValue | None = None
    existing: dict[str, Any] | None = None
    merged: dict[str, Any] = dataclasses.field(default_factory=dict)
    changed: bool = True
    # A parent that is a new item of this request: its id is known only after the insert.
    parent_key_in_batch: Key | None = None
    id: int | None = None
    created: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, field: str, message: str) -> None:
        rules.add_error(self.errors, field, message)


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
        batch = _Batch(entity, spec, items)
        batch.run()
    return batch.results()


class _Batch:
    def __init__(self, entity: str, spec: EntitySpec, raw_items: Sequence[Mapping[str, Any]]):
        self.entity = entity
        self.spec = spec
        self.model = spec.model
        self.table = spec.model._meta.db_table
        self.parsers = _parsers[entity]
        self.raw_items = raw_items
        self.items = [_Item(index=index) for index in range(len(raw_items))]
        self.currency = rules.tenant_currency()

    def valid(self) -> list[_Item]:
        return [item for item in self.items if item.ok]

    def first_item_by_key(self) -> dict[Key, _Item]:
        by_key: dict[Key, _Item] = {}
        for item in self.items:
            if item.key is not None:
                by_key.setdefault(item.key, item)
        return by_key

    def run(self) -> None:
        self.parse()
        self.reject_duplicates()
        self.load_existing()
        self.resolve_references()
        self.merge_and_check()
        if self.model is Account:
            self.check_hierarchy()
        self.write()
        self.after_write()

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

    def parse_key(self, item: _Item, raw: Mapping[str, Any]) -> None:
        source_system = "api"
        if "source_system" in raw:
            try:
                source_system = _source_system(raw["source_system"])
            except Invalid as invalid:
                item.error("source_system", str(invalid))
        if "external_id" not in raw:
            item.error("external_id", "This field is required: items are matched by it.")
            return
        try:
            external_id = _external_id(raw["external_id"])
        except Invalid as invalid:
            item.error("external_id", str(invalid))
            return
        item.key = (source_system, external_id)

    def parse_reference(
        self, item: _Item, raw: Mapping[str, Any], name: str, *, source: Key | None
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
            item.references[name] = _RefValue(field=field)
        elif field == id_key:
            try:
                item.references[name] = _RefValue(
                    field=field, record_id=_integer(1, 2**63 - 1)(value)
                )
            except Invalid as invalid:
                item.error(field, str(invalid))
        else:
            try:
                external_id = _external_id(value)
                system = (
                    _source_system(raw[source_key])
                    if source_key in raw
                    else (source[0] if source else "api")
                )
            except Invalid as invalid:
                item.error(field, str(invalid))
                return
            item.references[name] = _RefValue(field=field, key=(system, external_id))

    def parse_owner(self, item: _Item, raw: Mapping[str, Any]) -> None:
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
                item.owner = _RefValue(field=field)
            elif field == "owner_id":
                item.owner = _RefValue(field=field, record_id=_integer(1, 2**63 - 1)(value))
            else:
                email = _email(254)(value).lower()
                if not email:
                    raise Invalid("This field may not be blank; send null to clear the owner.")
                item.owner = _RefValue(field=field, key=("email", email))
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
        wanted: dict[Key, _Item] = {}
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
            if self.model is Account
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

    def _owners(self, owners: Iterable[_RefValue]) -> dict[tuple[str, str], int]:
        emails = {owner.key[1] for owner in owners if owner.key}
        ids = {owner.record_id for owner in owners if owner.record_id is not None}
        if not emails and not ids:
            return {}
        found: dict[tuple[str, str], int] = {}
        users = User.objects.filter(is_active=True).filter(
            models.Q(email__in=emails) | models.Q(id__in=ids)
        )
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
            if self.model is Lead:
                merged["converted_at"] = rules.lead_converted_at(
                    merged["status"], merged["converted_at"]
                )
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
                if not item.changed and self.model is Lead:
                    item.changed = merged["converted_at"] != item.existing["converted_at"]

    def _item_field(self, item: _Item, field: str) -> str:
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

    # -- writing -------------------------------------------------------------------------

    def write(self) -> None:
        pending = [item for item in self.valid() if item.changed]
        if not pending:
            return
        try:
            with transaction.atomic():
                self._upsert(pending)
        except DatabaseError:
            # Validation should have caught every constraint; if the database still refuses
            # (a concurrent write, a rule not mirrored here), find the items it refuses one
            # by one so that the others are still written.
            self._write_one_by_one(pending)

    def _write_one_by_one(self, pending: list[_Item]) -> None:
        for item in pending:
            item.id, item.created = (item.existing["id"] if item.existing else None), False
        by_key = self.first_item_by_key()
        remaining = pending
        while remaining:
            waiting: list[_Item] = []
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
                        self._upsert([item])
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

    def _upsert(self, pending: list[_Item]) -> None:
        fields = [
            field
            for field in self.model._meta.concrete_fields
            if not field.primary_key and field.attname not in {"created_at", "updated_at"}
        ]
        columns = [field.attname for field in fields]
        writable = [*self.spec.columns, *(f"{ref.name}_id" for ref in self.spec.references)]
        if self.spec.has_owner:
            writable.append("owner_id")
        definitions = ", ".join(
            f'"{field.attname}" {field.db_type(connection)}' for field in fields
        )
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
                INSERT INTO {self.table} ({column_list}, "created_at", "updated_at")
                SELECT {column_list}, now(), now()
                FROM jsonb_to_recordset(%s::jsonb) AS r({definitions})
                ON CONFLICT (source_system, external_id) DO UPDATE
                SET {assignments}, "updated_at" = EXCLUDED."updated_at"
                RETURNING id, source_system, external_id, (xmax = 0) AS created
                """,  # noqa: S608 - identifiers come from the model, values are parameters
                [document],
            )
            written = {
                (system, external): (pk, created) for pk, system, external, created in cursor
            }
        for item in pending:
            assert item.key is not None
            item.id, item.created = written[item.key]
        if self.model is Account:
            self._link_parents_in_batch(pending)

    def _link_parents_in_batch(self, pending: list[_Item]) -> None:
        ids_by_key = {item.key: item.id for item in self.items if item.id is not None}
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
                UPDATE {Account._meta.db_table} a SET parent_id = v.parent_id
                FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, parent_id)
                WHERE a.id = v.id
                """,  # noqa: S608 - the table name is the model's, never input
                [list(children), list(parents)],
            )

    def after_write(self) -> None:
        written = [item for item in self.valid() if item.changed and item.id is not None]
        if self.model is Account:
            for item in written:
                previous = item.existing["lifecycle_stage"] if item.existing else None
                stage = item.merged["lifecycle_stage"]
                if previous is not None and previous != stage:
                    assert item.id is not None
                    lifecycle_stage_changed(
                        account_id=item.id, previous_stage=previous, stage=stage
                    )
            # New accounts are due for their first score.
            accounts_touch(account_ids=[item.id for item in written if item.created])
            return
        column = {"leads": "converted_account_id"}.get(self.entity, "account_id")
        if self.model is Contact:
            return
        touched: set[int | None] = set()
        for item in written:
            touched.add(item.merged[column])
            if item.existing is not None:
                touched.add(item.existing[column])
        accounts_touch(account_ids=touched)

    def results(self) -> list[ItemResult]:
        results = []
        for item in self.items:
            if item.errors:
                results.append(ItemResult(item.index, "error", None, item.errors))
            else:
                status: Status = "created" if item.created else "updated"
                results.append(ItemResult(item.index, status, item.id, {}))
        return results


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")
