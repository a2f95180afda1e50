"""What every account-record endpoint shares: strict input, tenant-scoped relations, lists.

- A write body naming an unknown or read-only field is refused with a 400 naming the field
  (mass assignment is never silently ignored).
- Related records in bodies are looked up in the request's tenant schema only, so another
  tenant's id reads as "no such record" (400 on the field), never as a leak.
- Record invariants (services/rules.py) are checked on the values the row would hold after
  the write, before the database constraints (which stay as the backstop) can fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, serializers, viewsets
from rest_framework.filters import SearchFilter

from apps.accounts.api.pagination import KeysetCursorPagination, KeysetOrdering
from apps.accounts.services import rules
from apps.accounts.services.records import record_create, record_delete, record_update

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


class RecordSerializer(StrictInputMixin, serializers.ModelSerializer[ModelT], Generic[ModelT]):
    """Strict model serializer: refuses unknown and read-only fields, checks invariants."""

    serializer_related_field = TenantRelatedField
    # Whether the tenant's currency rule applies (the model has a currency field).
    has_currency: ClassVar[bool] = False

    def merged_values(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """The row's values after this write: the stored row, overlaid with the body."""
        model: type[models.Model] = self.Meta.model
        values: dict[str, Any] = {}
        instance = self.instance if isinstance(self.instance, models.Model) else None
        for field in model._meta.concrete_fields:
            if instance is not None:
                value = getattr(instance, field.attname)
            elif field.has_default():
                value = field.get_default()
            else:
                continue
            values[field.attname] = value
            if field.attname != field.name:
                values[field.name] = value
        for name, value in attrs.items():
            if isinstance(value, models.Model):
                values[name] = value.pk
                values[f"{name}_id"] = value.pk
            else:
                values[name] = value
        return values

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.has_currency and self.instance is None and "currency" not in attrs:
            attrs["currency"] = rules.tenant_currency()
        values = self.merged_values(attrs)
        if self.has_currency and "currency" not in attrs:
            # Only money this request sends is held to the tenant's currency.
            values.pop("currency", None)
        errors = rules.record_check(self.Meta.model, values)
        self.check_external_id(values, errors)
        self.check_contact_account(attrs, values, errors)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def check_external_id(self, values: Mapping[str, Any], errors: rules.FieldErrors) -> None:
        external_id = values.get("external_id")
        if not external_id:
            return
        model: type[models.Model] = self.Meta.model
        others = model._default_manager.filter(
            source_system=values.get("source_system") or "api", external_id=external_id
        )
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        other_id = others.values_list("pk", flat=True).first()
        if other_id is not None:
            rules.add_error(
                errors,
                "external_id",
                f"Record {other_id} already has this external_id in this source_system.",
            )

    def check_contact_account(
        self, attrs: Mapping[str, Any], values: Mapping[str, Any], errors: rules.FieldErrors
    ) -> None:
        """A record's contact must be one of the record's account's contacts."""
        if "contact" not in self.fields or not ({"contact", "account"} & set(attrs)):
            return
        contact = attrs.get("contact")
        if contact is None and values.get("contact_id") is not None:
            contact = self.fields["contact"].queryset.filter(pk=values["contact_id"]).first()
        if contact is not None and contact.account_id != values.get("account_id"):
            rules.add_error(errors, "contact", "This contact belongs to another account.")


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

    filter_backends = [DjangoFilterBackend, SearchFilter, KeysetOrdering]
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
