"""Integration pages: API keys, CSV imports, Stripe, outbound webhooks and the job log."""

from __future__ import annotations

import orjson
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.integrations.imports.columns import ENTITIES, entity_fields, required_fields
from apps.integrations.imports.selectors import csv_import_get, csv_import_rejected_rows_name
from apps.integrations.imports.services import csv_import_create
from apps.integrations.jobs.selectors import job_list
from apps.integrations.models import ApiKey, Job, WebhookEndpoint
from apps.integrations.services import api_key_create, api_key_revoke
from apps.integrations.stripe.selectors import secret_hint, stripe_connection_get
from apps.integrations.stripe.services import (
    MAX_TOLERANCE_SECONDS,
    MIN_TOLERANCE_SECONDS,
    stripe_connection_delete,
    stripe_connection_set,
)
from apps.integrations.webhooks.event_types import EVENT_TYPES
from apps.integrations.webhooks.selectors import (
    webhook_delivery_list,
    webhook_endpoint_get,
    webhook_endpoint_list,
)
from apps.integrations.webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_send_test,
    webhook_endpoint_update,
)
from fullfield.errors import DomainError, NotFound
from fullfield.web.access import tenant_admin_required

JOB_PAGE_SIZE = 50
DELIVERY_PAGE_SIZE = 50
IMPORTS_SHOWN = 20


def _add_domain_errors(form: forms.Form, error: DomainError) -> None:
    for field, field_messages in error.fields.items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)
    if not error.fields:
        form.add_error(None, error.message)


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _template(request: HttpRequest, name: str, partial: str) -> str:
    """The page, or for an htmx request the named block of the same template."""
    return f"{name}#{partial}" if _is_htmx(request) else name


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(reverse("integrations-imports"))


# --- API keys ------------------------------------------------------------------------------


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=50, help_text="Who or what uses it, e.g. “CRM sync”."
    )
    scope = forms.ChoiceField(
        label="Access",
        choices=[("read", "Read only"), ("read_write", "Read and write")],
        initial="read",
    )


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    created: tuple[ApiKey, str] | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = api_key_create(
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    created_by=request.user,  # type: ignore[arg-type]
                )
                form = ApiKeyForm()
            except DomainError as error:
                _add_domain_errors(form, error)
                status = 400
        else:
            status = 400
    keys = ApiKey.objects.select_related("created_by").order_by("revoked", "-created")
    context = {
        "section": "api-keys",
        "form": form,
        "keys": keys,
        "created_key": created[1] if created else None,
        "created_name": created[0].name if created else None,
    }
    # The plaintext key is in this response only: never cache it, never store it anywhere.
    response = render(request, "integrations/api_keys.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@tenant_admin_required
@require_POST
def api_key_revoke_view(request: HttpRequest, prefix: str) -> HttpResponse:
    try:
        key = api_key_revoke(prefix=prefix)
    except NotFound:
        raise Http404("No such API key.") from None
    if _is_htmx(request):
        return render(request, "integrations/api_keys.html#key-row", {"key": key})
    messages.success(request, f"The key “{key.name}” is revoked.")
    return HttpResponseRedirect(reverse("integrations-api-keys"))


# --- CSV imports ---------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, with a header row.")
    entity = forms.ChoiceField(
        label="The rows are", choices=[(entity, entity.capitalize()) for entity in ENTITIES]
    )
    mapping = forms.CharField(required=False, widget=forms.HiddenInput)
    dry_run = forms.BooleanField(
        label="Dry run: check every row and count what would happen, writing nothing",
        required=False,
    )

    def clean_mapping(self) -> dict[str, str] | None:
        raw = self.cleaned_data.get("mapping") or ""
        if not raw.strip():
            return None
        try:
            mapping = orjson.loads(raw)
        except orjson.JSONDecodeError:
            mapping = None
        if not isinstance(mapping, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in mapping.items()
        ):
            raise forms.ValidationError("The column mapping is damaged; choose the columns again.")
        return {field: header for field, header in mapping.items() if header}


@login_required
@require_http_methods(["GET", "POST"])
def imports(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = csv_import_create(
                    upload=data["file"],
                    entity=data["entity"],
                    mapping=data["mapping"],
                    dry_run=data["dry_run"],
                    source_system=None,
                    api_key=None,
                    created_by_id=request.user.pk,
                )
            except DomainError as error:
                _add_domain_errors(form, error)
                status = error.status_code
            else:
                return HttpResponseRedirect(reverse("integrations-import", args=[job.pk]))
        else:
            status = 400
    fields = {
        entity: {"fields": list(entity_fields(entity)), "required": list(required_fields(entity))}
        for entity in ENTITIES
    }
    context = {
        "section": "imports",
        "form": form,
        "entity_fields": fields,
        "recent": job_list(kind=Job.Kind.CSV_IMPORT).order_by("-pk")[:IMPORTS_SHOWN],
    }
    return render(request, "integrations/imports.html", context, status=status)


@login_required
@require_GET
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = csv_import_get(job_id=job_id)
    except NotFound:
        raise Http404("No such import.") from None
    percent = round(100 * job.processed / job.total) if job.total else 0
    finished = job.status not in (Job.Status.QUEUED, Job.Status.RUNNING)
    context = {
        "section": "imports",
        "job": job,
        "percent": 100 if finished and job.status != Job.Status.FAILED else percent,
        "finished": finished,
        "summary": (job.parameters.get("result") or {}).get("summary", ""),
    }
    template = _template(request, "integrations/import_detail.html", "progress")
    return render(request, template, context)


@login_required
@require_GET
def import_rejected_rows(request: HttpRequest, job_id: int) -> FileResponse:
    try:
        name = csv_import_rejected_rows_name(job_id=job_id)
    except DomainError:
        raise Http404("This import has no rejected rows to download (yet).") from None
    return FileResponse(
        default_storage.open(name, "rb"),
        as_attachment=True,
        filename=f"import-{job_id}-rejected-rows.csv",
        content_type="text/csv; charset=utf-8",
    )


# --- Stripe ----------------------------------------------------------------------------------


class StripeForm(forms.Form):
    endpoint_secret = forms.CharField(
        label="Signing secret",
        max_length=200,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="From the Stripe dashboard: Developers → Webhooks → your endpoint (whsec_…).",
    )
    tolerance_seconds = forms.IntegerField(
        label="Accept events signed up to (seconds ago)",
        min_value=MIN_TOLERANCE_SECONDS,
        max_value=MAX_TOLERANCE_SECONDS,
        initial=300,
    )


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def stripe(request: HttpRequest) -> HttpResponse:
    form = StripeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                stripe_connection_set(
                    endpoint_secret=form.cleaned_data["endpoint_secret"],
                    tolerance_seconds=form.cleaned_data["tolerance_seconds"],
                )
            except DomainError as error:
                _add_domain_errors(form, error)
                status = 400
            else:
                messages.success(request, "Stripe is connected.")
                return HttpResponseRedirect(reverse("integrations-stripe"))
        else:
            status = 400
    connection = stripe_connection_get()
    context = {
        "section": "stripe",
        "form": form,
        "connection": connection,
        "hint": secret_hint(connection.endpoint_secret) if connection else "",
        "webhook_url": request.build_absolute_uri("/api/v1/stripe/webhook/"),
    }
    return render(request, "integrations/stripe.html", context, status=status)


@tenant_admin_required
@require_POST
def stripe_disconnect(request: HttpRequest) -> HttpResponse:
    try:
        stripe_connection_delete()
        messages.success(request, "Stripe is disconnected; its events are refused from now on.")
    except NotFound:
        messages.info(request, "Stripe was not connected.")
    return HttpResponseRedirect(reverse("integrations-stripe"))


# --- outbound webhooks ---------------------------------------------------------------------


class WebhookForm(forms.Form):
    url = forms.URLField(label="Endpoint URL", max_length=500, assume_scheme="https")
    description = forms.CharField(label="Description", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events to send",
        choices=[(name, f"{name}: {meaning}") for name, meaning in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def webhooks(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None)
    created: tuple[WebhookEndpoint, str] | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = webhook_endpoint_create(
                    url=form.cleaned_data["url"],
                    event_types=form.cleaned_data["event_types"],
                    description=form.cleaned_data["description"],
                )
                form = WebhookForm()
            except DomainError as error:
                _add_domain_errors(form, error)
                status = 400
        else:
            status = 400
    context = {
        "section": "webhooks",
        "form": form,
        "endpoints": webhook_endpoint_list().order_by("-created_at"),
        "created": created[0] if created else None,
        "created_secret": created[1] if created else None,
    }
    response = render(request, "integrations/webhooks.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    try:
        return webhook_endpoint_get(endpoint_id=endpoint_id)
    except NotFound:
        raise Http404("No such webhook endpoint.") from None


@tenant_admin_required
@require_GET
def webhook_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(endpoint_id)
    before = request.GET.get("before", "")
    deliveries = webhook_delivery_list(endpoint=endpoint).order_by("-pk")
    if before.isdigit():
        deliveries = deliveries.filter(pk__lt=int(before))
    page = list(deliveries[: DELIVERY_PAGE_SIZE + 1])
    context = {
        "section": "webhooks",
        "endpoint": endpoint,
        "deliveries": page[:DELIVERY_PAGE_SIZE],
        "older": page[DELIVERY_PAGE_SIZE - 1].pk if len(page) > DELIVERY_PAGE_SIZE else None,
    }
    return render(request, "integrations/webhook_detail.html", context)


@tenant_admin_required
@require_POST
def webhook_action(request: HttpRequest, endpoint_id: int, action: str) -> HttpResponse:
    endpoint = _endpoint(endpoint_id)
    if action == "test":
        webhook_endpoint_send_test(endpoint=endpoint)
        messages.success(request, "A test event is on its way; its delivery is listed below.")
    elif action in ("enable", "disable"):
        webhook_endpoint_update(endpoint=endpoint, enabled=action == "enable")
        messages.success(request, f"The endpoint is {action}d.")
    elif action == "delete":
        webhook_endpoint_delete(endpoint=endpoint)
        messages.success(request, "The endpoint is deleted with its delivery log.")
        return HttpResponseRedirect(reverse("integrations-webhooks"))
    else:
        raise Http404("No such action.")
    return HttpResponseRedirect(reverse("integrations-webhook", args=[endpoint.pk]))


# --- the job log ---------------------------------------------------------------------------


@login_required
@require_GET
def jobs(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    kind = kind if kind in Job.Kind.values else ""
    status = status if status in Job.Status.values else ""
    before = request.GET.get("before", "")
    queryset = job_list(kind=kind or None, status=status or None).order_by("-pk")
    if before.isdigit():
        queryset = queryset.filter(pk__lt=int(before))
    page = list(queryset[: JOB_PAGE_SIZE + 1])
    context = {
        "section": "jobs",
        "jobs": page[:JOB_PAGE_SIZE],
        "older": page[JOB_PAGE_SIZE - 1].pk if len(page) > JOB_PAGE_SIZE else None,
        "kind": kind,
        "status": status,
        "kinds": Job.Kind.choices,
        "statuses": Job.Status.choices,
    }
    return render(request, _template(request, "integrations/jobs.html", "job-table"), context)
