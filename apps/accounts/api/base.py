"""What every account-record endpoint shares: strict input, tenant-scoped relations, lists.

- A write body naming an unknown or read-only field is refused with a 400 naming the field
  (mass assignment is never silently ignored).
- Related records in bodies are looked up in the request's tenant schema only, so another
  tenant's id reads as "no such record" (400 on the field), never as a leak.
- Record invariants are checked by the services (services/rules.py) on the values the row
  would hold after the write, before the database constraints (the backstop) can fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.filters import SearchFilter

from apps.accounts.api.pagination import KeysetCursorPagination, KeysetOrdering
from apps.accounts.services.bulk.parsing import (
    FieldRule,
    Invalid,
    Parser,
    field_rule,
    parser_from_rule,
)
from apps.accounts.services.records import record_create, record_delete, record_update
from fullfield.api.filters import FilterBackend
from fullfield.api.representation import FastRepresentationMixin

# DRF's classes are generic in the stubs only; subscripting them at run time would fail.
if TYPE_CHECKING:
    GenericViewSet = viewsets.GenericViewSet[Any]
    PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField[Any]
else:
    GenericViewSet = viewsets.GenericViewSet
    PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField

ModelT = TypeVar("ModelT", bound=models.Model)


def with_article(noun: str) -> str:
    """'an account', 'a contact', 'a usage event': for generated summaries and messages."""
    # A leading "u" sounding "you" (usage, user, unit) takes "a".
    vowel_sound = noun[:1].lower() in "aeio" or (
        noun[:1].lower() == "u" and not noun.lower().startswith(("us", "uni", "uti"))
    )
    return f"{'an' if vowel_sound else 'a'} {noun}"


class TenantRelatedField(PrimaryKeyRelatedField):
    """A related record by id, looked up in the request's tenant only."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        queryset = kwargs.get("queryset")
        noun = queryset.model._meta.verbose_name if queryset is not None else "record"
        self.error_messages["does_not_exist"] = f"No {noun} with id {{pk_value}}."
        self.error_messages["incorrect_type"] = (
            f"Expected the id of {with_article(noun)}, got {{data_type}}."
        )


class StrictInputMixin:
    """Refuses a body naming a field the serializer does not accept, instead of dropping it."""

    fields: Any

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            refused: dict[str, list[str]] = {}
            for name in data:
                field = self.fields.get(name)
                if field is None:
                    refused[str(name)] = ["Unknown field."]
                elif field.read_only:
                    refused[str(name)] = ["This field is read-only."]
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)  # type: ignore[misc]


class ParsedFieldMixin:
    """A model field's value parsed by the parser of its rule: the one the bulk upsert uses.

    The DRF field class it is mixed into only gives the HTTP shape (schema, output).
    """

    def __init__(self, *args: Any, rule: FieldRule, **kwargs: Any) -> None:
        self.rule = rule
        self.parse: Parser = parser_from_rule(rule)
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return self.parse(data)
        except Invalid as error:
            raise serializers.ValidationError(str(error)) from None


_PARSED_CLASSES: dict[type[serializers.Field[Any, Any, Any, Any]], type[Any]] = {}


def parsed_field_class(
    field_class: type[serializers.Field[Any, Any, Any, Any]],
) -> type[Any]:
    if field_class not in _PARSED_CLASSES:
        name = f"Parsed{field_class.__name__}"
        parsed_class = type(name, (ParsedFieldMixin, field_class), {})
        if issubclass(field_class, serializers.JSONField):
            # A JSON column of a record holds an object, never any JSON value: say so.
            parsed_class = extend_schema_field(OpenApiTypes.OBJECT)(parsed_class)
        _PARSED_CLASSES[field_class] = parsed_class
    return _PARSED_CLASSES[field_class]


class RecordSerializer(
    StrictInputMixin,
    FastRepresentationMixin,
    serializers.ModelSerializer[ModelT],
    Generic[ModelT],
):
    """The HTTP shape of a record: refuses unknown and read-only fields, parses the rest.

    Every writable column is parsed by the parser of its rule (`field_rule`), as in the bulk
    upsert. The serializer holds no rule of the record: the services check the invariants,
    external ids and relations (services/rules.py) on the values the row would hold.
    """

    serializer_related_field = TenantRelatedField

    def build_standard_field(
        self, field_name: str, model_field: models.Field[Any, Any]
    ) -> tuple[type[serializers.Field[Any, Any, Any, Any]], dict[str, Any]]:
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if kwargs.get("read_only"):
            return field_class, kwargs
        return parsed_field_class(field_class), {**kwargs, "rule": field_rule(model_field)}


class RecordViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    GenericViewSet,
):
    """List (filters, search, keyset cursor pages), retrieve, create, update and delete.

    The queryset reads the request's tenant schema, so another tenant's id is a 404. Writes go
    through the record services, which mark the touched accounts for rescoring.
    """

    filter_backends = [FilterBackend, SearchFilter, KeysetOrdering]
    pagination_class = KeysetCursorPagination
    ordering = "-id"
    ordering_fields: ClassVar[tuple[str, ...]] = ()
    model: ClassVar[type[models.Model]]

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        serializer.instance = record_create(model=self.model, data=serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        assert isinstance(serializer.instance, models.Model)
        serializer.instance = record_update(
            instance=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: models.Model) -> None:
        record_delete(instance=instance)
