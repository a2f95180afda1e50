"""The tenant-admin page for people: list, invite, role and level, deactivate."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from apps.squads.models import FunctionalRole, PermissionLevel
from fullfield.errors import DomainError
from fullfield.users.models import User
from fullfield.web.access import tenant_admin_required
from fullfield.web.user_admin import people_list, user_access_set, user_active_set, user_invite

LEVEL_HELP = (
    "Read only reads; member works their squads' queues; manager runs squads, queues and plays "
    "and works every queue; admin also manages settings, keys and people."
)


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    full_name = forms.CharField(label="Name", max_length=200, required=False)
    role = forms.ChoiceField(label="Functional role", choices=FunctionalRole.choices)
    level = forms.ChoiceField(
        label="Permission level",
        choices=PermissionLevel.choices,
        initial=PermissionLevel.MEMBER,
        help_text=LEVEL_HELP,
    )


class AccessForm(forms.Form):
    role = forms.ChoiceField(choices=FunctionalRole.choices)
    level = forms.ChoiceField(choices=PermissionLevel.choices)


def _user(user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return user


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None, prefix="invite")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                invited = user_invite(
                    **form.cleaned_data,
                    invited_by=request.user,  # type: ignore[arg-type]
                    base_url=f"{request.scheme}://{request.get_host()}",
                )
            except DomainError as error:
                for field, field_messages in error.fields.items():
                    for message in field_messages:
                        form.add_error(field if field in form.fields else None, message)
                status = error.status_code
            else:
                messages.success(
                    request,
                    f"{invited.email} is invited: an email with a sign-in link is on its way.",
                )
                return HttpResponseRedirect(reverse("users"))
        else:
            status = 400
    context = {
        "people": people_list(),
        "form": form,
        "roles": FunctionalRole.choices,
        "levels": PermissionLevel.choices,
        "level_help": LEVEL_HELP,
    }
    return render(request, "web/users.html", context, status=status)


@tenant_admin_required
@require_POST
def user_access(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _user(user_id)
    form = AccessForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role and a level from the lists.")
        return HttpResponseRedirect(reverse("users"))
    try:
        user_access_set(
            user=user,
            role=form.cleaned_data["role"],
            level=form.cleaned_data["level"],
            by=request.user,  # type: ignore[arg-type]
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{user.display_name}: role and level saved.")
    return HttpResponseRedirect(reverse("users"))


@tenant_admin_required
@require_POST
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user = _user(user_id)
    active = request.POST.get("active") == "1"
    try:
        user_active_set(user=user, active=active, by=request.user)  # type: ignore[arg-type]
    except DomainError as error:
        messages.error(request, error.message)
    else:
        state = "active again" if active else "deactivated: they can no longer sign in"
        messages.success(request, f"{user.display_name} is {state}.")
    return HttpResponseRedirect(reverse("users"))
