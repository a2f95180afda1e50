"""Actions of the accounts list: saved views (save, delete) and bulk assignment to a squad."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_POST

from apps.accounts.models import Account
from apps.accounts.services.assignment import accounts_assign_squad
from apps.accounts.services.saved_views import saved_view_create, saved_view_delete
from apps.squads import selectors as squad_selectors
from apps.squads.models import Squad
from fullfield.errors import DomainError, NotFound
from fullfield.web.accounts import (
    account_list_context,
    can_assign_squads,
    listing_accounts,
    listing_read,
)

# More ids than this in one request are refused: "all matching the filter" covers big selections.
MAX_SELECTED = 500


def _list_url(query: str) -> str:
    return f"/accounts/?{query}" if query else "/accounts/"


def _query_params(query: str) -> QueryDict:
    params = QueryDict(query.lstrip("?")[:4000], mutable=True)
    params.pop("after", None)
    return params


# --- saved views ----------------------------------------------------------------------------


@login_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    query = request.POST.get("query", "")
    try:
        saved = saved_view_create(
            owner_id=int(request.user.pk or 0),
            name=request.POST.get("name", ""),
            query=query,
            shared=request.POST.get("shared") == "on",
        )
    except DomainError as error:
        context = account_list_context(request, _query_params(query))
        context["save_errors"] = [
            message for field_messages in error.fields.values() for message in field_messages
        ] or [str(error)]
        context["save_name"] = request.POST.get("name", "")[:200]
        return render(request, "web/accounts.html", context, status=400)
    messages.success(request, f"Saved the view “{saved.name}”.")
    return HttpResponseRedirect(_list_url(saved.query))


@login_required
@require_POST
def saved_view_remove(request: HttpRequest, saved_view_id: int) -> HttpResponse:
    try:
        saved_view_delete(owner_id=int(request.user.pk or 0), saved_view_id=saved_view_id)
    except NotFound:
        raise Http404("No such saved view of yours.") from None
    messages.success(request, "Deleted the saved view.")
    return HttpResponseRedirect("/accounts/")


# --- bulk assignment to a squad -----------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _selection(post: QueryDict) -> tuple[QuerySet[Account], int, str]:
    """The chosen accounts, how many they are, and the list's query they were chosen from.

    Account ids of another tenant do not exist in this one: any unknown id is a 404.
    """
    query = post.get("filter", "")
    if post.get("all") == "1":
        try:
            listing = listing_read(_query_params(query))
        except DomainError as error:
            raise _Refused(str(error)) from None
        accounts = listing_accounts(listing)
        return accounts, accounts.count(), query
    raw = post.getlist("account")
    if not raw:
        raise _Refused("Select at least one account, or all accounts matching the filters.")
    if len(raw) > MAX_SELECTED:
        raise _Refused(
            f"Select at most {MAX_SELECTED} accounts one by one; "
            "for more, choose all accounts matching the filters."
        )
    if not all(value.isdigit() and len(value) < 19 for value in raw):
        raise _Refused("An account in the selection is not an account id.")
    ids = {int(value) for value in raw}
    accounts = Account.objects.filter(pk__in=ids)
    if accounts.count() != len(ids):
        raise Http404("An account in the selection does not exist.")
    return accounts, len(ids), query


def _squad(post: QueryDict) -> Squad:
    raw = post.get("squad", "")
    if not raw:
        raise _Refused("Choose the squad to assign the accounts to.")
    if not raw.isdigit() or len(raw) >= 19:
        raise _Refused("The squad is not a squad id.")
    try:
        return squad_selectors.squad_get(squad_id=int(raw))
    except NotFound:
        raise Http404("No such squad.") from None


@login_required
@require_POST
def accounts_assign(request: HttpRequest) -> HttpResponse:
    """First POST: a confirmation naming the squad and the count; POST with confirm=1: the
    assignment, in one UPDATE, then back to the list."""
    if not can_assign_squads(request.user):
        raise PermissionDenied("Assigning accounts to squads needs the manager permission level.")
    post = request.POST
    context: dict[str, Any] = {"filter": post.get("filter", "")}
    try:
        squad = _squad(post)
        accounts, count, query = _selection(post)
    except _Refused as refused:
        context["error"] = refused.message
        return render(request, "web/accounts_assign.html", context, status=400)
    if count == 0:
        context["error"] = "No account matches these filters: nothing to assign."
        return render(request, "web/accounts_assign.html", context, status=400)
    if post.get("confirm") != "1":
        context.update(
            {
                "squad": squad,
                "count": count,
                "all": post.get("all") == "1",
                "account_ids": post.getlist("account"),
            }
        )
        return render(request, "web/accounts_assign.html", context)
    assigned = accounts_assign_squad(accounts=accounts, squad_id=squad.pk)
    noun = "account" if assigned == 1 else "accounts"
    messages.success(request, f"Assigned {assigned} {noun} to {squad.name}.")
    return HttpResponseRedirect(_list_url(query))
