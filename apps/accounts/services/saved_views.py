"""Saved views of the accounts list: a named filter and sort per user, optionally shared."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction

from apps.accounts.models import SavedView
from fullfield.errors import DomainError, NotFound

NAME_MAX_LENGTH = SavedView._meta.get_field("name").max_length or 80
QUERY_MAX_LENGTH = SavedView._meta.get_field("query").max_length or 2000
# A page cursor is a position in one result, not part of what a view means.
DROPPED_PARAMETERS = frozenset(("after", "hx"))


def _clean_query(query: str) -> str:
    pairs = [
        (name, value)
        for name, value in parse_qsl(query.lstrip("?"), keep_blank_values=False)
        if name not in DROPPED_PARAMETERS
    ]
    return urlencode(pairs)


def _name_taken() -> DomainError:
    return DomainError(
        "You already have a saved view with this name.",
        fields={"name": ["You already have a saved view with this name; choose another."]},
    )


@transaction.atomic
def saved_view_create(*, owner_id: int, name: str, query: str, shared: bool) -> SavedView:
    """Raises DomainError naming the field when the name is empty, too long or already one of
    the owner's views (compared without case), or when the query is too long."""
    name = " ".join(name.split())
    if not name:
        raise DomainError("A saved view needs a name.", fields={"name": ["Enter a name."]})
    if len(name) > NAME_MAX_LENGTH:
        raise DomainError(
            "The name is too long.",
            fields={"name": [f"Use at most {NAME_MAX_LENGTH} characters."]},
        )
    cleaned = _clean_query(query)
    if len(cleaned) > QUERY_MAX_LENGTH:
        raise DomainError(
            "These filters are too long to save.",
            fields={"query": [f"At most {QUERY_MAX_LENGTH} characters of filters."]},
        )
    if SavedView.objects.filter(owner_id=owner_id, name__iexact=name).exists():
        raise _name_taken()
    try:
        with transaction.atomic():
            return SavedView.objects.create(
                owner_id=owner_id, name=name, query=cleaned, shared=shared
            )
    except IntegrityError:
        # The same name saved concurrently: the unique constraint decided.
        raise _name_taken() from None


@transaction.atomic
def saved_view_delete(*, owner_id: int, saved_view_id: int) -> None:
    """Only the owner deletes a view; anyone else's (shared or not) is NotFound to them."""
    deleted, _ = SavedView.objects.filter(pk=saved_view_id, owner_id=owner_id).delete()
    if not deleted:
        raise NotFound(f"No saved view {saved_view_id} of yours.")
