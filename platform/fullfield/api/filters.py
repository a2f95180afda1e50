"""Filter building blocks shared by every app's list endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.filterset import BaseFilterSet
from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from django_filters.utils import translate_validation

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class UtcIsoDateTimeField(IsoDateTimeField):  # type: ignore[misc]  # django-filter ships no types
    """An ISO 8601 date-time, handed to the database in UTC.

    Python accepts UTC offsets up to 24 hours, PostgreSQL only up to 15:59, so a value like
    `...-19:43` must be converted here rather than passed through (it would be a server error).
    """

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Date and time out of range.") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]  # django-filter ships no types
    field_class: Any = UtcIsoDateTimeField


_BASE_FORMS = (BaseFilterSet.form, FilterSet.form)


def filters_nothing(filterset_class: type[BaseFilterSet], params: Mapping[str, Any]) -> bool:
    """Whether `filterset_class` is sure to pass its queryset through for these parameters.

    True when no parameter name starts with a filter's name (multi-value widgets read
    `<name>_<suffix>`), no filter is required, and the filterset keeps django-filter's own
    validation and filtering: then every filter gets an empty value, and skips it.
    """
    names = tuple(filterset_class.base_filters)
    if any(key.startswith(names) for key in params):
        return False
    kind = filterset_class
    return (
        kind.qs is BaseFilterSet.qs
        and kind.filter_queryset is BaseFilterSet.filter_queryset
        and kind.is_valid is BaseFilterSet.is_valid
        and kind.get_form_class is BaseFilterSet.get_form_class
        and kind.form in _BASE_FORMS
        and kind._meta.form is forms.Form
        and not any(item.extra.get("required") for item in kind.base_filters.values())
    )


class FilterBackend(DjangoFilterBackend):  # type: ignore[misc]  # django-filter ships no types
    """django-filter's backend, without building the filter form when no parameter names a filter.

    The form (copies of every filter and field, then validation) costs about as much as
    serializing a page, for a list requested without filters, the most common request.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or filters_nothing(filterset_class, request.query_params):
            return queryset
        filterset = filterset_class(**self.get_filterset_kwargs(request, queryset, view))
        if not filterset.is_valid() and self.raise_exception:
            raise translate_validation(filterset.errors)
        return filterset.qs
