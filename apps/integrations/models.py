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
    # Events whose id was already stored with other content (the first write won), apart from
    # duplicates, and their positions in the request (the first 100).
    conflicts = models.PositiveIntegerField(default=0)
    conflict_indexes = models.JSONField(default=list, blank=True)
    created_records = models.JSONField(
        default=dict,
        blank=True,
        help_text="Accounts and contacts the job created: {accounts|contacts: {count, "
        "external_ids}} (the first 100 ids).",
    )
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
    """The tenant's Stripe webhook endpoint secret: one connection per tenant, always row 1."""

    SINGLETON_ID = 1

    endpoint_secret = models.CharField(max_length=200, help_text="Stripe's whsec_... value.")
    tolerance_seconds = models.PositiveIntegerField(default=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="stripe_connection_singleton")
        ]

    def __str__(self) -> str:
        return "Stripe connection"


class StripeEvent(models.Model):
    """A Stripe event already handled. Its id is unique, so a replayed event changes nothing."""

    class Outcome(models.TextChoices):
        APPLIED = "applied"
        SUPERSEDED = "superseded", "Older than the state already applied"
        IGNORED = "ignored", "Not an event type Fullfield maps"

    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class StripeObjectState(models.Model):
    """The newest Stripe snapshot applied per customer or subscription.

    Stripe events are snapshots and may arrive out of order: an event created before the one
    already applied to the same object is skipped, so an older state never overwrites a newer one.
    Invoice events only carry the payment state, so they have their own watermark.
    """

    class ObjectType(models.TextChoices):
        CUSTOMER = "customer"
        SUBSCRIPTION = "subscription"

    object_type = models.CharField(max_length=12, choices=ObjectType.choices)
    stripe_id = models.CharField(max_length=255)
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    current_term = models.ForeignKey(
        "accounts.Subscription",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The subscription's open term (or its cancellation row).",
    )
    last_event_created = models.DateTimeField(null=True, blank=True)
    last_event_id = models.CharField(max_length=255, blank=True)
    last_payment_event_created = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "stripe_id"], name="stripe_object_state_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.stripe_id}"


class WebhookEndpoint(models.Model):
    """An outbound webhook subscription: where to POST which event types, signed with `secret`."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="Event names, e.g. health_band.changed.")
    secret = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="Deliveries that failed for good since the last success."
    )
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(enabled=True) | ~models.Q(disabled_reason=""),
                name="webhook_endpoint_disabled_has_reason",
            )
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, with the outcome of its latest attempt.

    A worker claims it (status sending, lease_expires_at) with a conditional UPDATE, so a
    redelivered task never sends it twice at once; a lease left by a killed worker expires.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        RETRYING = "retrying"
        FAILED = "failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    event_type = models.CharField(max_length=100)
    event_id = models.UUIDField()
    payload = models.JSONField()
    is_test = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(
        max_length=500, blank=True, help_text="The start of the receiver's last response body."
    )
    last_error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long the last attempt took."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="delivery_once_per_event")
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"]),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending", "retrying"]),
                name="delivery_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"
