"""The Field page: the whole field from lead to renewal, where value leaks, which moments matter;
and the link from any of its numbers to the accounts behind it."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.field import selectors as field_selectors
from apps.accounts.field.selectors import FieldParameters, FieldReport
from apps.accounts.revenue.periods import Period
from apps.squads import selectors as squad_selectors
from fullfield.errors import Conflict, DomainError
from fullfield.web import charts, selectors

PERIODS = tuple((months, f"Last {months} months") for months in (3, 6, 12, 24))
DEFAULT_MONTHS = 12
# A year of a large tenant's field takes seconds to compute: the page keeps each report this
# long and shows when it was computed.
REPORT_CACHE_SECONDS = 300
SHORT_LABELS = {
    "lead": "Leads",
    "converted": "Converted",
    "opportunity_created": "Opportunities",
    "won": "Won",
    "onboarding_started": "Kick-off",
    "live": "Live",
    "adopted": "Adopted",
    "renewed": "Renewed",
    "expanded": "Expanded",
    "contracted": "Contracted",
    "churned": "Churned",
}
LEAK_LABELS = {
    "converted": "Leads never converted",
    "opportunity_created": "Converted, no opportunity",
    "won": "Opportunities lost",
    "onboarding_started": "Won, never onboarded",
    "live": "Onboarding not completed",
    "adopted": "Live, never adopted",
    "contracted": "Contracted",
    "churned": "Churned",
}
LINK_KINDS = ("step", "cohort", "leak", "moment")


@dataclass(frozen=True)
class FieldFilters:
    """What the Field page shows, read from the query string."""

    months: int
    segment: str
    squad: int | None
    today: dt.date

    @property
    def parameters(self) -> FieldParameters:
        start = self.today - dt.timedelta(days=round(self.months * 365 / 12))
        return FieldParameters(
            period=Period(start=start, end=self.today + dt.timedelta(days=1)),
            as_of=self.today,
            segment=self.segment or None,
            squad=self.squad,
        )

    def query(self) -> str:
        pairs = {"months": self.months, "segment": self.segment, "squad": self.squad}
        return urlencode({key: value for key, value in pairs.items() if value not in (None, "")})


def _filters(request: HttpRequest) -> FieldFilters:
    params = request.GET
    months = params.get("months", "")
    squad = params.get("squad", "")
    return FieldFilters(
        months=int(months) if months in {str(value) for value, _ in PERIODS} else DEFAULT_MONTHS,
        segment=params.get("segment", "").strip()[:50],
        squad=int(squad) if squad.isdigit() and len(squad) < 19 else None,
        today=timezone.now().date(),
    )


# --- the link from a number to the accounts behind it -----------------------------------------


@dataclass(frozen=True)
class FieldLink:
    """A number of the Field page, as the accounts list filters by it: `kind` is step, cohort,
    leak or moment; `key` the step (or the moment); `detail` the cohort's month (YYYY-MM-DD) or
    the moment's side (poor or rest)."""

    kind: str
    key: str
    start: dt.date
    end: dt.date
    as_of: dt.date
    segment: str = ""
    squad: int | None = None
    detail: str = ""

    def params(self) -> dict[str, Any]:
        value = f"{self.kind}:{self.key}" + (f":{self.detail}" if self.detail else "")
        return {
            "field": value,
            "field_period": f"{self.start}..{self.end}",
            "field_as_of": str(self.as_of),
            "field_segment": self.segment,
            "field_squad": self.squad,
        }

    def query(self) -> str:
        return urlencode({k: v for k, v in self.params().items() if v not in (None, "")})

    @property
    def description(self) -> str:
        period = f"{self.start:%d %b %Y} to {self.end - dt.timedelta(days=1):%d %b %Y}"
        if self.kind == "step":
            what = f"reached “{SHORT_LABELS.get(self.key, self.key)}”"
        elif self.kind == "leak":
            what = f"leaked at “{LEAK_LABELS.get(self.key, self.key)}”"
        elif self.kind == "cohort":
            month = dt.date.fromisoformat(self.detail)
            what = f"first paid in {month:%B %Y}" + (
                "" if self.key == "accounts" else f", reached “{self.key.replace('_', ' ')}”"
            )
        else:
            side = "a poor response" if self.detail == "poor" else "no poor response"
            what = f"{side} at the moment “{self.key}”"
        scope = "".join(
            [
                f", segment {self.segment}" if self.segment else "",
                f", squad {self.squad}" if self.squad else "",
            ]
        )
        return f"Accounts that {what} ({period}, followed to {self.as_of:%d %b %Y}{scope})"

    def parameters(self) -> FieldParameters:
        return FieldParameters(
            period=Period(start=self.start, end=self.end),
            as_of=self.as_of,
            segment=self.segment or None,
            squad=self.squad,
        )


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FieldLinkRefused(f"Not a date: {value[:20]!r}.") from None


def field_link_parse(params: QueryDict) -> FieldLink | None:
    """The field filter of a query string, or None; DomainError when it is malformed."""
    value = params.get("field", "")
    if not value:
        return None
    kind, _, rest = value.partition(":")
    key, _, detail = rest.partition(":")
    start, _, end = params.get("field_period", "").partition("..")
    squad = params.get("field_squad", "")
    if kind not in LINK_KINDS or not key:
        raise FieldLinkRefused(f"Unknown field filter {value[:40]!r}.")
    if not (squad == "" or (squad.isdigit() and len(squad) < 19)):
        raise FieldLinkRefused("field_squad must be a squad id.")
    link = FieldLink(
        kind=kind,
        key=key[:60],
        start=_date(start),
        end=_date(end),
        as_of=_date(params.get("field_as_of", "")),
        segment=params.get("field_segment", "").strip()[:50],
        squad=int(squad) if squad else None,
        detail=detail[:20],
    )
    if link.end <= link.start:
        raise FieldLinkRefused("The field period ends before it starts.")
    if link.kind == "cohort":
        _date(link.detail)
    if link.kind == "moment" and link.detail not in ("poor", "rest"):
        raise FieldLinkRefused("A moment's side is poor or rest.")
    return link


class FieldLinkRefused(DomainError):
    """A field filter in a query string that names no number of the Field page."""


ViewFunction = TypeVar("ViewFunction", bound=Callable[..., HttpResponseBase])


def refusing_damaged_field_links(view: ViewFunction) -> ViewFunction:
    """A 400 page naming what is wrong with the request's field filter."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except FieldLinkRefused as refused:
            return render(
                request, "web/field_link_refused.html", {"message": refused.message}, status=400
            )

    return cast(ViewFunction, wrapped)


def field_link_account_ids(link: FieldLink) -> list[int]:
    """Ids of the accounts behind one number of the Field page (FieldLinkRefused for a step
    that does not exist; Conflict for money in another currency)."""
    try:
        return _account_ids(link)
    except DomainError as error:
        if isinstance(error, Conflict):
            raise
        raise FieldLinkRefused(error.message) from None


def _account_ids(link: FieldLink) -> list[int]:
    parameters = link.parameters()
    if link.kind == "step":
        return field_selectors.field_step_account_ids(parameters=parameters, step=link.key)
    if link.kind == "leak":
        return field_selectors.field_leak_account_ids(parameters=parameters, step=link.key)
    if link.kind == "cohort":
        return field_selectors.field_cohort_account_ids(
            parameters=parameters, month=dt.date.fromisoformat(link.detail), step=link.key
        )
    return field_selectors.field_moment_account_ids(
        parameters=parameters, moment=link.key, poor=link.detail == "poor"
    )


# --- the page ---------------------------------------------------------------------------------


def _money(amount: Decimal | None) -> str:
    return "—" if amount is None else f"{amount:,.0f}"


def _shade(share: Decimal | None) -> int:
    """A heat level 0..5 for a cohort cell's share."""
    if share is None:
        return 0
    return min(5, int(share * 5 + Decimal("0.5")))


def _main_score(moment: field_selectors.Moment) -> str:
    """The score a moment is mostly asked with, for its sparkline: NPS, else CSAT, else CES."""
    return "nps" if moment.nps is not None else "csat" if moment.csat is not None else "ces"


def field_cache_key(filters: FieldFilters) -> str:
    return f"web:field:{filters.today.isoformat()}:{filters.query()}"


def _report(filters: FieldFilters) -> tuple[FieldReport, dt.datetime]:
    """The report for these filters and when it was computed: like the dashboard's revenue,
    recomputed at most every REPORT_CACHE_SECONDS (cache keys are per tenant), and the page
    says when it was computed."""
    cached = cache.get(field_cache_key(filters))
    if isinstance(cached, tuple) and len(cached) == 2 and isinstance(cached[0], FieldReport):
        return cached[0], cached[1]
    computed = (field_selectors.field_report(parameters=filters.parameters), timezone.now())
    cache.set(field_cache_key(filters), computed, timeout=REPORT_CACHE_SECONDS)
    return computed


def _context(filters: FieldFilters) -> dict[str, Any]:
    parameters = filters.parameters
    report, computed_at = _report(filters)
    period = parameters.period

    def link(kind: str, key: str, detail: str = "") -> str:
        behind = FieldLink(
            kind=kind,
            key=key,
            start=period.start,
            end=period.end,
            as_of=parameters.as_of,
            segment=filters.segment,
            squad=filters.squad,
            detail=detail,
        )
        return f"/accounts/?{behind.query()}"

    steps = [
        {"step": step, "href": link("step", step.key), "short": SHORT_LABELS[step.key]}
        for step in report.funnel.steps
    ]
    funnel = charts.funnel_chart(
        [
            charts.FunnelStep(
                label=SHORT_LABELS[step.key],
                value=float(step.count),
                half=step.half,
                title=f"{step.label}: {step.count:,} ({step.accounts:,} accounts, "
                f"MRR {_money(step.mrr)})",
                href=link("step", step.key),
            )
            for step in report.funnel.steps
        ],
        label=(
            "The field from lead to churn, left to right: "
            + ", ".join(f"{SHORT_LABELS[step.key]} {step.count:,}" for step in report.funnel.steps)
        ),
    )
    cohorts = [
        {
            "cohort": cohort,
            "href": link("cohort", "accounts", cohort.month.isoformat()),
            "cells": [
                {
                    "step": step,
                    "shade": _shade(step.share),
                    "href": link("cohort", step.key, cohort.month.isoformat()),
                }
                for step in cohort.steps
            ],
        }
        for cohort in report.cohorts
        if cohort.group_key is None
    ]
    leaks = [
        {"leak": leak, "label": LEAK_LABELS[leak.step], "href": link("leak", leak.step)}
        for leak in report.leakage
    ]
    moments = [
        {
            "moment": moment,
            "poor_href": link("moment", moment.moment, "poor"),
            "rest_href": link("moment", moment.moment, "rest"),
            "sparkline": charts.sparkline(
                [float(month.responses) for month in moment.trend],
                label=f"Responses per month at {moment.moment}: "
                + ", ".join(f"{month.month:%b} {month.responses}" for month in moment.trend),
            ),
            "score_kind": _main_score(moment),
            "score_sparkline": charts.sparkline(
                [
                    None if value is None else float(value)
                    for value in (getattr(month, _main_score(moment)) for month in moment.trend)
                ],
                label=f"{_main_score(moment).upper()} per month at {moment.moment}: "
                + ", ".join(
                    f"{month.month:%b} {getattr(month, _main_score(moment)) or '—'}"
                    for month in moment.trend
                ),
            ),
        }
        for moment in report.moments
    ]
    valued = [step.equity_as_of for step in report.funnel.steps if step.equity_as_of]
    return {
        "filters": filters,
        "report": report,
        "period": period,
        "period_last_day": period.end - dt.timedelta(days=1),
        "steps": steps,
        "funnel_chart": funnel,
        "cohorts": cohorts,
        "cohort_steps": field_selectors.COHORT_STEPS,
        "leaks": leaks,
        "moments": moments,
        "equity_as_of": max(valued) if valued else None,
        "computed_at": computed_at,
    }


@login_required
@require_GET
def field_page(request: HttpRequest) -> HttpResponse:
    filters = _filters(request)
    try:
        report = _context(filters)
    except DomainError as error:
        # Money in another currency than the tenant's: the report names the records.
        report = {"filters": filters, "error": error.message}
    context = {
        **report,
        "periods": PERIODS,
        "segments": selectors.account_segments(),
        "squads": list(
            squad_selectors.squad_list()
            .prefetch_related(None)
            .order_by("name")
            .values_list("id", "name")
        ),
    }
    template = "web/field.html"
    if request.htmx:  # type: ignore[attr-defined]
        template += "#report"
    return render(request, template, context)
