"""Play pages: list, create and edit (checked by the API's own serializer), the draft / active /
disabled switch, a dry run on one account, the audience preview and the run audit.

Reading plays needs only to be signed in; dry runs need the member level; editing and
switching need the manager level (as in the API, see apps.squads.access).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.models import Account, LifecycleStage
from apps.squads import plays, selectors
from apps.squads.access import actor_for_user
from apps.squads.models import (
    OPEN_STATUSES,
    PermissionLevel,
    Play,
    PlayRun,
    PlayStatus,
    Squad,
    TriggerKind,
)
from apps.squads.serializers import PlaySerializer, PlayUpdateSerializer
from apps.squads.triggers import CONFIG
from fullfield.errors import DomainError

View = Callable[..., HttpResponse]
RUNS_SHOWN = 20
AUDIENCE_KEYS = tuple(selectors.ACCOUNT_FILTER_LOOKUPS)


def level_required(level: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            actor = actor_for_user(request.user)  # type: ignore[arg-type]
            if not actor.at_least(level):
                raise PermissionDenied(
                    f"This needs the {level} permission level; you have {actor.level}."
                )
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _play(play_id: int) -> Play:
    play = selectors.play_list().filter(pk=play_id).first()
    if play is None:
        raise Http404("No such play.")
    return play


# --- the form: fields of the page <-> the API's body -----------------------------------------


def _number_or_text(text: str) -> int | str:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() and len(text) < 12 else text


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def body_from_form(data: QueryDict, *, creating: bool) -> dict[str, Any]:
    """The API body a play form describes (the serializer then judges it)."""
    trigger = data.get("trigger", "")
    config: dict[str, Any] = {}
    for key in CONFIG.get(trigger, {}):
        value = data.get(f"trigger_config-{key}", "").strip()
        if value:
            config[key] = _number_or_text(value)
    audience: dict[str, Any] = {}
    for key in AUDIENCE_KEYS:
        values = _list(data.get(f"audience-{key}", ""))
        if values:
            audience[key] = values
    if data.get("audience-squad_accounts_only") == "on":
        audience["squad_accounts_only"] = True
    template: dict[str, Any] = {"title": data.get("item-title", "").strip()}
    if description := data.get("item-description", "").strip():
        template["description"] = description
    checklist = [line.strip() for line in data.get("item-checklist", "").splitlines()]
    if any(checklist):
        template["checklist"] = [line for line in checklist if line]
    if due := data.get("item-due_in_days", "").strip():
        template["due_in_days"] = _number_or_text(due)
    if kind := data.get("item-kind", "").strip():
        template["kind"] = kind
    body: dict[str, Any] = {
        "name": data.get("name", "").strip(),
        "description": data.get("description", "").strip(),
        "trigger": trigger,
        "trigger_config": config,
        "audience": audience,
        "item_template": template,
        "set_lifecycle_stage": data.get("set_lifecycle_stage", ""),
        "send_webhook": data.get("send_webhook") == "on",
        "reenrol_max": _number_or_text(data.get("reenrol_max", "1")),
        "reenrol_window_days": _number_or_text(data.get("reenrol_window_days", "30")),
    }
    if creating:
        body["squad"] = _number_or_text(data.get("squad", ""))
    return body


def _joined(values: Any) -> str:
    if not values:
        return ""
    return ", ".join(str(v) for v in (values if isinstance(values, list) else [values]))


def values_from_play(play: Play | None) -> dict[str, Any]:
    """What the form fields show for a play (or a new one)."""
    if play is None:
        return {
            "name": "",
            "description": "",
            "squad": "",
            "trigger": TriggerKind.HEALTH_BAND_CHANGED.value,
            "trigger_config": {"to_band": "poor"},
            "audience": dict.fromkeys(AUDIENCE_KEYS, ""),
            "squad_accounts_only": False,
            "item": {"title": "Health fell to poor at {account}", "checklist": "", "kind": ""},
            "set_lifecycle_stage": "",
            "send_webhook": False,
            "reenrol_max": 1,
            "reenrol_window_days": 30,
        }
    template = play.item_template or {}
    return {
        "name": play.name,
        "description": play.description,
        "squad": play.squad_id,
        "trigger": play.trigger,
        "trigger_config": play.trigger_config,
        "audience": {key: _joined(play.audience.get(key)) for key in AUDIENCE_KEYS},
        "squad_accounts_only": bool(play.audience.get("squad_accounts_only")),
        "item": {
            "title": template.get("title", ""),
            "description": template.get("description", ""),
            "checklist": "\n".join(template.get("checklist", [])),
            "due_in_days": template.get("due_in_days", ""),
            "kind": template.get("kind", ""),
        },
        "set_lifecycle_stage": play.set_lifecycle_stage,
        "send_webhook": play.send_webhook,
        "reenrol_max": play.reenrol_max,
        "reenrol_window_days": play.reenrol_window_days,
    }


def values_from_post(data: QueryDict) -> dict[str, Any]:
    trigger = data.get("trigger", "")
    return {
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "squad": data.get("squad", ""),
        "trigger": trigger,
        "trigger_config": {
            key: data.get(f"trigger_config-{key}", "") for key in CONFIG.get(trigger, {})
        },
        "audience": {key: data.get(f"audience-{key}", "") for key in AUDIENCE_KEYS},
        "squad_accounts_only": data.get("audience-squad_accounts_only") == "on",
        "item": {
            name: data.get(f"item-{name}", "")
            for name in ("title", "description", "checklist", "due_in_days", "kind")
        },
        "set_lifecycle_stage": data.get("set_lifecycle_stage", ""),
        "send_webhook": data.get("send_webhook") == "on",
        "reenrol_max": data.get("reenrol_max", ""),
        "reenrol_window_days": data.get("reenrol_window_days", ""),
    }


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as {"item_template.title": [...], ...}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for inner, messages_ in _flatten(value, name).items():
                flat.setdefault(inner, []).extend(messages_)
    elif isinstance(errors, list):
        for value in errors:
            if isinstance(value, Mapping | list):
                for inner, messages_ in _flatten(value, prefix).items():
                    flat.setdefault(inner, []).extend(messages_)
            else:
                flat.setdefault(prefix or "form", []).append(str(value))
    else:
        flat.setdefault(prefix or "form", []).append(str(errors))
    return flat


def trigger_fields(trigger: str, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "required": required,
            "expected": expected,
            "value": values.get(key, ""),
        }
        for key, (required, _check, expected) in CONFIG.get(trigger, {}).items()
    ]


def _form_context(
    values: dict[str, Any], errors: dict[str, list[str]], play: Play | None
) -> dict[str, Any]:
    return {
        "play": play,
        "values": values,
        "errors": errors,
        "squads": Squad.objects.order_by("name"),
        "triggers": TriggerKind.choices,
        "trigger_fields": trigger_fields(values["trigger"], values["trigger_config"]),
        "audience_keys": AUDIENCE_KEYS,
        "stages": LifecycleStage.choices,
    }


# --- pages ------------------------------------------------------------------------------------


@login_required
@require_GET
def play_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    listed = selectors.play_list().annotate(
        open_items=Count("items", filter=Q(items__status__in=OPEN_STATUSES), distinct=True),
        last_run=Max("runs__ran_at"),
    )
    if status in PlayStatus.values:
        listed = listed.filter(status=status)
    actor = actor_for_user(request.user)  # type: ignore[arg-type]
    context = {
        "plays": listed.order_by("name", "pk"),
        "status": status,
        "statuses": PlayStatus.choices,
        "can_edit": actor.at_least(PermissionLevel.MANAGER),
    }
    return render(request, "squads/plays.html", context)


@level_required(PermissionLevel.MANAGER)
@require_http_methods(["GET", "POST"])
def play_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        values = values_from_play(None)
        first = Squad.objects.order_by("name").values_list("pk", flat=True).first()
        values["squad"] = first or ""
        return render(request, "squads/plays_edit.html", _form_context(values, {}, None))
    serializer = PlaySerializer(data=body_from_form(request.POST, creating=True))
    if serializer.is_valid():
        play = plays.play_create(data=serializer.validated_data)
        messages.success(request, f"“{play.name}” is saved as a draft: it creates no items yet.")
        return HttpResponseRedirect(reverse("plays-detail", args=[play.pk]))
    context = _form_context(values_from_post(request.POST), _flatten(serializer.errors), None)
    return render(request, "squads/plays_edit.html", context, status=400)


@level_required(PermissionLevel.MANAGER)
@require_http_methods(["GET", "POST"])
def play_edit(request: HttpRequest, play_id: int) -> HttpResponse:
    play = _play(play_id)
    if request.method == "GET":
        return render(
            request, "squads/plays_edit.html", _form_context(values_from_play(play), {}, play)
        )
    serializer = PlayUpdateSerializer(
        instance=play, data=body_from_form(request.POST, creating=False), partial=True
    )
    if serializer.is_valid():
        plays.play_update(play=play, data=serializer.validated_data)
        messages.success(request, f"“{play.name}” is saved.")
        return HttpResponseRedirect(reverse("plays-detail", args=[play.pk]))
    values = values_from_post(request.POST)
    values["squad"] = play.squad_id
    context = _form_context(values, _flatten(serializer.errors), play)
    return render(request, "squads/plays_edit.html", context, status=400)


@login_required
@require_GET
def play_trigger_fields(request: HttpRequest) -> HttpResponse:
    """The configuration fields of the trigger chosen (the form swaps them in)."""
    trigger = request.GET.get("trigger", "")
    values = {**values_from_play(None), "trigger": trigger, "trigger_config": {}}
    return render(request, "squads/plays_edit.html#trigger-fields", _form_context(values, {}, None))


def _detail_context(request: HttpRequest, play: Play) -> dict[str, Any]:
    actor = actor_for_user(request.user)  # type: ignore[arg-type]
    runs = PlayRun.objects.filter(play=play).order_by("-ran_at", "-pk")[:RUNS_SHOWN]
    return {
        "play": play,
        "runs": runs,
        "can_edit": actor.at_least(PermissionLevel.MANAGER),
        "can_dry_run": actor.at_least(PermissionLevel.MEMBER),
        "trigger_label": TriggerKind(play.trigger).label,
        "audience_text": _audience_text(play.audience),
    }


def _audience_text(audience: Mapping[str, Any]) -> str:
    parts = [f"{key}: {_joined(audience.get(key))}" for key in AUDIENCE_KEYS if audience.get(key)]
    if audience.get("squad_accounts_only"):
        parts.append("only the squad's own accounts")
    return "; ".join(parts) or "every account not churned"


@login_required
@require_GET
def play_detail(request: HttpRequest, play_id: int) -> HttpResponse:
    play = _play(play_id)
    return render(request, "squads/plays_detail.html", _detail_context(request, play))


@login_required
@require_GET
def play_preview(request: HttpRequest, play_id: int) -> HttpResponse:
    play = _play(play_id)
    context = {**_detail_context(request, play), "preview": plays.play_preview(play=play)}
    return render(request, "squads/plays_detail.html#preview", context)


@level_required(PermissionLevel.MEMBER)
@require_POST
def play_dry_run(request: HttpRequest, play_id: int) -> HttpResponse:
    play = _play(play_id)
    raw = request.POST.get("account", "").strip()
    account = (
        Account.objects.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 19 else None
    )
    context = _detail_context(request, play)
    if account is None:
        context["dry_run_error"] = f"No account with id “{raw}”." if raw else "Give an account id."
        status = 400
    else:
        run = plays.play_dry_run(play=play, account=account)
        decision = run.decisions.get(str(account.pk))
        context.update({"dry_run": run, "dry_run_account": account, "decision": decision})
        status = 200
    template = "squads/plays_detail.html"
    return render(
        request, f"{template}#dry-run" if _is_htmx(request) else template, context, status=status
    )


@level_required(PermissionLevel.MANAGER)
@require_POST
def play_switch(request: HttpRequest, play_id: int) -> HttpResponse:
    """Draft, active or disabled (disabling dismisses the play's open items with the reason)."""
    play = _play(play_id)
    target = request.POST.get("status", "")
    try:
        if target == PlayStatus.ACTIVE:
            plays.play_activate(play=play)
            messages.success(request, f"“{play.name}” is active: it creates work items.")
        elif target == PlayStatus.DRAFT:
            plays.play_to_draft(play=play)
            messages.success(request, f"“{play.name}” is a draft again: it creates no items.")
        elif target == PlayStatus.DISABLED:
            reason = request.POST.get("reason", "").strip()[:300] or "Disabled in the plays page."
            closed = plays.play_disable(play=play, reason=reason, actor_user_id=request.user.pk)
            messages.success(
                request, f"“{play.name}” is disabled; {closed} open items were dismissed."
            )
        else:
            messages.error(request, "Choose draft, active or disabled.")
    except DomainError as error:
        messages.error(request, error.message)
    return HttpResponseRedirect(reverse("plays-detail", args=[play.pk]))
