"""REST endpoints of scoring: health profiles, an account's health explanation and history.

Scores run from 0 to 100 and 100 is always the healthiest (vendors disagree even within their
own documentation; here a higher number is always better). Bands: good >= 70, average 40..69,
poor < 40.
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import LifecycleStage
from apps.scoring import selectors, services
from apps.scoring.calibration import calibration_accept
from apps.scoring.calibration_runs import calibration_run_get, calibration_run_request
from apps.scoring.metrics import METRICS
from apps.scoring.models import (
    AccountValue,
    Band,
    Calibration,
    CalibrationRun,
    HealthProfile,
    HealthSnapshot,
    ValueSettings,
)
from apps.scoring.value import (
    ROLES,
    role_hourly_rates_errors,
    value_settings_get,
    value_settings_update,
)
from fullfield.api.pagination import CursorPagination
from fullfield.api.permissions import IsAuthenticatedWithScope, IsTenantAdmin

SCALE = (
    "Scores run from 0 to 100 and 100 is always the healthiest; bands: good >= 70, average "
    "40..69, poor < 40."
)


def _catalogue() -> str:
    return " ".join(f"`{name}`: {metric.description}" for name, metric in METRICS.items())


COMPONENTS_HELP = (
    'A list of components: {"key"?, "metric", "weight" (> 0), "window_days"? (1..365), '
    '"events"? (event names), "kinds"? (sentiment: nps, csat, ces), "mapping"}. mapping is '
    '{"kind": "thresholds", "points": [[raw, score], ...]} (raw values increasing, scores '
    "0..100, linear between points, flat beyond; give falling scores for lower-is-better "
    'metrics) or {"kind": "percentile", "higher_is_better"?: true} (rank within the segment). '
    f"Metrics: {_catalogue()}"
)


class HealthProfileSerializer(serializers.ModelSerializer[HealthProfile]):
    class Meta:
        model = HealthProfile
        fields = [
            "id",
            "name",
            "segment",
            "lifecycle_stage",
            "version",
            "components",
            "churn_model",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class HealthProfileInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    segment = serializers.CharField(
        max_length=50, required=False, allow_blank=True, help_text="Empty: every segment."
    )
    lifecycle_stage = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text="Empty: every lifecycle stage; else one of " + ", ".join(LifecycleStage.values),
    )
    components = serializers.JSONField(help_text=COMPONENTS_HELP)
    backfill_days = serializers.IntegerField(
        min_value=0,
        max_value=180,
        required=False,
        default=0,
        help_text="Also recompute this many days of daily history with the new profile.",
    )

    def validate_lifecycle_stage(self, value: str) -> str:
        if value and value not in LifecycleStage.values:
            raise serializers.ValidationError("One of: " + ", ".join(LifecycleStage.values) + ".")
        return value

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class HealthProfileUpdateSerializer(HealthProfileInputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    components = serializers.JSONField(required=False, help_text=COMPONENTS_HELP)


class ProfileWritePermission(IsAuthenticatedWithScope):
    """Everyone signed in reads profiles; tenant admins change them."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return super().has_permission(request, view)
        return IsTenantAdmin().has_permission(request, view)


class HealthProfileListApi(APIView):
    permission_classes = [ProfileWritePermission]
    pagination_class = CursorPagination  # declares the list paginated in the schema

    @extend_schema(
        summary="List health profiles",
        description="Each tenant starts with a default profile. " + SCALE,
        responses=HealthProfileSerializer(many=True),
        operation_id="health_profiles_list",
    )
    def get(self, request: Request) -> Response:
        paginator = CursorPagination()
        page = paginator.paginate_queryset(selectors.health_profile_list(), request, view=self)
        return paginator.get_paginated_response(HealthProfileSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a health profile",
        description=(
            "A profile for a segment and/or lifecycle stage; an account is scored by the most "
            "specific profile matching it (segment and stage, then segment, then stage, then "
            "the default). Every account is rescored once it is saved. " + SCALE
        ),
        request=HealthProfileInputSerializer,
        responses={201: HealthProfileSerializer},
        operation_id="health_profiles_create",
    )
    def post(self, request: Request) -> Response:
        payload = HealthProfileInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        backfill = data.pop("backfill_days", 0)
        profile = services.health_profile_create(
            data=data, user=_user(request), backfill_days=backfill
        )
        return Response(HealthProfileSerializer(profile).data, status=status.HTTP_201_CREATED)


def _user(request: Request) -> Any:
    return request.user if request.auth is None else None


class HealthProfileDetailApi(APIView):
    permission_classes = [ProfileWritePermission]

    @extend_schema(
        summary="Get a health profile",
        responses=HealthProfileSerializer,
        operation_id="health_profiles_get",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        profile = selectors.health_profile_get(profile_id=int(profile_id))
        return Response(HealthProfileSerializer(profile).data)

    @extend_schema(
        summary="Change a health profile",
        description=(
            "Only the fields sent change. Every change is a new version (old scores keep naming "
            "the version that made them), and every account is rescored at once; "
            "`backfill_days` also recomputes that many days of daily history."
        ),
        request=HealthProfileUpdateSerializer,
        responses=HealthProfileSerializer,
        operation_id="health_profiles_update",
    )
    def patch(self, request: Request, profile_id: str) -> Response:
        profile = selectors.health_profile_get(profile_id=int(profile_id))
        payload = HealthProfileUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        backfill = data.pop("backfill_days", 0)
        profile = services.health_profile_update(
            profile=profile, data=data, user=_user(request), backfill_days=backfill
        )
        return Response(HealthProfileSerializer(profile).data)


class ComponentSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    metric = serializers.CharField()
    title = serializers.CharField(source="label", help_text="What the component measures.")
    unit = serializers.CharField()
    raw_value = serializers.FloatField(allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="0..100, 100 healthiest.")
    weight = serializers.FloatField(help_text="The profile's weight.")
    effective_weight = serializers.FloatField(
        help_text="Percent of the score, after missing inputs' weight was spread over the rest."
    )
    contribution = serializers.FloatField(help_text="Points of the score.")
    missing = serializers.BooleanField(help_text="No input: the weight went to the others.")
    previous_raw_value = serializers.FloatField(allow_null=True)
    previous_score = serializers.FloatField(allow_null=True)
    previous_contribution = serializers.FloatField(allow_null=True)


class ImprovementSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    title = serializers.CharField(source="label")
    score = serializers.FloatField()
    potential_gain = serializers.FloatField()
    text = serializers.CharField()


class HealthExplanationSerializer(serializers.Serializer[Any]):
    account_id = serializers.IntegerField()
    score = serializers.FloatField(help_text="0..100, 100 healthiest.")
    band = serializers.ChoiceField(choices=Band.choices)
    as_of = serializers.DateTimeField()
    profile_id = serializers.IntegerField()
    profile_name = serializers.CharField()
    profile_version = serializers.IntegerField()
    churn_probability = serializers.FloatField(allow_null=True)
    components = ComponentSerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField())
    previous_score = serializers.FloatField(allow_null=True)
    previous_as_of = serializers.DateTimeField(allow_null=True)
    change = serializers.FloatField(allow_null=True, help_text="Since the previous score.")
    reason = serializers.CharField(help_text='e.g. "-12: active days down 40%, ..."')
    best_improvement = ImprovementSerializer(allow_null=True)


class AccountHealthApi(APIView):
    @extend_schema(
        summary="An account's health, explained",
        description=(
            "The current score with each component's raw value, score, weight and contribution, "
            "the change since the previous score with a one-line reason built from the "
            "components that moved most, and the component whose improvement would raise the "
            "score most. 404 when the account does not exist or has no score yet. " + SCALE
        ),
        responses=HealthExplanationSerializer,
        operation_id="account_health_get",
    )
    def get(self, request: Request, account_id: str) -> Response:
        explanation = selectors.account_health_explain(account_id=int(account_id))
        return Response(HealthExplanationSerializer(asdict(explanation)).data)


class HealthSnapshotSerializer(serializers.ModelSerializer[HealthSnapshot]):
    class Meta:
        model = HealthSnapshot
        fields = ["day", "as_of", "score", "band", "band_change", "profile_version"]
        read_only_fields = fields


class HistoryPagination(CursorPagination):
    ordering = ("-as_of", "-id")  # type: ignore[assignment]


class AccountHealthHistoryApi(generics.ListAPIView[HealthSnapshot]):
    serializer_class = HealthSnapshotSerializer
    pagination_class = HistoryPagination
    filter_backends: list[Any] = []

    @extend_schema(
        summary="An account's health history",
        description=(
            "Newest first: one snapshot per UTC day (the day's last score) plus one for every "
            "band change (`band_change`). " + SCALE
        ),
        operation_id="account_health_history",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[HealthSnapshot]:
        return selectors.account_health_history(account_id=int(self.kwargs["account_id"]))


# --- calibration ----------------------------------------------------------------------------


class CalibrationSerializer(serializers.ModelSerializer[Calibration]):
    class Meta:
        model = Calibration
        fields = [
            "id",
            "profile",
            "profile_version",
            "horizon_days",
            "status",
            "message",
            "weights",
            "mappings",
            "churn_model",
            "report",
            "created_at",
            "accepted_at",
        ]
        read_only_fields = fields


class CalibrationInputSerializer(serializers.Serializer[Any]):
    profile = serializers.IntegerField(
        required=False, min_value=1, help_text="The profile to fit (default: the catch-all one)."
    )
    horizon_days = serializers.IntegerField(
        required=False,
        default=30,
        min_value=1,
        max_value=365,
        help_text="Label: the account churned within this many days after a date.",
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class CalibrationRunSerializer(serializers.ModelSerializer[CalibrationRun]):
    calibration = CalibrationSerializer(
        read_only=True, allow_null=True, help_text="The result, once the run is finished."
    )

    class Meta:
        model = CalibrationRun
        fields = [
            "id",
            "profile",
            "horizon_days",
            "status",
            "error",
            "calibration",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


CALIBRATION_DOC = (
    "Fits the profile's component weights and thresholds to this workspace's churn history "
    "(logistic regression on the components' raw values as of past dates through piecewise "
    "linear curves, labelled by churn within `horizon_days`; split by account and by time): "
    "`weights` per component key, and `mappings`, the refitted thresholds of the threshold "
    "components the history shaped. It reports on held-out accounts: `auc` (the proposed "
    "profile), "
    "`uncalibrated_auc` (the profile as it is), `raw_features_auc`, `activity_only_auc`, "
    "`top_decile_lift`, `brier_score`, `calibration_by_decile` and `band_churn_rates` (with "
    "`bands_ordered` false when churn does not fall from poor to good). With too little "
    "history the status is `insufficient_history` and `message` says what is missing. "
    "Nothing changes until an admin accepts the result."
)


class CalibrationListApi(APIView):
    permission_classes = [ProfileWritePermission]
    pagination_class = CursorPagination  # declares the list paginated in the schema

    @extend_schema(
        summary="List churn calibrations",
        description=CALIBRATION_DOC,
        responses=CalibrationSerializer(many=True),
        operation_id="health_calibrations_list",
    )
    def get(self, request: Request) -> Response:
        paginator = CursorPagination()
        page = paginator.paginate_queryset(selectors.calibration_list(), request, view=self)
        return paginator.get_paginated_response(CalibrationSerializer(page, many=True).data)

    @extend_schema(
        summary="Run a churn calibration",
        description=CALIBRATION_DOC
        + " The fit runs in the background: the answer is 202 with a calibration run (status "
        "`queued`) and its URL in `Location`; poll the run until its status is `finished` (its "
        "`calibration` then holds the result) or `failed` (`error` says why).",
        request=CalibrationInputSerializer,
        responses={202: CalibrationRunSerializer},
        operation_id="health_calibrations_create",
    )
    def post(self, request: Request) -> Response:
        payload = CalibrationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        profile_id = payload.validated_data.get("profile")
        profile = (
            selectors.health_profile_get(profile_id=profile_id) if profile_id is not None else None
        )
        run = calibration_run_request(
            profile=profile,
            horizon_days=payload.validated_data["horizon_days"],
            user=_user(request),
        )
        return Response(
            CalibrationRunSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("health-calibration-run", args=[run.pk])},
        )


class CalibrationRunDetailApi(APIView):
    permission_classes = [ProfileWritePermission]

    @extend_schema(
        summary="Get a calibration run",
        description="`queued`, `running`, `finished` (with its `calibration`) or `failed` "
        "(with its `error`).",
        responses=CalibrationRunSerializer,
        operation_id="health_calibration_runs_get",
    )
    def get(self, request: Request, run_id: str) -> Response:
        return Response(CalibrationRunSerializer(calibration_run_get(run_id=int(run_id))).data)


class CalibrationDetailApi(APIView):
    permission_classes = [ProfileWritePermission]

    @extend_schema(
        summary="Get a churn calibration and its report card",
        responses=CalibrationSerializer,
        operation_id="health_calibrations_get",
    )
    def get(self, request: Request, calibration_id: str) -> Response:
        calibration = selectors.calibration_get(calibration_id=int(calibration_id))
        return Response(CalibrationSerializer(calibration).data)


class CalibrationAcceptApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(
        summary="Accept a churn calibration",
        description=(
            "Its weights, refitted thresholds (`mappings`) and churn model become a new "
            "version of the profile, and every account is rescored. 409 when it is not a "
            "fitted calibration or the profile changed since."
        ),
        request=None,
        responses=HealthProfileSerializer,
        operation_id="health_calibrations_accept",
    )
    def post(self, request: Request, calibration_id: str) -> Response:
        calibration = selectors.calibration_get(calibration_id=int(calibration_id))
        profile = calibration_accept(calibration=calibration, user=_user(request))
        return Response(HealthProfileSerializer(profile).data)


# --- value: ROI, CLV, customer equity ---------------------------------------------------------

VALUE_DOC = (
    "Over the trailing 12 months: revenue kept (subscription revenue, upgrades excluded), "
    "expansion (won expansion deals), cost to serve (touchpoint effort x the hourly rate of "
    "the role of the member who logged it, or `hourly_rate` by default, + tickets "
    "x ticket cost + onboarding plans x onboarding cost); ROI = ((revenue kept + expansion) x "
    "gross margin - cost to serve) / cost to serve (null without a cost). CLV = ARR x gross "
    "margin x expected lifetime (1 / yearly churn probability from the health score, capped); "
    "null until the account has a churn probability. Money is in the workspace's currency."
)


class AccountValueSerializer(serializers.ModelSerializer[AccountValue]):
    class Meta:
        model = AccountValue
        fields = [
            "account_id",
            "arr",
            "revenue_12m",
            "expansion_12m",
            "cost_to_serve_12m",
            "roi",
            "churn_probability",
            "expected_lifetime_years",
            "clv",
            "as_of",
        ]
        read_only_fields = fields


class AccountValueApi(APIView):
    @extend_schema(
        summary="An account's ROI and lifetime value",
        description=VALUE_DOC + " 404 when the account does not exist or is not valued yet.",
        responses=AccountValueSerializer,
        operation_id="account_value_get",
    )
    def get(self, request: Request, account_id: str) -> Response:
        value = selectors.account_value_get(account_id=int(account_id))
        return Response(AccountValueSerializer(value).data)


class EquityGroupSerializer(serializers.Serializer[Any]):
    group = serializers.CharField(
        allow_null=True, help_text="Segment, squad id or root account id; null for the total."
    )
    accounts = serializers.IntegerField()
    accounts_with_clv = serializers.IntegerField()
    customer_equity = serializers.DecimalField(max_digits=20, decimal_places=2)
    arr = serializers.DecimalField(max_digits=20, decimal_places=2)


class EquityQuerySerializer(serializers.Serializer[Any]):
    group_by = serializers.ChoiceField(
        choices=selectors.EQUITY_GROUPS,
        required=False,
        help_text="segment, squad or parent (the top account of each hierarchy).",
    )


class CustomerEquityApi(APIView):
    @extend_schema(
        summary="Customer equity",
        description="The sum of CLV, with ARR, in total or per group. " + VALUE_DOC,
        parameters=[EquityQuerySerializer],
        responses=EquityGroupSerializer(many=True),
        operation_id="customer_equity_get",
    )
    def get(self, request: Request) -> Response:
        query = EquityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.customer_equity(group_by=query.validated_data.get("group_by"))
        return Response(EquityGroupSerializer(rows, many=True).data)


class EquityPointSerializer(serializers.Serializer[Any]):
    day = serializers.DateField()
    customer_equity = serializers.DecimalField(max_digits=20, decimal_places=2)
    arr = serializers.DecimalField(max_digits=20, decimal_places=2)


class EquitySeriesQuerySerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField(min_value=1, max_value=730, required=False, default=180)


class CustomerEquitySeriesApi(APIView):
    @extend_schema(
        summary="Customer equity over time",
        description="Per UTC day, from the daily value snapshots of the last `days` days.",
        parameters=[EquitySeriesQuerySerializer],
        responses=EquityPointSerializer(many=True),
        operation_id="customer_equity_series",
    )
    def get(self, request: Request) -> Response:
        query = EquitySeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.customer_equity_series(days=query.validated_data["days"])
        return Response(EquityPointSerializer(rows, many=True).data)


class ValueSettingsSerializer(serializers.ModelSerializer[ValueSettings]):
    role_hourly_rates = serializers.DictField(
        child=serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal(0)),
        required=False,
        help_text=(
            "Cost of an hour of work per functional role of the member who logged the effort "
            f'({", ".join(ROLES)}), e.g. {{"success": "75.00", "sales": "90.00"}}. '
            "Effort by a role not listed, or logged by a user who is no squads member, costs "
            "`hourly_rate`. A change replaces the whole map."
        ),
    )

    class Meta:
        model = ValueSettings
        fields = [
            "gross_margin",
            "hourly_rate",
            "role_hourly_rates",
            "ticket_cost",
            "onboarding_cost",
            "lifetime_cap_years",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "gross_margin": {"min_value": 0, "max_value": 1},
            "hourly_rate": {"min_value": 0},
            "ticket_cost": {"min_value": 0},
            "onboarding_cost": {"min_value": 0},
            "lifetime_cap_years": {"min_value": Decimal("0.01"), "max_value": 50},
        }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    def validate_role_hourly_rates(self, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        errors = role_hourly_rates_errors(rates)
        if errors:
            raise serializers.ValidationError(errors)
        return rates


class ValueSettingsApi(APIView):
    permission_classes = [ProfileWritePermission]

    @extend_schema(
        summary="Get the value settings",
        description="The cost rates and economics behind ROI and CLV. " + VALUE_DOC,
        responses=ValueSettingsSerializer,
        operation_id="value_settings_get",
    )
    def get(self, request: Request) -> Response:
        return Response(ValueSettingsSerializer(value_settings_get()).data)

    @extend_schema(
        summary="Change the value settings",
        description="Only the fields sent change; figures follow at the next full pass.",
        request=ValueSettingsSerializer,
        responses=ValueSettingsSerializer,
        operation_id="value_settings_update",
    )
    def patch(self, request: Request) -> Response:
        payload = ValueSettingsSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        settings = value_settings_update(data=dict(payload.validated_data))
        return Response(ValueSettingsSerializer(settings).data)
