from __future__ import annotations

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class ApiKey(AbstractAPIKey):
    """A named, scoped, revocable credential for integrators.

    Only a SHA-512 hash and an 8-character lookup prefix are stored; the key itself is shown
    once, when it is created. Keys live in the tenant's schema, so they mean nothing elsewhere.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        READ_WRITE = "read_write", "Read and write"

    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.READ)
    created_by = models.ForeignKey(
        "users.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        abstract = False
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope__in=["read", "read_write"]), name="api_key_scope_known"
            )
        ]


class Job(models.Model):
    """One ingest, import or webhook job: what it was asked, what it did, how long it took."""

    class Kind(models.TextChoices):
        EVENT_BATCH = "event_batch"
        SEGMENT = "segment"
        STRIPE = "stripe"
        CSV_IMPORT = "csv_import"
        WEBHOOK_DELIVERY = "webhook_delivery"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "Succeeded with rejected records"
        FAILED = "failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    created_by = models.ForeignKey(
        "users.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Work done (rows done / total for imports) and its outcome.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(
        default=list, blank=True, help_text="The first errors, each {index|row, field, message}."
    )
    parameters = models.JSONField(
        default=dict, blank=True, help_text="What the job was asked (entity, mapping, dry run...)."
    )
    upload = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    rejected_rows = models.FileField(upload_to="imports/rejected/%Y/%m/", blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(processed__lte=models.F("total")) | models.Q(total=0),
                name="job_progress_within_total",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"


class StripeConnection(models.Model):
    """The tenant's Stripe webhook endpoint secret (one connection per tenant)."""

    endpoint_secret = models.CharField(max_length=200, help_text="Stripe's whsec_... value.")
    tolerance_seconds = models.PositiveIntegerField(default=300)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return "Stripe connection"


class WebhookEndpoint(models.Model):
    """An outbound webhook subscription: where to POST which event types, signed with `secret`."""

    url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list, help_text="Event names, e.g. health_band.changed.")
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        RETRYING = "retrying"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=100)
    event_id = models.UUIDField()
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="delivery_once_per_event")
        ]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"
