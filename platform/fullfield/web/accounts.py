"""The accounts list (filters, sort, keyset pages, CSV export) and the Account 360 page."""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import orjson
from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Case, Count, F, FloatField, Max, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts import selectors as account_selectors
from apps.accounts.filters import AccountFilter
from apps.accounts.models import Account, LifecycleStage, Opportunity
from apps.integrations.imports.exports import csv_cell_neutralise
from apps.scoring import selectors as scoring_selectors
from apps.squads import selectors as squad_selectors
from apps.squads.access import actor_for_user
from apps.squads.models import PermissionLevel
from fullfield.errors import DomainError, NotFound
from fullfield.users.models import User
from fullfield.web import charts, selectors
from fullfield.web import field as field_pages

PAGE_SIZE = 50
COUNT_CAP = 10_000
TIMELINE_PAGE_SIZE = 25
USAGE_DAYS = 90
HEALTH_TREND_DAYS = 180
WORK_ITEMS_SHOWN = 10
RENEWAL_WINDOWS = (30, 60, 90, 180)


@dataclass(frozen=True)
class Sort:
    key: str
    label: str
    field: str  # the column (or annotation) the keyset runs over, ascending
    kind: type


SORTS = {
    sort.key: sort
    for sort in (
        Sort("name", "Name", "name", str),
        Sort("mrr", "MRR", "current_mrr", Decimal),
        Sort("renewal", "Next renewal", "next_renewal_on", dt.date),
        Sort("created", "Added", "created_at", dt.datetime),
        Sort("score", "Health", "health_score", float),
        Sort("trend", "Trend", "trend_sort", float),
    )
}
BANDS = (("poor", "Poor"), ("average", "Average"), ("good", "Good"))


@dataclass(frozen=True)
class Listing:
    """What the accounts list shows, read from the query string."""

    search: str
    segment: str
    stages: list[str]
    bands: list[str]
    squad: int | None
    renewal_days: int | None
    sort: Sort
    descending: bool
    after: tuple[Any, int] | None
    # The accounts behind a number of the Field page (field_pages.FieldLink), or None.
    field: field_pages.FieldLink | None = None

    @property
    def sort_param(self) -> str:
        return f"-{self.sort.key}" if self.descending else self.sort.key

    def query(self, **changes: Any) -> str:
        """The query string of this listing with some parameters changed (None drops one)."""
        params: dict[str, Any] = {
            "q": self.search,
            "segment": self.segment,
            "stage": self.stages,
            "band": self.bands,
            "squad": self.squad,
            "renewal": self.renewal_days,
            "sort": self.sort_param,
        }
        params.update(self.field.params() if self.field else {})
        params.update(changes)
        pairs: list[tuple[str, Any]] = []
        for name, value in params.items():
            if value in (None, "", []):
                continue
            pairs.extend((name, item) for item in (value if isinstance(value, list) else [value]))
        return urlencode(pairs)


def _encode_cursor(value: Any, account_id: int) -> str:
    raw = orjson.dumps([str(value) if isinstance(value, Decimal) else value, account_id])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_cursor(cursor: str, kind: type) -> tuple[Any, int]:
    try:
        value, account_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if value is None and kind in (dt.date, float):
            pass  # past the last dated renewal or score: among the accounts without one
        elif kind is Decimal:
            value = Decimal(value)
        elif kind is dt.date:
            value = dt.date.fromisoformat(value)
        elif kind is dt.datetime:
            value = dt.datetime.fromisoformat(value)
        elif kind is float:
            value = float(value)
        else:
            value = str(value)
        return value, int(account_id)
    except (ValueError, TypeError, binascii.Error, InvalidOperation, orjson.JSONDecodeError):
        raise DomainError("This page link is damaged.", fields={"after": ["Invalid."]}) from None


def listing_read(params: QueryDict) -> Listing:
    """The listing a query string asks for; DomainError for a damaged page cursor."""
    sort_param = params.get("sort", "name")
    descending = sort_param.startswith("-")
    sort = SORTS.get(sort_param.lstrip("-"), SORTS["name"])
    renewal = params.get("renewal", "")
    renewal_days = int(renewal) if renewal.isdigit() and int(renewal) in RENEWAL_WINDOWS else None
    stages = [stage for stage in params.getlist("stage") if stage in LifecycleStage.values]
    bands = [band for band in params.getlist("band") if band in dict(BANDS)]
    squad = params.get("squad", "")
    after = params.get("after")
    return Listing(
        search=params.get("q", "").strip()[:200],
        segment=params.get("segment", "").strip()[:50],
        stages=stages,
        bands=bands,
        squad=int(squad) if squad.isdigit() and len(squad) < 19 else None,
        renewal_days=renewal_days,
        sort=sort,
        descending=descending,
        after=_decode_cursor(after, sort.kind) if after else None,
        field=field_pages.field_link_parse(params),
    )


def listing_accounts(listing: Listing) -> QuerySet[Account]:
    """Every account the listing's filters match (unordered, all pages)."""
    data: dict[str, Any] = {"segment": listing.segment}
    queryset: QuerySet[Account] = AccountFilter(
        data=data, queryset=account_selectors.account_list()
    ).qs
    if listing.stages:
        # Not the filter set's MultipleChoiceFilter: it adds a DISTINCT over every column,
        # which a plain IN on the account's own column never needs.
        queryset = queryset.filter(lifecycle_stage__in=listing.stages)
    if listing.search:
        queryset = queryset.filter(
            Q(name__icontains=listing.search)
            | Q(domain__icontains=listing.search)
            | Q(external_id=listing.search)
        )
    if listing.renewal_days:
        queryset = selectors.accounts_renewing_within(queryset, days=listing.renewal_days)
    if listing.bands:
        queryset = queryset.filter(health_band__in=listing.bands)
    if listing.field is not None:
        queryset = queryset.filter(pk__in=field_pages.field_link_account_ids(listing.field))
    if listing.squad is not None:
        try:
            squad = squad_selectors.squad_get(squad_id=listing.squad)
        except NotFound:
            return queryset.none()
        queryset = queryset.filter(squad_selectors.squad_accounts_q(squad))
    return queryset


def _with_sort_keys(queryset: QuerySet[Account], listing: Listing) -> QuerySet[Account]:
    if listing.sort.key == "trend":
        # No score a month ago: no change.
        queryset = queryset.annotate(
            trend_sort=Coalesce(F("health_trend"), Value(0.0), output_field=FloatField())
        )
    return queryset


def _beyond(field: str, value: Any, last_id: int, *, descending: bool, nulls_first: bool) -> Q:
    """The rows after (value, last_id) in the order (field, id), both ascending or both
    descending, with NULLs of the field first or last."""
    beyond = "lt" if descending else "gt"
    if value is None:
        after_nulls = Q(**{f"{field}__isnull": True, f"id__{beyond}": last_id})
        return after_nulls | Q(**{f"{field}__isnull": False}) if nulls_first else after_nulls
    later = Q(**{f"{field}__{beyond}": value}) | Q(**{field: value, f"id__{beyond}": last_id})
    return later if nulls_first else later | Q(**{f"{field}__isnull": True})


def _sorted(queryset: QuerySet[Account], listing: Listing) -> QuerySet[Account]:
    """The keyset order of the listing, on an index over (column, id) for name, MRR and renewal
    and over the score for health ascending. Accounts without a renewal date come after every
    dated one ascending, first descending (PostgreSQL's own place for NULLs, the index's order);
    unscored accounts come last either way."""
    queryset = _with_sort_keys(queryset, listing)
    field = listing.sort.field
    nullable = listing.sort.key in ("renewal", "score")
    # NULLs first only where the index order puts them there: renewal, descending.
    nulls_first = listing.sort.key == "renewal" and listing.descending
    if listing.after is not None:
        value, last_id = listing.after
        if nullable:
            queryset = queryset.filter(
                _beyond(
                    field,
                    value,
                    last_id,
                    descending=listing.descending,
                    nulls_first=nulls_first,
                )
            )
        else:
            beyond = "lt" if listing.descending else "gt"
            queryset = queryset.filter(
                Q(**{f"{field}__{beyond}": value}) | Q(**{field: value, f"id__{beyond}": last_id})
            )
    if listing.sort.key == "score":
        column = F(field).desc(nulls_last=True) if listing.descending else F(field).asc()
        return queryset.order_by(column, F("id").desc() if listing.descending else F("id").asc())
    order = [f"-{field}", "-id"] if listing.descending else [field, "id"]
    return queryset.order_by(*order)


@login_required
@require_GET
@field_pages.refusing_damaged_field_links
def account_list(request: HttpRequest) -> HttpResponse:
    template = "web/accounts.html"
    if request.htmx:  # type: ignore[attr-defined]
        template += "#results"
    return render(request, template, account_list_context(request, request.GET))


def account_list_context(request: HttpRequest, params: QueryDict) -> dict[str, Any]:
    """What the accounts list page shows for these query parameters (a damaged page cursor
    starts from the first page)."""
    try:
        listing = listing_read(params)
    except DomainError:
        listing = listing_read(_without_cursor(params))
    queryset = listing_accounts(listing)
    shown = (
        "id",
        "name",
        "domain",
        "segment",
        "lifecycle_stage",
        "created_at",
        "health_score",
        "health_band",
        "health_trend",
        "health_as_of",
        "current_mrr",
        "next_renewal_on",
    )
    rows = list(_sorted(queryset, listing).only(*shown)[: PAGE_SIZE + 1])
    sort_values = {row.pk: getattr(row, listing.sort.field) for row in rows}
    next_query = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        next_query = listing.query(after=_encode_cursor(sort_values[last.pk], last.pk))
    columns: dict[str, dict[str, Any]] = {
        sort.key: {
            "sort": sort,
            "current": sort is listing.sort,
            "aria": (
                ("descending" if listing.descending else "ascending")
                if sort is listing.sort
                else None
            ),
            "query": listing.query(
                sort=f"-{sort.key}" if sort is listing.sort and not listing.descending else sort.key
            ),
        }
        for sort in SORTS.values()
    }
    user_id = int(request.user.pk or 0)
    return {
        "listing": listing,
        "rows": rows,
        "total": _count_up_to(queryset, listing),
        "total_capped": COUNT_CAP if queryset.query.has_filters() else None,
        "columns": columns,
        "next_query": next_query,
        "first_query": listing.query() if listing.after else None,
        "export_query": listing.query(sort=None),
        "view_query": listing.query(),
        "saved_views": list(account_selectors.saved_views_visible(user_id=user_id)),
        "can_assign": can_assign_squads(request.user),
        "segments": selectors.account_segments(),
        "stages": LifecycleStage.choices,
        "renewal_windows": RENEWAL_WINDOWS,
        "bands": BANDS,
        "squads": list(
            squad_selectors.squad_list()
            .prefetch_related(None)
            .order_by("name")
            .values_list("id", "name")
        ),
        "today": timezone.now().date(),
    }


def _count_up_to(queryset: QuerySet[Account], listing: Listing) -> int:
    """How many accounts match, exactly for the whole list (an index-only count) and up to
    COUNT_CAP + 1 for a filtered one: a broad search would otherwise read every account just
    to print a number (the page shows "10,000+")."""
    if not queryset.query.has_filters():
        return queryset.count()
    return queryset.order_by()[: COUNT_CAP + 1].count()


def can_assign_squads(user: Any) -> bool:
    """Assigning accounts to squads is a manager's work (squads' permission levels)."""
    if not isinstance(user, User):
        return False
    return actor_for_user(user).at_least(PermissionLevel.MANAGER)


def _without_cursor(params: QueryDict) -> QueryDict:
    params = params.copy()
    params.pop("after", None)
    return params


EXPORT_COLUMNS = (
    "id",
    "name",
    "domain",
    "segment",
    "tier",
    "region",
    "industry",
    "lifecycle_stage",
    "current_mrr",
    "next_renewal_on",
    "source_system",
    "external_id",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
@field_pages.refusing_damaged_field_links
def account_export(request: HttpRequest) -> StreamingHttpResponse:
    """Every account of the current filters as CSV; cells that a spreadsheet would run as a
    formula are neutralised."""
    listing = listing_read(_without_cursor(request.GET))
    queryset = _sorted(listing_accounts(listing), listing).values_list(*EXPORT_COLUMNS)

    def lines() -> Iterator[str]:
        # csv.writer on a stream whose write() returns the line: each row is yielded as written.
        writer = csv.writer(_Echo(), lineterminator="\r\n")
        yield writer.writerow(EXPORT_COLUMNS)
        for row in queryset.iterator(chunk_size=2000):
            yield writer.writerow([csv_cell_neutralise(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="accounts-{stamp}.csv"'
    return response


# --- Account 360 --------------------------------------------------------------------------


@login_required
@require_GET
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    after = request.GET.get("after")
    try:
        position = account_selectors.TimelinePosition.decode(after) if after else None
        if request.htmx and position is not None:  # type: ignore[attr-defined]
            timeline = account_selectors.account_timeline(
                account_id=account_id, page_size=TIMELINE_PAGE_SIZE, after=position
            )
            return render(
                request,
                "web/account_detail.html#timeline-page",
                {"account_id": account_id, "timeline": timeline},
            )
        view = account_selectors.account_360(account_id=account_id)
    except (NotFound, DomainError):
        raise Http404("No such account.") from None
    today = timezone.now().date()
    usage = selectors.account_daily_usage(account_id=account_id, days=USAGE_DAYS, today=today)
    usage_points = [
        charts.Point(
            label=day.strftime("%d %b"), value=count, title=f"{day:%d %b %Y}: {count} events"
        )
        for day, count in usage
    ]
    context = {
        "view": view,
        "account": view.account,
        "account_id": account_id,
        "today": today,
        "usage_chart": charts.bar_chart(
            usage_points,
            label=f"Product usage events per day over the last {USAGE_DAYS} days",
            every=15,
        ),
        "usage_total": sum(count for _, count in usage),
        "usage_days": USAGE_DAYS,
        "leads": list(
            account_selectors.lead_list()
            .filter(converted_account_id=account_id)
            .order_by("-converted_at", "-id")[:10]
        ),
        "opportunities": list(
            account_selectors.opportunity_list()
            .filter(account_id=account_id)
            # Open deals first, then the most recent closes.
            .order_by(
                Case(When(status=Opportunity.Status.OPEN, then=0), default=1),
                F("close_date").desc(nulls_last=True),
                "-id",
            )[:10]
        ),
        "milestones": _milestones(view),
        "tickets": list(
            account_selectors.ticket_list().filter(account_id=account_id).order_by("-opened_at")[:8]
        ),
        "surveys": _surveys_by_moment(account_id),
        "subscriptions": list(
            account_selectors.subscription_list()
            .filter(account_id=account_id)
            .order_by("-period_start", "-id")[:8]
        ),
        "timeline": account_selectors.account_timeline(
            account_id=account_id, page_size=TIMELINE_PAGE_SIZE
        ),
        **_health(account_id, today=today),
        "work_items": list(
            squad_selectors.work_items_of_account(account_id=account_id)[:WORK_ITEMS_SHOWN]
        ),
        "now": timezone.now(),
    }
    return render(request, "web/account_detail.html", context)


def _health(account_id: int, *, today: dt.date) -> dict[str, Any]:
    """The health explanation with its component bars and trend line, and the value figures
    (ROI, CLV); None for what the account does not have yet."""
    try:
        explanation = scoring_selectors.account_health_explain(account_id=account_id)
    except NotFound:
        explanation = None
    try:
        value = scoring_selectors.account_value_get(account_id=account_id)
    except NotFound:
        value = None
    if explanation is None:
        return {"health": None, "value": value}
    since = today - dt.timedelta(days=HEALTH_TREND_DAYS)
    history = list(
        scoring_selectors.account_health_history(account_id=account_id)
        .filter(band_change=False, day__gt=since)
        .order_by("day")
        .values_list("day", "score")
    )
    trend = [
        charts.Point(label=day.strftime("%d %b"), value=score, title=f"{day:%d %b %Y}: {score:.0f}")
        for day, score in history
    ]
    bars = [
        {
            "component": component,
            "bar": charts.score_bar(
                component.score,
                label=(
                    f"{component.label.capitalize()}: no data"
                    if component.score is None
                    else f"{component.label.capitalize()}: {component.score:.0f} out of 100"
                ),
            ),
        }
        for component in explanation.components
    ]
    first = trend[0] if len(trend) > 1 else None
    return {
        "health": explanation,
        "value": value,
        "trend_from": first,
        "trend_from_day": history[0][0] if first else None,
        "trend_change": explanation.score - first.value if first else None,
        "components": bars,
        "health_trend": charts.line_chart(
            charts.thinned(trend, 14),
            label=f"Health score over the last {HEALTH_TREND_DAYS} days, 0 to 100",
            maximum=100,
        ),
        "health_trend_days": HEALTH_TREND_DAYS,
    }


def _milestones(view: account_selectors.Account360) -> list[Any]:
    if view.onboarding is None:
        return []
    return list(
        account_selectors.milestone_list()
        .filter(plan_id=view.onboarding["plan"])
        .order_by("position", "id")
    )


def _surveys_by_moment(account_id: int) -> list[Any]:
    return list(
        account_selectors.survey_response_list()
        .filter(account_id=account_id)
        .values("moment", "kind")
        .annotate(responses=Count("id"), average=Avg("score"), last_at=Max("responded_at"))
        .order_by("moment", "kind")
    )
