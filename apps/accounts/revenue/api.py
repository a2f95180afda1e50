"""Revenue metrics API: one period, or a series of periods, in total and per group."""

from __future__ import annotations

from datetime import date
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.revenue.metrics import GroupBy, GroupFigures, PeriodFigures, revenue_report
from apps.accounts.revenue.periods import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_SERIES_PERIODS,
    Interval,
    Period,
    month_period,
    periods_between,
)
from fullfield.errors import DomainError

MONTH_PATTERN = r"^\d{4}-\d{2}$"
BIGINT_MAX = 2**63 - 1

CONVENTIONS = (
    "A subscription term counts while its status is `active` or `past_due` (`trialing` and "
    "`canceled` terms count 0). An account's MRR on a day D is the sum of the `mrr` of its "
    "counting terms with period_start <= D < period_end (an empty period_end never ends). "
    "A period is the days [start, end): opening figures are taken on `opening_date` "
    "(start - 1 day, the day before the period) and closing figures on `closing_date` "
    "(end - 1 day, the period's last day), so a change dated on a period's first day belongs "
    "to that period and consecutive periods chain (closing of one = opening of the next). "
    "Each account's change from opening to closing MRR is classified once as new, "
    "reactivated, expansion, contraction or churn; only the two snapshots matter, so an "
    "account that starts and stops inside the period has no movement, and "
    "closing = opening + new + reactivated + expansion - contraction - churned. "
    "Groups sum their accounts' figures (each account classified on its own, by its current "
    "segment, squad and parent). Amounts are in the tenant's currency; if any counting term "
    "in force during the period (opening day included) is in another currency, the request "
    "is refused with 409 `mixed_currency`, naming how many terms and which currencies."
)


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=30, decimal_places=2, read_only=True, help_text=help_text
    )


def _ratio(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=30, decimal_places=4, read_only=True, allow_null=True, help_text=help_text
    )


def _count(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, help_text=help_text)


class RevenueFiguresSerializer(serializers.Serializer[Any]):
    opening_mrr = _money(
        "Opening MRR: the sum over accounts of the MRR in force on opening_date "
        "(the day before the period)."
    )
    closing_mrr = _money(
        "Closing MRR: the sum over accounts of the MRR in force on closing_date "
        "(the last day of the period)."
    )
    arr = _money("ARR: 12 x closing MRR.")
    new_mrr = _money(
        "New MRR: the closing MRR of accounts with 0 opening MRR that never had MRR on any day "
        "before the period."
    )
    expansion_mrr = _money(
        "Expansion MRR: for accounts with opening MRR > 0 and closing MRR above it, "
        "the sum of (closing - opening)."
    )
    contraction_mrr = _money(
        "Contraction MRR: for accounts with 0 < closing MRR < opening MRR, "
        "the sum of (opening - closing)."
    )
    churned_mrr = _money(
        "Churned MRR: the opening MRR of accounts with opening MRR > 0 and closing MRR 0."
    )
    reactivated_mrr = _money(
        "Reactivated MRR: the closing MRR of accounts with 0 opening MRR that had MRR on "
        "some day before the period."
    )
    net_new_mrr = _money(
        "Net new MRR: closing - opening = new + reactivated + expansion - contraction - churned."
    )
    gross_revenue_retention = _ratio(
        "Gross revenue retention (GRR): (opening - contraction - churned) / opening MRR, as a "
        "fraction (0.9 = 90%), rounded to 4 places; null when opening MRR is 0."
    )
    net_revenue_retention = _ratio(
        "Net revenue retention (NRR): (opening + expansion - contraction - churned) / opening "
        "MRR, as a fraction, rounded to 4 places; null when opening MRR is 0. Reactivated MRR "
        "is excluded: NRR follows the accounts that paid at the opening, and reactivated "
        "accounts paid nothing then."
    )
    logo_churn_rate = _ratio(
        "Logo churn rate: churned_customers / opening_customers, as a fraction rounded to "
        "4 places; null when there are no opening customers."
    )
    mrr_churn_rate = _ratio(
        "MRR churn rate: churned MRR / opening MRR, as a fraction rounded to 4 places "
        "(contraction is not included; see gross_revenue_retention); null when opening MRR is 0."
    )
    opening_customers = _count("Accounts with opening MRR > 0.")
    closing_customers = _count("Accounts with closing MRR > 0.")
    new_customers = _count("Accounts counted in new MRR.")
    reactivated_customers = _count("Accounts counted in reactivated MRR.")
    expanded_customers = _count("Accounts counted in expansion MRR.")
    contracted_customers = _count("Accounts counted in contraction MRR.")
    churned_customers = _count("Accounts counted in churned MRR.")


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
)
class GroupKeyField(serializers.Field[Any, Any, Any, Any]):
    """A segment name (text), or a squad or root account id (integer)."""

    def to_representation(self, value: Any) -> Any:
        return value


class RevenueGroupSerializer(RevenueFiguresSerializer):
    key = GroupKeyField(
        read_only=True,
        help_text=(
            "The group: the segment (text, '' for accounts without one), the squad id "
            "(integer, null for accounts without a squad) or the root account id (integer; "
            "null only for accounts whose parent chain never reaches a top-level account)."
        ),
    )
    name = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The segment, the squad's name or the root account's name.",
    )

    def to_representation(self, instance: GroupFigures) -> dict[str, Any]:
        figures = RevenueFiguresSerializer(instance.figures).data
        return {"key": instance.key, "name": instance.name, **figures}


class RevenuePeriodSerializer(serializers.Serializer[Any]):
    start = serializers.DateField(read_only=True, help_text="First day of the period.")
    end = serializers.DateField(read_only=True, help_text="The day after the period (exclusive).")
    opening_date = serializers.DateField(
        read_only=True, help_text="The day whose MRR is the opening MRR: start - 1 day."
    )
    closing_date = serializers.DateField(
        read_only=True, help_text="The day whose MRR is the closing MRR: end - 1 day."
    )


class RevenuePeriodFiguresSerializer(serializers.Serializer[Any]):
    period = RevenuePeriodSerializer(read_only=True)
    totals = RevenueFiguresSerializer(
        read_only=True, help_text="Figures of every account in scope together."
    )
    groups = RevenueGroupSerializer(
        many=True,
        read_only=True,
        help_text=(
            "Per group when group_by is given (else empty), largest closing MRR first. A group "
            "appears when one of its accounts has a counting term in force on opening_date or "
            "closing_date."
        ),
    )


class ReportHeaderSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField(
        read_only=True, help_text="The tenant's currency (ISO 4217); every amount is in it."
    )
    group_by = serializers.CharField(read_only=True, allow_null=True)
    account = serializers.IntegerField(
        source="account_id",
        read_only=True,
        allow_null=True,
        help_text="The root account whose hierarchy the figures cover; null for the tenant.",
    )


class RevenueMetricsSerializer(ReportHeaderSerializer, RevenuePeriodFiguresSerializer):
    pass


class RevenueSeriesSerializer(ReportHeaderSerializer):
    interval = serializers.CharField(read_only=True)
    periods = RevenuePeriodFiguresSerializer(many=True, read_only=True)


def _check_date_bounds(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise serializers.ValidationError(f"Must be between {EARLIEST_DATE} and {LATEST_DATE}.")
    return value


class ScopeQuerySerializer(serializers.Serializer[Any]):
    group_by = serializers.ChoiceField(
        choices=[choice.value for choice in GroupBy],
        required=False,
        help_text=(
            "Also break the figures down: `segment` (the account's segment), `squad` (its "
            "squad_id) or `hierarchy` (each top-level account rolled up with all its "
            "descendants; with `account`, that account's tree)."
        ),
    )
    account = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="Only this account and its descendants (the hierarchy rolled up to it).",
    )


class RevenueMetricsQuerySerializer(ScopeQuerySerializer):
    month = serializers.RegexField(
        MONTH_PATTERN,
        required=False,
        help_text="A calendar month, YYYY-MM: the period from its first day to the next month's.",
    )
    start = serializers.DateField(
        required=False, help_text="First day of the period (with `end`, instead of `month`)."
    )
    end = serializers.DateField(required=False, help_text="The day after the period (exclusive).")

    def validate_month(self, value: str) -> Period:
        year, month = (int(part) for part in value.strip().split("-"))
        if not 1 <= month <= 12:
            raise serializers.ValidationError(f"{value} is not a month; use YYYY-MM, e.g. 2026-03.")
        if not EARLIEST_DATE.year <= year < LATEST_DATE.year:
            raise serializers.ValidationError(
                f"Must be between {EARLIEST_DATE:%Y-%m} and {LATEST_DATE.year - 1}-12."
            )
        return month_period(year, month)

    def validate_start(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate_end(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        month, start, end = attrs.get("month"), attrs.get("start"), attrs.get("end")
        if month is not None:
            if start is not None or end is not None:
                raise serializers.ValidationError(
                    {"month": ["Give either month, or start and end; not both."]}
                )
            attrs["period"] = month
            return attrs
        if start is None or end is None:
            raise serializers.ValidationError(
                {
                    name: ["Required unless month is given."]
                    for name, value in (("start", start), ("end", end))
                    if value is None
                }
            )
        if end <= start:
            raise serializers.ValidationError({"end": [f"Must be after start ({start})."]})
        attrs["period"] = Period(start=start, end=end)
        return attrs


class RevenueSeriesQuerySerializer(ScopeQuerySerializer):
    start = serializers.DateField(help_text="First day of the first period.")
    end = serializers.DateField(help_text="The day after the last period (exclusive).")
    interval = serializers.ChoiceField(
        choices=[choice.value for choice in Interval],
        default=Interval.MONTH.value,
        help_text=(
            "Length of each period, counted from `start`; the last period is cut short at `end`. "
            f"At most {MAX_SERIES_PERIODS} periods."
        ),
    )

    def validate_start(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate_end(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": [f"Must be after start ({attrs['start']})."]})
        try:
            attrs["periods"] = periods_between(
                start=attrs["start"], end=attrs["end"], interval=Interval(attrs["interval"])
            )
        except DomainError as error:
            raise serializers.ValidationError(error.fields) from error
        return attrs


ERROR_RESPONSES = {
    400: OpenApiResponse(description="A parameter is invalid; `error.fields` names it."),
    404: OpenApiResponse(description="`account` is not an account of this tenant."),
    409: OpenApiResponse(
        description=(
            "`mixed_currency`: a counting term in scope is not in the tenant's currency; the "
            "message says how many terms and which currencies."
        )
    ),
}


def _group_by(validated: dict[str, Any]) -> GroupBy | None:
    value = validated.get("group_by")
    return GroupBy(value) if value else None


class RevenueMetricsApi(APIView):
    @extend_schema(
        operation_id="revenue_metrics",
        summary="Revenue metrics for one period",
        description=(
            "MRR, ARR, MRR movements, retention and churn for one period (`month`, or `start` "
            f"and `end`), in total and optionally per group. {CONVENTIONS}"
        ),
        parameters=[RevenueMetricsQuerySerializer],
        responses={200: RevenueMetricsSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        query = RevenueMetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = revenue_report(
            periods=[query.validated_data["period"]],
            group_by=_group_by(query.validated_data),
            root_account_id=query.validated_data.get("account"),
        )
        period_figures: PeriodFigures = report.periods[0]
        body = {
            "currency": report.currency,
            "group_by": report.group_by,
            "account_id": report.account_id,
            "period": period_figures.period,
            "totals": period_figures.totals,
            "groups": period_figures.groups,
        }
        return Response(RevenueMetricsSerializer(body).data)


class RevenueSeriesApi(APIView):
    @extend_schema(
        operation_id="revenue_metrics_series",
        summary="Revenue metrics for consecutive periods",
        description=(
            "The figures of /metrics/revenue/ for each period of `interval` from `start` to "
            f"`end`, e.g. twelve months for a dashboard. {CONVENTIONS}"
        ),
        parameters=[RevenueSeriesQuerySerializer],
        responses={200: RevenueSeriesSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        query = RevenueSeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = revenue_report(
            periods=query.validated_data["periods"],
            group_by=_group_by(query.validated_data),
            root_account_id=query.validated_data.get("account"),
        )
        body = {
            "currency": report.currency,
            "group_by": report.group_by,
            "account_id": report.account_id,
            "interval": query.validated_data["interval"],
            "periods": report.periods,
        }
        return Response(RevenueSeriesSerializer(body).data)
