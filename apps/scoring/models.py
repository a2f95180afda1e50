"""Health profiles, current health scores and their narrow daily history, churn calibrations.

Scores run from 0 to 100 and 100 is always healthiest. A score's per-component values are kept
as one flat array of (raw value, component score, effective weight) triples in the order of
the profile version's components, so a year of daily history for a million accounts stays a
few numbers per row; the explanation is built from them when asked, never stored as prose.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.accounts.models import Account


class Band(models.TextChoices):
    GOOD = "good", "Good (70 and above)"
    AVERAGE = "average", "Average (40 to 69)"
    POOR = "poor", "Poor (below 40)"


GOOD_FROM = 70.0
AVERAGE_FROM = 40.0


def band_of(score: float) -> str:
    if score >= GOOD_FROM:
        return Band.GOOD
    if score >= AVERAGE_FROM:
        return Band.AVERAGE
    return Band.POOR


class HealthProfile(models.Model):
    """Weighted components scoring the accounts of a scope; every change is a new version.

    The scope is a segment and/or lifecycle stage ("" = any); an account is scored by the most
    specific profile that matches it (segment and stage, then segment, then stage, then any).
    """

    name = models.CharField(max_length=200)
    segment = models.CharField(max_length=50, blank=True)
    lifecycle_stage = models.CharField(max_length=20, blank=True)
    version = models.PositiveIntegerField(default=1)
    components = models.JSONField()
    # Maps a score to a churn probability once an admin accepted a calibration:
    # {"intercept": a, "slope": b, "calibration_id": n}, P(churn) = 1 / (1 + exp(-(a + b x score))).
    churn_model = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "lifecycle_stage"], name="health_profile_one_per_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class HealthProfileVersion(models.Model):
    """An immutable copy of each version of a profile, so old snapshots stay explainable."""

    profile = models.ForeignKey(HealthProfile, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    segment = models.CharField(max_length=50, blank=True)
    lifecycle_stage = models.CharField(max_length=20, blank=True)
    components = models.JSONField()
    churn_model = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "version"], name="health_profile_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


def component_values() -> ArrayField[Any, Any]:
    return ArrayField(
        models.FloatField(null=True),
        help_text="(raw value, score, effective weight %) per component, in profile order.",
    )


class HealthScore(models.Model):
    """An account's current health, and the state it replaced when its score last changed."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    score = models.FloatField()
    band = models.CharField(max_length=7, choices=Band.choices)
    profile = models.ForeignKey(HealthProfile, on_delete=models.CASCADE, related_name="+")
    profile_version = models.PositiveIntegerField()
    components = component_values()
    as_of = models.DateTimeField()
    churn_probability = models.FloatField(null=True, blank=True)
    previous_score = models.FloatField(null=True, blank=True)
    previous_band = models.CharField(max_length=7, blank=True)
    previous_profile_version = models.PositiveIntegerField(null=True, blank=True)
    previous_components = ArrayField(models.FloatField(null=True), null=True, blank=True)
    previous_as_of = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.account_id}: {self.score} ({self.band})"


class HealthSnapshot(models.Model):
    """History: one row per account per UTC day (the day's last score) plus one per band change."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    as_of = models.DateTimeField()
    score = models.FloatField()
    band = models.CharField(max_length=7, choices=Band.choices)
    band_change = models.BooleanField(default=False)
    profile = models.ForeignKey(
        HealthProfile, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    profile_version = models.PositiveIntegerField()
    components = component_values()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day"],
                condition=Q(band_change=False),
                name="health_snapshot_one_daily",
            )
        ]
        indexes = [models.Index(fields=["account", "-as_of"], name="health_snapshot_account")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}: {self.score}"


class Calibration(models.Model):
    """A churn calibration run: fitted weights and the held-out report card."""

    class Status(models.TextChoices):
        FITTED = "fitted"
        INSUFFICIENT = "insufficient_history"
        ACCEPTED = "accepted"

    profile = models.ForeignKey(HealthProfile, on_delete=models.CASCADE, related_name="+")
    profile_version = models.PositiveIntegerField()
    horizon_days = models.PositiveIntegerField(default=30)
    status = models.CharField(max_length=20, choices=Status.choices)
    message = models.TextField(blank=True)
    weights = models.JSONField(default=dict, blank=True)
    churn_model = models.JSONField(null=True, blank=True)
    # Proposed thresholds per component key (those the fit reshaped); accepting applies them.
    mappings = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"calibration {self.pk} ({self.status})"


class CalibrationRun(models.Model):
    """A request to calibrate, worked by a background task: queued -> running -> finished
    (with its calibration) or failed (with why)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    profile = models.ForeignKey(HealthProfile, on_delete=models.CASCADE, related_name="+")
    horizon_days = models.PositiveIntegerField(default=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    calibration = models.OneToOneField(
        Calibration, null=True, blank=True, on_delete=models.SET_NULL, related_name="run"
    )
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"calibration run {self.pk} ({self.status})"


class ValueSettings(models.Model):
    """The workspace's cost rates and economics for ROI and CLV (one row per tenant schema)."""

    gross_margin = models.DecimalField(
        max_digits=5, decimal_places=4, default=0.8, help_text="0..1: share of revenue kept."
    )
    hourly_rate = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=60,
        help_text="Cost of an hour of work by a role without its own rate (or by no member).",
    )
    # {functional role: cost of an hour}; effort logged by a member of a role not listed here
    # costs `hourly_rate`.
    role_hourly_rates = models.JSONField(
        default=dict, blank=True, help_text="Cost of an hour of work per functional role."
    )
    ticket_cost = models.DecimalField(max_digits=10, decimal_places=2, default=25)
    onboarding_cost = models.DecimalField(max_digits=10, decimal_places=2, default=500)
    lifetime_cap_years = models.DecimalField(max_digits=5, decimal_places=2, default=5)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "value settings"


class AccountValue(models.Model):
    """An account's current ROI, churn probability and lifetime value (money in the tenant's
    currency)."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    arr = models.DecimalField(max_digits=16, decimal_places=2)
    revenue_12m = models.DecimalField(max_digits=16, decimal_places=2)
    expansion_12m = models.DecimalField(max_digits=16, decimal_places=2)
    cost_to_serve_12m = models.DecimalField(max_digits=16, decimal_places=2)
    roi = models.FloatField(null=True, blank=True)
    churn_probability = models.FloatField(null=True, blank=True)
    expected_lifetime_years = models.FloatField(null=True, blank=True)
    clv = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    as_of = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.account_id}: CLV {self.clv}"


class AccountValueSnapshot(models.Model):
    """History of value: one narrow row per account per UTC day."""

    pk = models.CompositePrimaryKey("account_id", "day")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    arr = models.DecimalField(max_digits=16, decimal_places=2)
    roi = models.FloatField(null=True, blank=True)
    clv = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["day"], name="value_snapshot_day")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}: {self.clv}"
