"""Field metrics API: the whole field from lead to renewal, its leaks and moments that matter."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from apps.accounts.field.selectors import (
    COHORT_STEPS,
    DEFAULT_ADOPTION_DAYS,
    DEFAULT_ADOPTION_THRESHOLD,
    DEFAULT_LEAK_LIMIT,
    LEAK_DEFINITIONS,
    LEAK_REASONS,
    MAX_LEAK_LIMIT,
    MAX_PERIOD_MONTHS,
    STEP_DEFINITIONS,
    FieldParameters,
    GroupBy,
    LeakRow,
    field_report,
)
from apps.accounts.revenue.api import BIGINT_MAX, GroupKeyField
from apps.accounts.revenue.periods import EARLIEST_DATE, LATEST_DATE, Period, add_months

STEP_GLOSSARY = " ".join(
    f"`{step.key}` ({step.half.value} half): {step.definition}" for step in STEP_DEFINITIONS
)
LEAK_GLOSSARY = " ".join(f"`{step}`: {text}" for step, text in LEAK_DEFINITIONS.items())

CONVENTIONS = (
    "A period is the days [start, end), timestamps read as UTC days; `as_of` (default today) "
    "is the day journeys are followed to. MRR follows /metrics/revenue/: a term counts while "
    "active or past_due; opening MRR is taken on start - 1 day, closing MRR on end - 1 day. "
    "The funnel counts what happened in the period, left to right from the front half "
    "(acquisition) to the back half (onboarding, adoption, renewal): "
    f"{STEP_GLOSSARY} "
    "Conversion is a step's count / the previous step's count in the same period (a flow "
    "ratio that can exceed 1; cohorts give per-account conversion). MRR carried is the closing "
    "MRR of the step's distinct accounts, or for renewed/expanded/contracted/churned the MRR "
    "that moved. Customer equity carried is the sum of the step's distinct accounts' current "
    "CLV as scoring last valued them (at `equity_as_of`; accounts not valued yet add nothing): "
    "today's value of the accounts that passed the step, not their value then. Groups: "
    "`segment` and `squad` are the account's current ones, `source` and `campaign` those of "
    "the lead it was first converted from ('' when none); leads never converted are in the null "
    "group of "
    "segment and squad and left out when `segment` or `squad` limits the figures. Amounts are "
    "in the tenant's currency; a counting term in force from the opening day to `as_of`, or a "
    "new-business opportunity created or closing in the period, in another currency refuses "
    "the request with 409 `mixed_currency`."
)


def _money(help_text: str, *, allow_null: bool = False) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=30,
        decimal_places=2,
        read_only=True,
        allow_null=allow_null,
        help_text=help_text,
    )


def _ratio(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=30, decimal_places=4, read_only=True, allow_null=True, help_text=help_text
    )


def _count(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, help_text=help_text)


def _score(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=10, decimal_places=2, read_only=True, allow_null=True, help_text=help_text
    )


class StepSerializer(serializers.Serializer[Any]):
    key = serializers.ChoiceField(
        choices=[step.key for step in STEP_DEFINITIONS],
        read_only=True,
        help_text=f"The step. {STEP_GLOSSARY}",
    )
    half = serializers.ChoiceField(
        choices=["front", "back"],
        read_only=True,
        help_text="`front`: acquisition (marketing, sales); `back`: onboarding to renewal.",
    )
    name = serializers.CharField(
        source="label", read_only=True, help_text="The step's name, to show."
    )
    count = _count("Rows in the step: leads, opportunities, onboarding plans, terms or accounts.")
    accounts = _count("Distinct accounts among those rows (leads never converted have none).")
    conversion = _ratio(
        "count / the previous step's count, rounded to 4 places; null for the first step or "
        "when the previous count is 0. A flow ratio over the same period: it can exceed 1."
    )
    median_days_in_step = serializers.DecimalField(
        max_digits=12,
        decimal_places=1,
        read_only=True,
        allow_null=True,
        help_text="Median days from the previous step (the step's definition says from what).",
    )
    mrr = _money(
        "MRR carried: the closing MRR (on end - 1 day) of the step's distinct accounts; for "
        "renewed, expanded, contracted and churned, the MRR that moved. Null for leads.",
        allow_null=True,
    )
    amount = _money(
        "Sum of the opportunities' amounts (opportunity_created and won); null elsewhere.",
        allow_null=True,
    )
    equity = _money(
        "Customer equity carried: the sum of the current CLV (scoring's latest valuation) of "
        "the step's distinct accounts; accounts not valued yet add nothing. Null for leads.",
        allow_null=True,
    )
    equity_as_of = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When scoring last valued those accounts (the latest among them); null when "
        "none is valued.",
    )
    win_rate = _ratio(
        "won / (won + lost) among new-business opportunities closing in the period; won only."
    )
    on_time_rate = _ratio(
        "Share of plans completed on or before target_live_on, among those with a target; "
        "live only."
    )


class FunnelGroupSerializer(serializers.Serializer[Any]):
    key = GroupKeyField(
        read_only=True,
        help_text=(
            "The group: segment, source or campaign (text; '' for none) or squad id (integer); "
            "null for leads never converted (segment, squad) or accounts without a squad."
        ),
    )
    steps = StepSerializer(many=True, read_only=True)


class FunnelSerializer(serializers.Serializer[Any]):
    steps = StepSerializer(many=True, read_only=True, help_text="Every step, left to right.")
    groups = FunnelGroupSerializer(
        many=True,
        read_only=True,
        help_text="Per group when group_by is given (else empty): every step of each group.",
    )


class CohortStepSerializer(serializers.Serializer[Any]):
    key = serializers.ChoiceField(
        choices=list(COHORT_STEPS),
        read_only=True,
        help_text=(
            "converted: came from a converted lead; won: has a won new-business deal; "
            "onboarding_started / live / adopted: reached that by as_of; renewed: has a renewal "
            "term started by as_of; expanded / contracted: MRR on as_of above / below (but > 0) "
            "the starting MRR; churned: MRR 0 on as_of."
        ),
    )
    count = _count("Cohort accounts that reached the step by as_of.")
    share = _ratio("count / cohort accounts (per-account conversion), 4 places.")
    mrr = _money(
        "MRR on as_of of those accounts; for expanded the MRR gained, for contracted the MRR "
        "lost, for churned their starting MRR."
    )


class CohortSerializer(serializers.Serializer[Any]):
    month = serializers.DateField(
        read_only=True, help_text="First day of the month in which the accounts first paid."
    )
    group_key = GroupKeyField(read_only=True, help_text="The group (null: every account).")
    accounts = _count("Accounts whose first paid day is in the month.")
    starting_mrr = _money("Sum of their MRR on their first paid day.")
    mrr_as_of = _money("Sum of their MRR on as_of.")
    net_revenue_retention = _ratio("mrr_as_of / starting_mrr; null when starting_mrr is 0.")
    logo_retention = _ratio("Share of the cohort with MRR > 0 on as_of.")
    steps = CohortStepSerializer(many=True, read_only=True)


LEAK_ROW_URLS = {
    "lead": "lead-detail",
    "account": "account-detail",
    "opportunity": "opportunity-detail",
    "onboarding_plan": "onboarding-plan-detail",
}


class LeakRowSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(
        choices=["lead", "account", "opportunity", "onboarding_plan"],
        read_only=True,
        help_text="What the row is.",
    )
    id = _count("The row's id (of its kind).")
    url = serializers.SerializerMethodField(help_text="The row in the API.")
    account = serializers.IntegerField(
        source="account_id", read_only=True, allow_null=True, help_text="Its account's id."
    )
    account_name = serializers.CharField(read_only=True, allow_null=True)
    account_url = serializers.SerializerMethodField(help_text="The account's 360 in the API.")
    mrr = _money("The account's closing MRR (or the MRR lost).", allow_null=True)
    amount = _money("The opportunity's amount.", allow_null=True)
    reason = serializers.CharField(read_only=True, help_text="Why, where the data says.")

    def get_url(self, row: LeakRow) -> str:
        return reverse(LEAK_ROW_URLS[row.kind], args=[row.id], request=self.context.get("request"))

    def get_account_url(self, row: LeakRow) -> str | None:
        if row.account_id is None:
            return None
        return reverse("account-360", args=[row.account_id], request=self.context.get("request"))


class LeakReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(read_only=True)
    count = _count("Rows with this reason.")
    mrr = _money("Their MRR.", allow_null=True)
    amount = _money("Their amount.", allow_null=True)


class LeakSerializer(serializers.Serializer[Any]):
    step = serializers.ChoiceField(
        choices=list(LEAK_DEFINITIONS),
        read_only=True,
        help_text=f"The step value leaked at. {LEAK_GLOSSARY}",
    )
    definition = serializers.CharField(read_only=True)
    count = _count("Rows lost at the step.")
    accounts = _count("Distinct accounts among them.")
    mrr = _money(
        "Their accounts' closing MRR (contracted and churned: the MRR lost); null for leads.",
        allow_null=True,
    )
    amount = _money("Opportunity amounts lost (won, onboarding_started).", allow_null=True)
    reasons = LeakReasonSerializer(
        many=True,
        read_only=True,
        help_text=f"The top 5 reasons, most frequent first. {LEAK_REASONS}",
    )
    rows = LeakRowSerializer(
        many=True, read_only=True, help_text="The largest rows (amount + MRR), at most leak_limit."
    )


class MomentMonthSerializer(serializers.Serializer[Any]):
    month = serializers.DateField(read_only=True)
    responses = _count("Responses in the month.")
    csat = _score("Average CSAT (1-5).")
    ces = _score("Average CES (1-7, 7 effortless).")
    nps = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        read_only=True,
        allow_null=True,
        help_text="NPS: % promoters (9-10) - % detractors (0-6).",
    )


class RetentionComparisonSerializer(serializers.Serializer[Any]):
    accounts = _count("Accounts.")
    paying_accounts = _count("Of those, accounts with MRR > 0 on their reference day.")
    churn_rate = _ratio("Share of the paying accounts with MRR 0 on as_of.")
    net_revenue_retention = _ratio(
        "Their MRR on as_of / their MRR on the reference day; null when that is 0."
    )


class MomentSerializer(serializers.Serializer[Any]):
    moment = serializers.CharField(read_only=True, help_text="The survey moment ('(none)': unset).")
    responses = _count("Responses at the moment in the period.")
    poor_responses = _count("Poor ones: NPS 0-6, CSAT 1-2, CES 1-3.")
    csat = _score("Average CSAT (1-5).")
    ces = _score("Average CES (1-7, 7 effortless).")
    nps = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        read_only=True,
        allow_null=True,
        help_text="NPS: % promoters (9-10) - % detractors (0-6) among the NPS responses.",
    )
    nps_average = _score("Average NPS score (0-10).")
    trend = MomentMonthSerializer(
        many=True, read_only=True, help_text="The same per calendar month, oldest first."
    )
    poor = RetentionComparisonSerializer(
        read_only=True,
        help_text=(
            "Accounts with at least one poor response at this moment in the period, followed "
            "from their first poor response (the reference day) to as_of."
        ),
    )
    rest = RetentionComparisonSerializer(
        read_only=True,
        help_text=(
            "The other accounts that responded at this moment, followed from their first "
            "response to as_of."
        ),
    )


class FieldParametersSerializer(serializers.Serializer[Any]):
    start = serializers.DateField(read_only=True)
    end = serializers.DateField(read_only=True)
    as_of = serializers.DateField(read_only=True)
    group_by = serializers.CharField(read_only=True, allow_null=True)
    segment = serializers.CharField(read_only=True, allow_null=True)
    squad = serializers.IntegerField(read_only=True, allow_null=True)
    adoption_threshold = serializers.IntegerField(read_only=True)
    adoption_days = serializers.IntegerField(read_only=True)
    adoption_event = serializers.CharField(read_only=True, allow_null=True)
    leak_limit = serializers.IntegerField(read_only=True)


class FieldMetricsSerializer(serializers.Serializer[Any]):
    currency = serializers.CharField(
        read_only=True, help_text="The tenant's currency (ISO 4217); every amount is in it."
    )
    parameters = FieldParametersSerializer(read_only=True, help_text="What was computed.")
    adoption_as_of = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=(
            "At the default adoption settings the adopted figures read each completed plan's "
            "stored adoption day (rebuilt nightly) where it is settled: adopted, or its window "
            "closed, by the build day; other plans are computed from the usage rollup. This is "
            "when those stored days were built: usage recorded since for a settled plan is not "
            "seen until the next build. Null when every adoption day was computed now (other "
            "adoption settings, or no build yet)."
        ),
    )
    funnel = FunnelSerializer(read_only=True)
    cohorts = CohortSerializer(
        many=True,
        read_only=True,
        help_text=(
            "Per calendar month of first paid days within [start, end) (and per group when "
            "group_by is given): the accounts acquired then, followed to as_of."
        ),
    )
    leakage = LeakSerializer(
        many=True,
        read_only=True,
        help_text=(
            "Per step, what was lost there (in total; segment and squad limit it, group_by "
            "does not break it down)."
        ),
    )
    moments = MomentSerializer(
        many=True,
        read_only=True,
        help_text="Per survey moment with responses in the period, the most answered first.",
    )


def _check_date_bounds(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise serializers.ValidationError(f"Must be between {EARLIEST_DATE} and {LATEST_DATE}.")
    return value


class FieldMetricsQuerySerializer(serializers.Serializer[Any]):
    start = serializers.DateField(help_text="First day of the period.")
    end = serializers.DateField(
        help_text=f"The day after the period (exclusive); at most {MAX_PERIOD_MONTHS} months on."
    )
    as_of = serializers.DateField(
        required=False,
        help_text="The day journeys are followed to (leakage, cohorts, moments); default today.",
    )
    group_by = serializers.ChoiceField(
        choices=[choice.value for choice in GroupBy],
        required=False,
        help_text=(
            "Also break the funnel and cohorts down by the account's `segment` or `squad` "
            "(squad_id), or by the `source` or `campaign` of the lead it came from."
        ),
    )
    segment = serializers.CharField(
        required=False, max_length=50, help_text="Only accounts of this segment."
    )
    squad = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="Only accounts of this squad id.",
    )
    adoption_threshold = serializers.IntegerField(
        required=False,
        default=DEFAULT_ADOPTION_THRESHOLD,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text=(
            "Usage events (from the daily rollup) an account must reach after going live to "
            f"count as adopted. Default {DEFAULT_ADOPTION_THRESHOLD}."
        ),
    )
    adoption_days = serializers.IntegerField(
        required=False,
        default=DEFAULT_ADOPTION_DAYS,
        min_value=1,
        max_value=3660,
        help_text=(
            "Days after going live within which the threshold must be reached. "
            f"Default {DEFAULT_ADOPTION_DAYS}."
        ),
    )
    adoption_event = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Count only usage events of this name toward adoption (default: all).",
    )
    leak_limit = serializers.IntegerField(
        required=False,
        default=DEFAULT_LEAK_LIMIT,
        min_value=0,
        max_value=MAX_LEAK_LIMIT,
        help_text=f"Rows listed per leak, largest first. Default {DEFAULT_LEAK_LIMIT}.",
    )

    def validate_start(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate_end(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate_as_of(self, value: date) -> date:
        return _check_date_bounds(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs["start"], attrs["end"]
        if end <= start:
            raise serializers.ValidationError({"end": [f"Must be after start ({start})."]})
        if end > add_months(start, MAX_PERIOD_MONTHS):
            raise serializers.ValidationError(
                {"end": [f"At most {MAX_PERIOD_MONTHS} months after start ({start})."]}
            )
        as_of = attrs.get("as_of") or timezone.now().date()
        if as_of < start:
            raise serializers.ValidationError({"as_of": [f"Must not be before start ({start})."]})
        group_by = attrs.get("group_by")
        attrs["parameters"] = FieldParameters(
            period=Period(start=start, end=end),
            as_of=as_of,
            group_by=GroupBy(group_by) if group_by else None,
            segment=attrs.get("segment"),
            squad=attrs.get("squad"),
            adoption_threshold=attrs["adoption_threshold"],
            adoption_days=attrs["adoption_days"],
            adoption_event=attrs.get("adoption_event"),
            leak_limit=attrs["leak_limit"],
        )
        return attrs


class FieldMetricsApi(APIView):
    @extend_schema(
        operation_id="field_metrics",
        summary="The whole field: funnel, cohorts, leakage and moments that matter",
        description=(
            "One funnel over a period from leads to renewal, the same for the accounts acquired "
            "in each month (followed to `as_of`), where value leaked at each step (with the "
            "rows behind it and the top reasons), and per survey moment the scores and how "
            "accounts with a poor response there fared. "
            f"{CONVENTIONS} Leakage: {LEAK_GLOSSARY} {LEAK_REASONS}"
        ),
        parameters=[FieldMetricsQuerySerializer],
        responses={
            200: FieldMetricsSerializer,
            400: OpenApiResponse(description="A parameter is invalid; `error.fields` names it."),
            409: OpenApiResponse(
                description=(
                    "`mixed_currency`: money in scope is not in the tenant's currency; the "
                    "message says how many records and which currencies."
                )
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = FieldMetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        parameters: FieldParameters = query.validated_data["parameters"]
        report = field_report(parameters=parameters)
        body = {
            "currency": report.currency,
            "parameters": {
                "start": parameters.period.start,
                "end": parameters.period.end,
                "as_of": parameters.as_of,
                "group_by": parameters.group_by,
                "segment": parameters.segment,
                "squad": parameters.squad,
                "adoption_threshold": parameters.adoption_threshold,
                "adoption_days": parameters.adoption_days,
                "adoption_event": parameters.adoption_event,
                "leak_limit": parameters.leak_limit,
            },
            "adoption_as_of": report.adoption_as_of,
            "funnel": report.funnel,
            "cohorts": report.cohorts,
            "leakage": report.leakage,
            "moments": report.moments,
        }
        return Response(FieldMetricsSerializer(body, context={"request": request}).data)
