"""One declaration per record kind: the REST API and the bulk upsert accept the same fields,
with the same limits and choices, and refuse a bad value with the same message."""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import pytest
from django.db import models
from django.urls import include, path
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from apps.accounts.api import views
from apps.accounts.api.base import ParsedFieldMixin, RecordSerializer
from apps.accounts.services.bulk import SPECS
from apps.accounts.services.bulk.parsing import FieldRule, field_rule
from apps.accounts.services.bulk.specs import EntitySpec
from tests.fixtures import TenantClient

SERIALIZERS: dict[str, type[RecordSerializer[Any]]] = {
    entity: getattr(views, f"{spec.model.__name__}ViewSet").serializer_class
    for entity, spec in SPECS.items()
}
by_entity = pytest.mark.parametrize("entity", list(SPECS))


@pytest.fixture(scope="module")
def components() -> dict[str, Any]:
    patterns = [path("api/v1/", include("apps.accounts.api.urls"))]
    with contextlib.redirect_stderr(io.StringIO()):
        schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    schemas: dict[str, Any] = schema["components"]["schemas"]
    return schemas


def bulk_writable(spec: EntitySpec) -> set[str]:
    """The record fields a bulk item can set (references and owner by their field's name)."""
    names = {"source_system", "external_id", *spec.columns}
    names.update(reference.name for reference in spec.references)
    if spec.has_owner:
        names.add("owner")
    return names


def rest_writable(serializer_class: type[serializers.Serializer[Any]]) -> set[str]:
    return {name for name, field in serializer_class().fields.items() if not field.read_only}


def resolve(components: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its enum component inlined (choices are components) and the
    alternative of a blank string (`oneOf` with `maxLength: 0`) left out."""
    if "allOf" in schema or "oneOf" in schema:
        parts = [resolve(components, part) for part in schema.get("allOf") or schema["oneOf"]]
        merged: dict[str, Any] = {}
        for part in parts:
            if part.get("maxLength") != 0:
                merged.update(part)
        return {**merged, **{k: v for k, v in schema.items() if k not in ("allOf", "oneOf")}}
    if "$ref" in schema:
        return dict(components[schema["$ref"].rsplit("/", 1)[-1]])
    return schema


DECIMAL_PATTERN = re.compile(r"\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)")


def schema_limits(components: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    prop = resolve(components, schema)
    enum = tuple(value for value in prop.get("enum", ()) if value not in ("", None))
    digits = DECIMAL_PATTERN.search(prop.get("pattern", ""))
    return {
        "type": prop.get("type"),
        "max_length": prop.get("maxLength"),
        "choices": enum,
        "minimum": prop.get("minimum"),
        "maximum": prop.get("maximum"),
        "digits": (int(digits[1]), int(digits[2])) if digits else None,
    }


SCHEMA_TYPES = {"integer": "integer", "float": "number", "boolean": "boolean"}


def rule_limits(rule: FieldRule) -> dict[str, Any]:
    digits = None
    if rule.kind == "decimal":
        assert rule.max_digits is not None and rule.decimal_places is not None
        digits = (rule.max_digits - rule.decimal_places, rule.decimal_places)
    return {
        "type": "object" if rule.kind == "json_object" else SCHEMA_TYPES.get(rule.kind, "string"),
        "max_length": rule.max_length if rule.kind in ("text", "email") else None,
        "choices": rule.choices,
        "minimum": rule.minimum,
        "maximum": rule.maximum,
        "digits": digits,
    }


@by_entity
def test_the_rest_api_writes_exactly_the_fields_a_bulk_item_writes(entity: str) -> None:
    assert rest_writable(SERIALIZERS[entity]) == bulk_writable(SPECS[entity])


@by_entity
def test_the_rest_schema_shows_the_limits_and_choices_the_bulk_spec_enforces(
    entity: str, components: dict[str, Any]
) -> None:
    spec = SPECS[entity]
    request = components[f"{spec.model.__name__}Request"]["properties"]
    for name, model_field in spec.fields.items():
        rule = field_rule(model_field)
        assert schema_limits(components, request[name]) == rule_limits(rule), name
        assert bool(request[name].get("nullable")) == rule.null, name


def test_every_writable_column_of_every_record_is_parsed_by_its_rule() -> None:
    checked = 0
    for viewset in vars(views).values():
        serializer_class = getattr(viewset, "serializer_class", None)
        if not isinstance(serializer_class, type):
            continue
        if not issubclass(serializer_class, RecordSerializer):
            continue
        model: type[models.Model] = serializer_class.Meta.model
        for name, field in serializer_class().fields.items():
            nested = serializers.RelatedField | serializers.BaseSerializer
            if field.read_only or isinstance(field, nested):
                continue
            assert isinstance(field, ParsedFieldMixin), f"{model.__name__}.{name}"
            assert isinstance(field, serializers.Field)
            model_field = model._meta.get_field(field.source or name)
            assert isinstance(model_field, models.Field)
            assert field.rule == field_rule(model_field), name
            checked += 1
    assert checked > 50


# The same bad value through one record's create and through a bulk item: the same message.
BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("accounts", {"segment": "x" * 51}, "segment"),
    ("accounts", {"lifecycle_stage": "asleep"}, "lifecycle_stage"),
    ("accounts", {"attributes": "not an object"}, "attributes"),
    ("accounts", {"name": "Nul\x00"}, "name"),
    ("contacts", {"email": "not-an-email"}, "email"),
    ("contacts", {"is_champion": "maybe"}, "is_champion"),
    ("opportunities", {"amount": "12.345"}, "amount"),
    ("opportunities", {"close_date": "31/01/2025"}, "close_date"),
    ("subscriptions", {"quantity": "many"}, "quantity"),
    ("subscriptions", {"quantity": -1}, "quantity"),
]


@pytest.mark.usefixtures("tenant_a")
@pytest.mark.parametrize(("entity", "bad", "field"), BAD_VALUES)
def test_a_bad_value_gets_the_same_message_from_the_rest_api_and_a_bulk_item(
    api_a: TenantClient, entity: str, bad: dict[str, Any], field: str
) -> None:
    account = api_a.post("/api/v1/accounts/", {"name": "Acme", "external_id": "acc"}).json()
    valid: dict[str, dict[str, Any]] = {
        "accounts": {"name": "Globex"},
        "contacts": {"email": "pat@example.com"},
        "opportunities": {"name": "Deal", "amount": "100.00"},
        "subscriptions": {"plan": "pro", "mrr": "50", "period_start": "2025-01-01"},
    }
    single = {**valid[entity], **bad}
    if entity != "accounts":
        single["account"] = account["id"]
    response = api_a.post(f"/api/v1/{entity}/", single)
    assert response.status_code == 400, response.content
    rest_messages = response.json()["error"]["fields"][field]

    item = {**valid[entity], **bad, "external_id": "item-1"}
    if entity != "accounts":
        item["account_id"] = account["id"]
    bulk = api_a.post(f"/api/v1/{entity}/bulk/", {"items": [item]})
    assert bulk.status_code == 200, bulk.content
    assert bulk.json()["results"][0]["errors"] == {field: rest_messages}


@pytest.mark.usefixtures("tenant_a")
def test_a_value_the_rest_api_accepted_before_is_accepted_by_both_paths(
    api_a: TenantClient,
) -> None:
    account = api_a.post("/api/v1/accounts/", {"name": "Acme"}).json()
    single = api_a.post(
        "/api/v1/contacts/",
        {"account": account["id"], "email": "pat@example.com", "is_champion": "on"},
    )
    assert single.status_code == 201, single.content
    assert single.json()["is_champion"] is True
    item = {"external_id": "c-2", "account_id": account["id"], "is_champion": "off"}
    bulk = api_a.post("/api/v1/contacts/bulk/", {"items": [item]})
    assert bulk.json()["results"][0]["status"] == "created", bulk.content
    assert (
        api_a.get(f"/api/v1/contacts/{bulk.json()['results'][0]['id']}/").json()["is_champion"]
        is False
    )
