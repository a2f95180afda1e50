"""Filter building blocks shared by every app's list endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


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
