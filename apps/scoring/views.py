"""Scoring settings pages: health profiles with a live band preview, and churn calibration.

Everyone signed in reads them; tenant admins change profiles, run calibrations and accept
them (the same rule as the API).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.scoring import selectors
from apps.scoring.calibration import calibration_accept
from apps.scoring.calibration_runs import (
    calibration_run_get,
    calibration_run_latest,
    calibration_run_request,
)
from apps.scoring.metrics import METRICS
from apps.scoring.models import Calibration, CalibrationRun, HealthProfile
from apps.scoring.preview import BANDS, BandPreview, health_profile_band_preview
from apps.scoring.profile_form import blank_row, parse, rows_from_components
from apps.scoring.services import health_profile_update
from fullfield.errors import DomainError, NotFound
from fullfield.web import charts
from fullfield.web.access import tenant_admin_required

STALE_RUN = dt.timedelta(minutes=30)
BAND_LABELS = {"poor": "Poor (< 40)", "average": "Average (40 to 69)", "good": "Good (≥ 70)"}


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _profile(profile_id: int) -> HealthProfile:
    try:
        return selectors.health_profile_get(profile_id=profile_id)
    except NotFound:
        raise Http404("No such health profile.") from None


# --- overview: profiles and calibration -----------------------------------------------------


def _latest_calibration() -> Calibration | None:
    return selectors.calibration_list().order_by("-created_at", "-pk").first()


def _report_context(calibration: Calibration | None) -> dict[str, Any]:
    if calibration is None or calibration.status == Calibration.Status.INSUFFICIENT:
        return {}
    report = calibration.report
    deciles = report.get("calibration_by_decile") or []
    chart = charts.grouped_bar_chart(
        [
            charts.Group(
                label=f"D{row['decile']}",
                values=(
                    round(100 * row["predicted_churn_rate"], 1),
                    round(100 * row["observed_churn_rate"], 1),
                ),
            )
            for row in deciles
        ],
        series=("predicted", "observed"),
        label="Predicted and observed churn by decile of predicted risk, in percent",
        unit="%",
    )
    rates = report.get("band_churn_rates") or {}
    samples = report.get("band_samples") or {}
    bands = [
        {
            "band": band,
            "label": BAND_LABELS[band],
            "rate": rates.get(band),
            "samples": samples.get(band),
        }
        for band in BANDS
    ]
    aucs = [
        ("Calibrated score", report.get("auc")),
        ("Current profile (uncalibrated)", report.get("uncalibrated_auc")),
        ("Logistic regression on the raw features", report.get("raw_features_auc")),
        ("Total activity alone", report.get("activity_only_auc")),
    ]
    weights = [
        {
            "key": key,
            "label": METRICS[component["metric"]].label if component else key,
            "now": component["weight"] if component else None,
            "fitted": weight,
        }
        for key, weight in calibration.weights.items()
        for component in [_component(calibration.profile, key)]
    ]
    return {
        "report": report,
        "deciles": deciles,
        "decile_chart": chart,
        "band_rows": bands,
        "aucs": aucs,
        "weights": weights,
    }


def _component(profile: HealthProfile, key: str) -> dict[str, Any] | None:
    return next((c for c in profile.components if c["key"] == key), None)


def _run_context(run: CalibrationRun | None) -> dict[str, Any]:
    # A run whose task was lost (broker down, worker killed) would stay queued or running:
    # after STALE_RUN the page stops following it and offers a new run.
    pending = (
        run is not None
        and run.status in ("queued", "running")
        and run.created_at > timezone.now() - STALE_RUN
    )
    return {"run": run, "run_pending": pending}


@login_required
@require_GET
def scoring_settings(request: HttpRequest) -> HttpResponse:
    calibration = _latest_calibration()
    context = {
        "profiles": selectors.health_profile_list(),
        "calibration": calibration,
        "can_accept": (
            calibration is not None
            and calibration.status == Calibration.Status.FITTED
            and calibration.profile.version == calibration.profile_version
        ),
        **_report_context(calibration),
        **_run_context(calibration_run_latest()),
    }
    return render(request, "scoring/settings.html", context)


@tenant_admin_required
@require_POST
def calibration_start(request: HttpRequest) -> HttpResponse:
    profile_id = request.POST.get("profile") or ""
    horizon = request.POST.get("horizon_days") or "30"
    try:
        profile = _profile(int(profile_id)) if profile_id else None
        run = calibration_run_request(
            profile=profile,
            horizon_days=int(horizon) if horizon.isdigit() else 0,
            user=request.user,  # type: ignore[arg-type]
        )
    except (DomainError, ValueError):
        messages.error(request, "Give a horizon of 1 to 365 days.")
    else:
        messages.success(request, f"Calibration run {run.pk} is queued; this page follows it.")
    return HttpResponseRedirect(reverse("scoring-settings"))


@login_required
@require_GET
def calibration_run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        run = calibration_run_get(run_id=run_id)
    except NotFound:
        raise Http404("No such calibration run.") from None
    template = "scoring/settings.html#run-status" if _is_htmx(request) else "scoring/run.html"
    response = render(request, template, _run_context(run))
    if _is_htmx(request) and run.status in ("finished", "failed"):
        # The report card below the status changed too: reload the page once.
        response["HX-Refresh"] = "true"
    return response


@tenant_admin_required
@require_POST
def calibration_accept_view(request: HttpRequest, calibration_id: int) -> HttpResponse:
    try:
        calibration = selectors.calibration_get(calibration_id=calibration_id)
    except NotFound:
        raise Http404("No such calibration.") from None
    try:
        profile = calibration_accept(calibration=calibration, user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Accepted: “{profile.name}” is now version {profile.version}; every account is "
            "being rescored.",
        )
    return HttpResponseRedirect(reverse("scoring-settings"))


# --- a profile: edit with a live preview -------------------------------------------------------


def _preview_context(profile: HealthProfile, components: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        preview: BandPreview | None = health_profile_band_preview(
            profile=profile, components=components
        )
    except DomainError:
        preview = None
    if preview is None:
        return {"preview": None}
    chart = charts.grouped_bar_chart(
        [
            charts.Group(
                label=BAND_LABELS[band], values=(preview.current[band], preview.draft[band])
            )
            for band in BANDS
        ],
        series=("now", "draft, estimated" if preview.estimated else "draft"),
        label=(
            "Accounts per band, now and with this draft"
            + (
                f" (estimated from {preview.sampled} of {preview.total} accounts)"
                if preview.estimated
                else ""
            )
            + ": "
            + ", ".join(
                f"{band} {preview.current[band]} now, {preview.draft[band]} draft" for band in BANDS
            )
        ),
    )
    rows = [
        {
            "band": band,
            "label": BAND_LABELS[band],
            "now": preview.current[band],
            "draft": preview.draft[band],
            "change": preview.draft[band] - preview.current[band],
        }
        for band in BANDS
    ]
    return {"preview": preview, "preview_chart": chart, "preview_rows": rows}


def _edit_context(profile: HealthProfile, form: Any, status_note: str = "") -> dict[str, Any]:
    return {
        "profile": profile,
        "rows": form.rows,
        "new_row": form.new_row,
        "metrics": METRICS,
        "form_valid": form.is_valid,
        "status_note": status_note,
        "versions": profile.versions.order_by("-version")[:5],
    }


class _Initial:
    def __init__(self, profile: HealthProfile) -> None:
        self.rows = rows_from_components(profile.components)
        self.new_row = blank_row()
        self.is_valid = True


@tenant_admin_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = _profile(profile_id)
    if request.method == "GET":
        # The preview scores every account of the profile: the page comes first, the preview
        # follows with the form's first htmx request.
        context = _edit_context(profile, _Initial(profile))
        context.update({"preview": None, "preview_pending": True})
        return render(request, "scoring/profile_edit.html", context)
    form = parse(request.POST, profile.components)
    if form.is_valid:
        try:
            saved = health_profile_update(
                profile=profile,
                data={"components": form.components},
                user=request.user,  # type: ignore[arg-type]
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                f"Saved as version {saved.version}; every account is being rescored.",
            )
            return HttpResponseRedirect(reverse("scoring-profile", args=[saved.pk]))
    context = _edit_context(profile, form)
    context.update(_preview_context(profile, form.components))
    return render(request, "scoring/profile_edit.html", context, status=400)


@tenant_admin_required
@require_POST
def profile_preview(request: HttpRequest, profile_id: int) -> HttpResponse:
    """The band distribution of the posted draft (the preview block of the edit page)."""
    profile = _profile(profile_id)
    form = parse(request.POST, profile.components)
    context = _edit_context(profile, form)
    context.update(
        _preview_context(profile, form.components) if form.is_valid else {"preview": None}
    )
    return render(request, "scoring/profile_edit.html#preview", context)
