"""Keyset cursor pages over one ordering field plus the id, with NULLs always last.

DRF's CursorPagination positions on the first ordering field alone and skips ties with an
offset capped at 1,000, so it breaks on values shared by many rows (every account a bulk
upsert created has the same created_at, thousands of deals have amount 0) and on NULLs. Here
the position is the pair (value, id), which is unique, so any field can order a list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Field, Model, Q, QuerySet
from django.db.models.expressions import OrderBy
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from apps.accounts.cursors import cursor_decode, cursor_encode
from fullfield.api.pagination import CursorPagination

if TYPE_CHECKING:
    from rest_framework.views import APIView

ORDERING_PARAM = "ordering"


def _invalid_cursor() -> exceptions.ValidationError:
    return exceptions.ValidationError({"cursor": ["Invalid cursor."]})


class KeysetOrdering(BaseFilterBackend):
    """`?ordering=<field>` or `-<field>`: one of the view's `ordering_fields`; ties by id."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> tuple[str]:
        default: str = getattr(view, "ordering", "-id")
        allowed: Sequence[str] = getattr(view, "ordering_fields", ())
        term = request.query_params.get(ORDERING_PARAM, "").strip() or default
        if term.removeprefix("-") not in {*allowed, "id"}:
            choices = ", ".join(sorted({*allowed, "id"}))
            raise exceptions.ValidationError(
                {ORDERING_PARAM: [f"Order by one of: {choices} (prefix - for descending)."]}
            )
        return (term,)

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> QuerySet[Any]:
        (term,) = self.get_ordering(request, queryset, view)
        return queryset.order_by(*order_by(queryset.model, term, reverse=False))

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        allowed = sorted({*getattr(view, "ordering_fields", ()), "id"})
        return [
            {
                "name": ORDERING_PARAM,
                "required": False,
                "in": "query",
                "description": (
                    f"Sort by one field, `-` for descending (default `{view.ordering}`); "  # type: ignore[attr-defined]
                    "ties are broken by id and empty values come last."
                ),
                "schema": {
                    "type": "string",
                    "enum": [term for name in allowed for term in (name, f"-{name}")],
                },
            }
        ]


def _nullable(model: type[Model], name: str) -> bool:
    try:
        return bool(model._meta.get_field(name).null)
    except FieldDoesNotExist:
        return False


def order_by(model: type[Model], term: str, *, reverse: bool) -> list[OrderBy]:
    """The ORDER BY of a keyset scan: forward puts NULLs last, the reverse scan first."""
    name = term.removeprefix("-")
    descending = term.startswith("-") != reverse
    nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
    if not _nullable(model, name):
        nulls = {}
    value = F(name).desc(**nulls) if descending else F(name).asc(**nulls)
    identity = F("id").desc() if descending else F("id").asc()
    return [value] if name == "id" else [value, identity]


def after(model: type[Model], term: str, position: tuple[Any, int], *, reverse: bool) -> Q:
    """Rows that come after `position` in the scan order of `order_by(...)`."""
    name = term.removeprefix("-")
    descending = term.startswith("-") != reverse
    nulls_last = not reverse
    comparison = "lt" if descending else "gt"
    value, record_id = position
    if name == "id":
        return Q(**{f"id__{comparison}": record_id})
    nullable = _nullable(model, name)
    if value is None:
        condition = Q(**{f"{name}__isnull": True, f"id__{comparison}": record_id})
        return condition if nulls_last else condition | Q(**{f"{name}__isnull": False})
    condition = Q(**{f"{name}__{comparison}": value}) | Q(
        **{name: value, f"id__{comparison}": record_id}
    )
    if nullable and nulls_last:
        condition |= Q(**{f"{name}__isnull": True})
    return condition


class KeysetCursorPagination(CursorPagination):
    """Cursor pages over (ordering field, id); `next` and `previous` links both work."""

    def paginate_queryset(  # type: ignore[override]
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any]:
        self.request = request
        page_size = self.get_page_size(request) or settings.API_PAGE_SIZE
        self.page_size = page_size
        self.base_url = request.build_absolute_uri()
        assert view is not None, "the ordering comes from the view"
        (term,) = self.get_ordering(request, queryset, view)
        model = queryset.model
        cursor = self._decode(request, model, term)
        reverse = bool(cursor and cursor["reverse"])
        scan = queryset.order_by(*order_by(model, term, reverse=reverse))
        if cursor is not None:
            scan = scan.filter(after(model, term, cursor["position"], reverse=reverse))
        rows = list(scan[: page_size + 1])
        has_more = len(rows) > page_size
        page = rows[:page_size]
        if reverse:
            page.reverse()
        first = self._position(page[0], term) if page else None
        last = self._position(page[-1], term) if page else None
        if reverse:
            self.next_cursor = self._encode(last, term, reverse=False) if last else None
            self.previous_cursor = self._encode(first, term, reverse=True) if has_more else None
        else:
            self.next_cursor = self._encode(last, term, reverse=False) if has_more else None
            self.previous_cursor = (
                self._encode(first, term, reverse=True) if cursor is not None and first else None
            )
        self.page = page
        return page

    def get_next_link(self) -> str | None:
        return self._link(self.next_cursor)

    def get_previous_link(self) -> str | None:
        return self._link(self.previous_cursor)

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None or self.base_url is None:
            return None
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)

    @staticmethod
    def _position(instance: Any, term: str) -> tuple[Any, int]:
        name = term.removeprefix("-")
        return getattr(instance, name), int(instance.pk)

    @staticmethod
    def _encode(position: tuple[Any, int] | None, term: str, *, reverse: bool) -> str | None:
        if position is None:
            return None
        value, record_id = position
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif value is not None and not isinstance(value, bool | int | float | str):
            value = str(value)  # Decimal
        return cursor_encode({"o": term, "v": value, "i": record_id, "r": int(reverse)})

    def _decode(self, request: Request, model: type[Model], term: str) -> dict[str, Any] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        try:
            data = cursor_decode(encoded)
            if data["o"] != term:
                raise exceptions.ValidationError(
                    {"cursor": ["This cursor belongs to another ordering; start again without it."]}
                )
            record_id = int(data["i"])
            value = data["v"]
            name = term.removeprefix("-")
            if value is not None:
                field = cast("Field[Any, Any]", model._meta.get_field(name))
                value = field.to_python(value)
        except exceptions.ValidationError:
            raise
        except (
            ValueError,
            TypeError,
            KeyError,
            ValidationError,
            FieldDoesNotExist,
        ):
            raise _invalid_cursor() from None
        return {"position": (value, record_id), "reverse": bool(data.get("r"))}
