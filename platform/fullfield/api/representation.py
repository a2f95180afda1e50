"""Model serializers' output, with the per-field work of DRF's loop done once per serializer.

DRF's `Serializer.to_representation` asks every field, for every row, how to read its value
(`get_attribute`: source walk, callable check, the primary-key stand-in of relations) and then
converts it. For a column the answer never changes, so `FastRepresentationMixin` works it out
once per serializer (a list's rows share one) and then reads the attribute directly:

- a concrete column (or the `<fk>_id` of a relation): `getattr(row, attname)`;
- a `PrimaryKeyRelatedField` on a foreign key: the `<fk>_id` value itself, as DRF outputs it;
- anything else (method fields, nested serializers, dotted sources): DRF's own steps.

The conversion is the field's own `to_representation`, except where DRF's is a one-liner
(`str`, `int`, `float`) and ISO 8601 date-times, which skip the active-timezone lookup per
value. The output is the same dict, key for key and value for value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from rest_framework import ISO_8601, fields, relations
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

Represent = Callable[[Any], Any]
# (output name, attribute to read or None for DRF's steps, conversion or None for as-is, field)
Step = tuple[str, str | None, Represent | None, fields.Field[Any, Any, Any, Any]]

_ONE_LINERS: dict[Any, Represent] = {
    fields.CharField.to_representation: str,
    fields.IntegerField.to_representation: int,
    fields.FloatField.to_representation: float,
}


def _datetime_iso(field: fields.DateTimeField) -> Represent | None:
    """DateTimeField.to_representation of aware values in ISO 8601, the zone looked up once."""
    kind = type(field)
    if (
        kind.to_representation is not fields.DateTimeField.to_representation
        or kind.enforce_timezone is not fields.DateTimeField.enforce_timezone
        or kind.default_timezone is not fields.DateTimeField.default_timezone
        or hasattr(field, "timezone")
    ):
        return None
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if not isinstance(output_format, str) or output_format.lower() != ISO_8601:
        return None
    zone = field.default_timezone()
    if zone is None:
        return None
    fallback = field.to_representation

    def represent(value: Any) -> Any:
        if type(value) is not dt.datetime or value.utcoffset() is None:
            return fallback(value)
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return fallback(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent


def _represent(field: fields.Field[Any, Any, Any, Any]) -> Represent:
    if isinstance(field, fields.DateTimeField):
        iso = _datetime_iso(field)
        if iso is not None:
            return iso
    return _ONE_LINERS.get(type(field).to_representation, field.to_representation)


def _column(model: type[models.Model], source: str) -> models.Field[Any, Any] | None:
    try:
        column = model._meta.get_field(source)
    except FieldDoesNotExist:
        return None
    return column if isinstance(column, models.Field) and column.concrete else None


def _step(model: type[models.Model], field: fields.Field[Any, Any, Any, Any]) -> Step:
    name = field.field_name
    assert name is not None
    generic: Step = (name, None, None, field)
    if len(field.source_attrs) != 1:
        return generic
    column = _column(model, field.source_attrs[0])
    if column is None:
        return generic
    kind = type(field)
    if isinstance(field, relations.PrimaryKeyRelatedField):
        plain_key = (
            kind.get_attribute is relations.RelatedField.get_attribute
            and kind.to_representation is relations.PrimaryKeyRelatedField.to_representation
            and field.use_pk_only_optimization()
            and field.pk_field is None
            and isinstance(column, models.ForeignKey)
        )
        return (name, column.attname, None, field) if plain_key else generic
    if kind.get_attribute is not fields.Field.get_attribute:
        return generic
    if column.is_relation and field.source_attrs[0] != column.attname:
        return generic
    return (name, column.attname, _represent(field), field)


class FastRepresentationMixin:
    """For ModelSerializers: DRF's to_representation with the per-field decisions made once."""

    _readable_fields: Any
    _representation_steps: tuple[type[models.Model], list[Step]] | None = None

    def to_representation(self, instance: Any) -> Any:
        if not isinstance(instance, models.Model):
            return super().to_representation(instance)  # type: ignore[misc]
        model = type(instance)
        if self._representation_steps is None or self._representation_steps[0] is not model:
            self._representation_steps = (
                model,
                [_step(model, field) for field in self._readable_fields],
            )
        steps = self._representation_steps[1]
        ret: dict[str, Any] = {}
        for name, attname, represent, field in steps:
            if attname is not None:
                value = getattr(instance, attname)
                ret[name] = value if value is None or represent is None else represent(value)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret
