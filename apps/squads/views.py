"""Pages of squads: queue triage (keyboard first) and the squads with scorecards and cycles.

Every action goes through the squads services with the signed-in person as the `Actor`, so the
pages obey the same rules as the API (members work their own squads' items; managers and admins
every queue; squads, cycles and replicas are a manager's). A page answers an htmx request with a
named block of its own template.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.squads import selectors, services
from apps.squads.access import Actor, actor_for_user
from apps.squads.models import Cycle, Member, PermissionLevel, Squad, WorkItem
from apps.squads.scorecards import SCORECARD_DAYS, Scorecard, squad_scorecard_stored
from fullfield.errors import DomainError, NotFound
from fullfield.users.models import User
from fullfield.web import charts

TRIAGE_ROWS = 50
POLL_SECONDS = 5
ACTION_VERBS = {
    "claim": "claimed",
    "release": "released",
    "snooze": "snoozed",
    "complete": "completed",
    "assign": "assigned",
}
SNOOZE_CHOICES = [
    ("1h", "For 1 hour"),
    ("4h", "For 4 hours"),
    ("1d", "Until tomorrow, this time"),
    ("3d", "For 3 days"),
    ("1w", "For a week"),
]
SNOOZE_DELTAS = {
    "1h": dt.timedelta(hours=1),
    "4h": dt.timedelta(hours=4),
    "1d": dt.timedelta(days=1),
    "3d": dt.timedelta(days=3),
    "1w": dt.timedelta(weeks=1),
}


def _actor(request: HttpRequest) -> Actor:
    user = request.user
    assert isinstance(user, User)
    return actor_for_user(user)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


# --- queue triage --------------------------------------------------------------------------


def _triage_view(request: HttpRequest, actor: Actor) -> dict[str, Any]:
    """Which items the page shows, from its query string (bad values fall back to defaults)."""
    member = actor.member
    every_squad = actor.at_least(PermissionLevel.MANAGER) and not (
        member is not None and member.memberships.exists()
    )
    squads = list(selectors.triage_squads(member=member, every_squad=every_squad))
    squad_ids = [squad.pk for squad in squads]
    scope = request.GET.get("scope", "")
    chosen = next((squad for squad in squads if str(squad.pk) == scope), None)
    mine_only = scope == "mine"
    sort = request.GET.get("sort", "")
    sort = sort if sort in selectors.TRIAGE_SORTS else "priority"
    query = "&".join(
        part for part in (f"scope={scope}" if (chosen or mine_only) else "", f"sort={sort}") if part
    )
    return {
        "squads": squads,
        "squad_ids": [chosen.pk] if chosen else squad_ids,
        "scope": "mine" if mine_only else (str(chosen.pk) if chosen else "all"),
        "mine_only": mine_only,
        "sort": sort,
        "query": query,
    }


def _triage_context(request: HttpRequest, actor: Actor) -> dict[str, Any]:
    view = _triage_view(request, actor)
    items = selectors.triage_items(
        member=actor.member,
        squad_ids=view["squad_ids"],
        mine_only=view["mine_only"],
        sort=view["sort"],
    )
    rows = list(items[:TRIAGE_ROWS])
    now = timezone.now()
    total, overdue = selectors.triage_counts(items, now=now)
    return {
        **view,
        "rows": rows,
        "total": total,
        "more": total > len(rows),
        "overdue": overdue,
        "now": now,
        "member": actor.member,
        "can_work": actor.at_least(PermissionLevel.MEMBER) and actor.member is not None,
        "poll_seconds": POLL_SECONDS,
        "memberships": list(
            selectors.squads_memberships(squad_ids=[squad.pk for squad in view["squads"]])
        ),
        "snooze_choices": SNOOZE_CHOICES,
    }


@login_required
@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    context = _triage_context(request, _actor(request))
    name = "squads/triage.html#triage" if _is_htmx(request) else "squads/triage.html"
    return render(request, name, context)


class ActionForm(forms.Form):
    action = forms.ChoiceField(choices=[(name, name) for name in ACTION_VERBS])
    item = forms.TypedMultipleChoiceField(coerce=int, choices=[])
    until = forms.ChoiceField(choices=SNOOZE_CHOICES, required=False)
    outcome = forms.CharField(max_length=300, required=False, strip=True)
    effort_minutes = forms.IntegerField(min_value=0, max_value=10_000, required=False)
    assignee = forms.ModelChoiceField(queryset=Member.objects.all(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any whole number is a candidate; whether it is an item of this tenant is the view's.
        field = self.fields["item"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.valid_value = lambda value: str(value).isdigit() and len(str(value)) < 19  # type: ignore[method-assign]

    def clean_item(self) -> list[int]:
        items: list[int] = self.cleaned_data["item"]
        if len(items) > services.BULK_MAX_ITEMS:
            raise forms.ValidationError(f"At most {services.BULK_MAX_ITEMS} items at once.")
        return items

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == "snooze" and not data.get("until"):
            self.add_error("until", "Choose how long to snooze.")
        if action == "complete":
            if not data.get("outcome"):
                self.add_error("outcome", "Say what came of it.")
            if data.get("effort_minutes") is None:
                self.add_error("effort_minutes", "Give the effort in minutes (0 if none).")
        if action == "assign" and data.get("assignee") is None:
            self.add_error("assignee", "Choose a member.")
        return data

    def params(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "until": timezone.now() + SNOOZE_DELTAS[data["until"]] if data.get("until") else None,
            "outcome": data.get("outcome") or "",
            "effort_minutes": data.get("effort_minutes") or 0,
            "assignee": data.get("assignee"),
        }

    def error_text(self) -> str:
        return " ".join(str(message) for messages in self.errors.values() for message in messages)


def _summary(action: str, result: services.BulkResult, titles: dict[int, str]) -> str:
    verb = ACTION_VERBS[action]
    if len(titles) == 1:
        item_id = next(iter(titles))
        if result.succeeded:
            return f"“{titles[item_id]}” {verb}."
        return result.failed[item_id]
    parts = [f"{len(result.succeeded)} item{'s' if len(result.succeeded) != 1 else ''} {verb}."]
    if result.failed:
        reasons = "; ".join(
            f"“{titles[item_id]}”: {reason}" for item_id, reason in result.failed.items()
        )
        parts.append(f"{len(result.failed)} refused: {reasons}")
    return " ".join(parts)


@login_required
@require_POST
def triage_action(request: HttpRequest) -> HttpResponse:
    """Claim, release, snooze, complete or assign one item or the selected ones."""
    actor = _actor(request)
    form = ActionForm(request.POST)
    if not form.is_valid():
        return _after_action(request, actor, form.error_text(), error=True, status=400)
    action: str = form.cleaned_data["action"]
    item_ids: list[int] = form.cleaned_data["item"]
    titles = dict(WorkItem.objects.filter(pk__in=item_ids).values_list("pk", "title"))
    if len(titles) != len(set(item_ids)):
        raise Http404("No such work item.")
    result = services.work_items_bulk(
        actor=actor, action=action, item_ids=item_ids, params=form.params()
    )
    status = 200
    if not result.succeeded and result.failed_status:
        status = next(iter(result.failed_status.values()))
    message = _summary(action, result, titles)
    return _after_action(request, actor, message, error=bool(result.failed), status=status)


def _after_action(
    request: HttpRequest, actor: Actor, message: str, *, error: bool, status: int
) -> HttpResponse:
    if not _is_htmx(request):
        (messages.error if error else messages.success)(request, message)
        query = _triage_view(request, actor)["query"]
        return HttpResponseRedirect(f"{reverse('triage')}?{query}")
    # The list, and the message out of band, so the next refresh of the list keeps it.
    context = {**_triage_context(request, actor), "message": message, "message_error": error}
    body = render_to_string("squads/triage.html#triage", context, request=request)
    body += render_to_string("squads/triage.html#message", {**context, "oob": True})
    return HttpResponse(body, status=status)


# --- squads --------------------------------------------------------------------------------


def _squad_or_404(squad_id: int) -> Squad:
    try:
        return selectors.squad_get(squad_id=squad_id)
    except NotFound:
        raise Http404("No such squad.") from None


def _require_manager(actor: Actor) -> None:
    if not actor.at_least(PermissionLevel.MANAGER):
        raise PermissionDenied("Only a squad manager or an administrator can do this.")


@login_required
@require_GET
def squad_list(request: HttpRequest) -> HttpResponse:
    squads = list(selectors.squad_overview_list())
    rows = [{"squad": squad, "shape": selectors.squad_shape(squad=squad)} for squad in squads]
    return render(request, "squads/squads.html", {"rows": rows, "now": timezone.now()})


class CycleForm(forms.Form):
    name = forms.CharField(max_length=120)
    goal = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    hypothesis = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, required=False
    )
    starts_on = forms.DateField(label="Starts on", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(
        label="Ends on (its last day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    play_changes = forms.CharField(
        label="Play changes",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
        help_text="What the cycle changes in the squad's plays.",
    )
    status = forms.ChoiceField(
        choices=[(Cycle.Status.PLANNED, "Planned"), (Cycle.Status.ACTIVE, "Active")]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its fields share names with the replicate form's on the same page, not their ids.
        kwargs.setdefault("auto_id", "cycle-%s")
        super().__init__(*args, **kwargs)


class CycleCloseForm(forms.Form):
    lessons = forms.CharField(
        label="Lessons learned", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )


class ReplicateForm(forms.Form):
    name = forms.CharField(label="Name of the new squad", max_length=120)
    mission = forms.CharField(
        label="Mission",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Leave empty to keep this squad's mission.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "replica-%s")
        super().__init__(*args, **kwargs)


def _add_domain_error(form: forms.BaseForm, error: DomainError) -> None:
    for field, field_messages in error.fields.items():
        for text in field_messages:
            form.add_error(field if field in form.fields else None, text)
    if not error.fields:
        form.add_error(None, error.message)


def _scorecard_charts(card: Scorecard) -> dict[str, Any]:
    bands = ("poor", "average", "good")
    start, now = card.health_distribution_at_start, card.health_distribution
    health = charts.stacked_bar_chart(
        [
            charts.Stack(
                label=f"{card.start:%d %b}",
                parts=tuple(float(start.get(band, 0)) for band in bands),
                title=f"{card.start:%d %b %Y}: "
                + ", ".join(f"{start.get(band, 0)} {band}" for band in bands),
            ),
            charts.Stack(
                label="Now",
                parts=tuple(float(now.get(band, 0)) for band in bands),
                title="Now: " + ", ".join(f"{now.get(band, 0)} {band}" for band in bands),
            ),
        ],
        series=bands,
        label=f"Covered accounts by health band on {card.start:%d %B} and now",
        width=320,
        height=160,
    )
    work = charts.bar_chart(
        [
            charts.Point("Opened", card.items_opened, f"{card.items_opened} items opened"),
            charts.Point("Closed", card.items_closed, f"{card.items_closed} items completed"),
            charts.Point(
                "Dismissed", card.items_dismissed, f"{card.items_dismissed} items dismissed"
            ),
            charts.Point("Saves", card.saves, f"{card.saves} accounts saved from poor health"),
        ],
        label=f"Work items opened, completed and dismissed, and saves, over {SCORECARD_DAYS} days",
        width=320,
        height=160,
    )
    return {"health_chart": health, "work_chart": work}


def _squad_page(
    request: HttpRequest,
    squad: Squad,
    actor: Actor,
    *,
    cycle_form: CycleForm | None = None,
    close_forms: dict[int, CycleCloseForm] | None = None,
    replicate_form: ReplicateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    today = timezone.now().date()
    card, as_of = squad_scorecard_stored(squad=squad)
    memberships = list(squad.memberships.all())
    loads = selectors.member_open_loads(member_ids=[m.member_id for m in memberships])
    cycles = list(selectors.squad_cycles(squad=squad))
    close_forms = close_forms or {}
    context = {
        "squad": squad,
        "shape": selectors.squad_shape(squad=squad),
        "members": [
            {"membership": membership, "load": loads.get(membership.member_id, 0)}
            for membership in sorted(
                memberships, key=lambda m: (not m.is_lead, m.member.user.full_name.lower())
            )
        ],
        "card": card,
        "as_of": as_of,
        "cycles": [
            {"cycle": cycle, "close_form": close_forms.get(cycle.pk) or CycleCloseForm()}
            for cycle in cycles
        ],
        "can_manage": actor.at_least(PermissionLevel.MANAGER),
        "cycle_form": cycle_form
        or CycleForm(
            initial={
                "starts_on": today,
                "ends_on": today + dt.timedelta(days=squad.cycle_length_days - 1),
                "status": Cycle.Status.PLANNED,
            }
        ),
        "replicate_form": replicate_form or ReplicateForm(),
        "scorecard_days": SCORECARD_DAYS,
        **_scorecard_charts(card),
    }
    return render(request, "squads/squad_detail.html", context, status=status)


@login_required
@require_GET
def squad_detail(request: HttpRequest, squad_id: int) -> HttpResponse:
    return _squad_page(request, _squad_or_404(squad_id), _actor(request))


@login_required
@require_http_methods(["POST"])
def cycle_create(request: HttpRequest, squad_id: int) -> HttpResponse:
    squad = _squad_or_404(squad_id)
    actor = _actor(request)
    _require_manager(actor)
    form = CycleForm(request.POST)
    if form.is_valid():
        try:
            services.cycle_create(squad=squad, data=form.cleaned_data)
        except DomainError as error:
            _add_domain_error(form, error)
        else:
            messages.success(request, f"Cycle “{form.cleaned_data['name']}” created.")
            return HttpResponseRedirect(reverse("squad-page", args=[squad.pk]) + "#cycles")
    return _squad_page(request, squad, actor, cycle_form=form, status=400)


@login_required
@require_POST
def cycle_close(request: HttpRequest, squad_id: int, cycle_id: int) -> HttpResponse:
    squad = _squad_or_404(squad_id)
    actor = _actor(request)
    _require_manager(actor)
    cycle = Cycle.objects.filter(pk=cycle_id, squad=squad).first()
    if cycle is None:
        raise Http404("No such cycle.")
    form = CycleCloseForm(request.POST)
    if form.is_valid():
        try:
            services.cycle_close(cycle=cycle, lessons=form.cleaned_data["lessons"])
        except DomainError as error:
            _add_domain_error(form, error)
        else:
            messages.success(request, f"Cycle “{cycle.name}” closed; its outcome is measured.")
            return HttpResponseRedirect(reverse("squad-page", args=[squad.pk]) + "#cycles")
    return _squad_page(request, squad, actor, close_forms={cycle.pk: form}, status=400)


@login_required
@require_POST
def squad_replicate(request: HttpRequest, squad_id: int) -> HttpResponse:
    source = _squad_or_404(squad_id)
    actor = _actor(request)
    _require_manager(actor)
    form = ReplicateForm(request.POST)
    if form.is_valid():
        try:
            replica = services.squad_replicate(
                source=source,
                name=form.cleaned_data["name"],
                mission=form.cleaned_data["mission"] or None,
            )
        except DomainError as error:
            _add_domain_error(form, error)
        else:
            messages.success(
                request,
                f"“{replica.name}” replicates “{source.name}”: its mission, plays (as drafts), "
                "queue policy and cycle cadence. Add its members next.",
            )
            return HttpResponseRedirect(reverse("squad-page", args=[replica.pk]))
    return _squad_page(request, source, actor, replicate_form=form, status=400)
