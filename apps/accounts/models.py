"""The account 360: one account record joining front-of-field and back-of-field data.

Records synced from other systems carry `source_system` + `external_id`; the pair is unique,
so bulk upserts and re-imports are idempotent. Money is stored in the tenant's currency.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower


class Timestamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class ExternallySourced(Timestamped):
    source_system = models.CharField(
        max_length=40, default="api", help_text="The system the record comes from (crm, stripe...)."
    )
    # NULL, not "": records without an external id never collide in the unique constraint.
    external_id = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, help_text="The record's id in its source system."
    )

    class Meta:
        abstract = True


def unique_external_id(model_name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["source_system", "external_id"], name=f"{model_name}_external_id_unique"
    )


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect"
    ONBOARDING = "onboarding"
    ADOPTING = "adopting"
    RENEWING = "renewing"
    EXPANDING = "expanding"
    CHURNED = "churned"


class Account(ExternallySourced):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, help_text="Web domain, e.g. example.com.")
    industry = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    segment = models.CharField(
        max_length=50, blank=True, help_text="e.g. smb, mid-market, enterprise."
    )
    tier = models.CharField(max_length=50, blank=True)
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.PROSPECT
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Becomes a foreign key to squads.Squad in the squads app's migrations; accounts imports no app.
    squad_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    currency = models.CharField(max_length=3, default="USD")
    attributes = models.JSONField(default=dict, blank=True)
    # Deliberately unindexed: ingest marks thousands of accounts a second, and an index on this
    # column would make every mark rewrite all of the account's index entries (no HOT update);
    # the scorer's scan for marked accounts is a cheap sequential read of one table.
    rescore_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when new data touches the account; the scorer clears it, then reads.",
    )
    # The current health score, copied here by the scoring app's recompute (set-based, in the
    # pass that scores the account) so that lists filter and sort by it without importing
    # scoring. 0..100, 100 healthiest.
    health_score = models.FloatField(null=True, blank=True, help_text="0..100, 100 healthiest.")
    # A database default too: bulk COPY writers that do not name the column leave it empty.
    health_band = models.CharField(
        max_length=7,
        blank=True,
        default="",
        db_default="",
        help_text="good (>= 70), average (40..69) or poor (< 40).",
    )
    health_trend = models.FloatField(
        null=True, blank=True, help_text="Score change over the last 30 days."
    )
    health_as_of = models.DateTimeField(
        null=True, blank=True, help_text="The moment the health score describes."
    )
    # MRR in force today and the end of the soonest term in force, copied here from the
    # subscription terms (apps.accounts.services.revenue) when terms change and again each day,
    # so that the accounts list sorts and pages by them on an index instead of aggregating every
    # term of the tenant per page.
    current_mrr = models.DecimalField(
        max_digits=16,
        decimal_places=2,
        default=Decimal(0),
        db_default=Decimal(0),
        help_text="MRR of the terms in force (as of RevenueSnapshot.accounts_refreshed_on).",
    )
    next_renewal_on = models.DateField(
        null=True, blank=True, help_text="End of the soonest term in force; empty when none ends."
    )

    class Meta:
        constraints = [
            unique_external_id("account"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="account_not_own_parent"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="account_currency_iso"
            ),
        ]
        indexes = [
            models.Index(fields=["segment"]),
            models.Index(fields=["lifecycle_stage"]),
            models.Index(fields=["health_score"], name="account_health_score"),
            # The keyset orders of the accounts list (the id breaks ties).
            models.Index(fields=["current_mrr", "id"], name="account_mrr_keyset"),
            models.Index(fields=["next_renewal_on", "id"], name="account_renewal_keyset"),
            models.Index(fields=["name", "id"], name="account_name_keyset"),
            # Renewals at risk: accounts of some bands renewing within a window.
            models.Index(fields=["health_band", "next_renewal_on"], name="account_band_renewal"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(ExternallySourced):
    class Persona(models.TextChoices):
        EXECUTIVE_SPONSOR = "executive_sponsor"
        DECISION_MAKER = "decision_maker"
        ADMIN = "admin"
        USER = "user"
        BILLING = "billing"
        TECHNICAL = "technical"
        OTHER = "other"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200, blank=True)
    persona = models.CharField(max_length=30, choices=Persona.choices, default=Persona.USER)
    is_champion = models.BooleanField(default=False)

    class Meta:
        constraints = [unique_external_id("contact")]
        indexes = [models.Index(fields=["account", "email"])]

    def __str__(self) -> str:
        return self.name or self.email


class Lead(ExternallySourced):
    class Status(models.TextChoices):
        NEW = "new"
        WORKING = "working"
        QUALIFIED = "qualified"
        DISQUALIFIED = "disqualified"
        CONVERTED = "converted"

    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    company = models.CharField(max_length=200, blank=True)
    lead_source = models.CharField(
        max_length=100, blank=True, help_text="e.g. webinar, paid search."
    )
    campaign = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    converted_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="converted_leads"
    )
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            unique_external_id("lead"),
            models.CheckConstraint(
                condition=~Q(status="converted") | Q(converted_account__isnull=False),
                name="lead_converted_has_account",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.email or self.company


class Opportunity(ExternallySourced):
    class Kind(models.TextChoices):
        NEW = "new"
        EXPANSION = "expansion"
        RENEWAL = "renewal"

    class Status(models.TextChoices):
        OPEN = "open"
        WON = "won"
        LOST = "lost"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="opportunities")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NEW)
    stage = models.CharField(
        max_length=60, default="prospecting", help_text="The CRM's stage name."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    close_date = models.DateField(null=True, blank=True)
    loss_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "opportunities"
        constraints = [
            unique_external_id("opportunity"),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="opportunity_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(status="lost") | Q(loss_reason=""),
                name="opportunity_loss_reason_only_when_lost",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status"]),
            # The account timeline and "last won deal" read an account's deals by close date.
            models.Index(fields=["account", "-close_date"], name="opportunity_account_close"),
        ]

    def __str__(self) -> str:
        return self.name


class OnboardingPlan(Timestamped):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="onboarding_plans")
    name = models.CharField(max_length=200, default="Onboarding")
    started_on = models.DateField()
    target_live_on = models.DateField(null=True, blank=True)
    completed_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(completed_on__isnull=True) | Q(completed_on__gte=F("started_on")),
                name="onboarding_completed_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class Milestone(Timestamped):
    plan = models.ForeignKey(OnboardingPlan, on_delete=models.CASCADE, related_name="milestones")
    name = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField(default=0)
    due_on = models.DateField(null=True, blank=True)
    completed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "position", "id"]
        indexes = [
            models.Index(
                fields=["due_on"], condition=Q(completed_on__isnull=True), name="milestone_open_due"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def overdue_on(day: date) -> Q:
        """Milestones not completed and due before `day`."""
        return Q(completed_on__isnull=True, due_on__lt=day)

    def is_overdue_on(self, day: date) -> bool:
        """`overdue_on` for this one milestone."""
        return self.completed_on is None and self.due_on is not None and self.due_on < day


class Subscription(ExternallySourced):
    """One term of a subscription: `mrr` applies from period_start up to (not incl.) period_end.

    MRR on a day is the sum of the terms in force that day (status active or past_due).
    `change_kind` records how the term began (new, renewal, upgrade...).
    """

    class Status(models.TextChoices):
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"

    class ChangeKind(models.TextChoices):
        NEW = "new"
        RENEWAL = "renewal"
        UPGRADE = "upgrade"
        DOWNGRADE = "downgrade"
        CANCELLATION = "cancellation"
        REACTIVATION = "reactivation"

    # The statuses whose terms count towards MRR (trialing and canceled terms count 0).
    IN_FORCE_STATUSES = (Status.ACTIVE, Status.PAST_DUE)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.CharField(max_length=100)
    mrr = models.DecimalField(max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField(default=1)
    currency = models.CharField(max_length=3, default="USD")
    period_start = models.DateField()
    period_end = models.DateField(null=True, blank=True, help_text="Exclusive; empty = open-ended.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    change_kind = models.CharField(
        max_length=20, choices=ChangeKind.choices, default=ChangeKind.NEW
    )

    class Meta:
        constraints = [
            unique_external_id("subscription"),
            models.CheckConstraint(condition=Q(mrr__gte=0), name="subscription_mrr_not_negative"),
            models.CheckConstraint(
                condition=Q(period_end__isnull=True) | Q(period_end__gt=F("period_start")),
                name="subscription_period_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "period_start"]),
            models.Index(fields=["period_start", "period_end"]),
            # Renewals due: terms in force by end date (the dashboard's soonest renewals).
            models.Index(
                fields=["period_end", "account"],
                condition=Q(status__in=("active", "past_due"), period_end__isnull=False),
                name="subscription_renewing_by_end",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan} {self.mrr}/mo"

    @classmethod
    def in_force_on(cls, day: date) -> Q:
        """Terms whose MRR counts on `day`."""
        return Q(status__in=cls.IN_FORCE_STATUSES, period_start__lte=day) & (
            Q(period_end__isnull=True) | Q(period_end__gt=day)
        )

    def is_in_force_on(self, day: date) -> bool:
        """`in_force_on` for this one term."""
        return bool(
            self.status in self.IN_FORCE_STATUSES
            and self.period_start <= day
            and (self.period_end is None or self.period_end > day)
        )


class UsageEvent(models.Model):
    """A product-usage event. Built for ~100M rows per tenant.

    Reads are "events of these accounts in this window" (scoring, the 360 view), so the
    (account, occurred_at) b-tree serves them; a BRIN index on occurred_at keeps time-range
    scans and retention deletes cheap at a few MB for 100M mostly-appended rows. The table is
    not partitioned: a partitioned table can only enforce a unique idempotency key that
    includes the partition key, and ingest promises one copy per key whatever its timestamp.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own: (account, occurred_at) below serves every lookup by account.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="usage_events", db_index=False
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_events"
    )
    name = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    value = models.FloatField(default=1.0)
    properties = models.JSONField(default=dict, blank=True)
    # Unique through a constraint, not unique=True, which would add a second (LIKE) index.
    idempotency_key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="usage_event_idempotency_key")
        ]
        indexes = [
            models.Index(fields=["account", "-occurred_at"], name="usage_account_time"),
            BrinIndex(fields=["occurred_at"], name="usage_time_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class UsageDay(models.Model):
    """Daily usage rollup: per account, UTC day and event name, how many events and their value.

    Maintained in the same transaction as every event write (counting only rows really
    inserted, so duplicates add nothing) and rebuildable from the raw events
    (`usage_rollup_rebuild`). Scores read this table, never `UsageEvent`, so their cost grows
    with accounts x days rather than with event history. The composite primary key is the only
    index: it serves the upsert and every "this account's days" read, and adds no sequence.
    """

    pk = models.CompositePrimaryKey("account_id", "day", "name")
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="usage_days", db_index=False
    )
    day = models.DateField()
    name = models.CharField(max_length=200)
    event_count = models.BigIntegerField()
    value_sum = models.FloatField()

    def __str__(self) -> str:
        return f"{self.name} x{self.event_count} on {self.day}"


class Ticket(ExternallySourced):
    class Priority(models.TextChoices):
        URGENT = "urgent"
        HIGH = "high"
        NORMAL = "normal"
        LOW = "low"

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        SOLVED = "solved"
        CLOSED = "closed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tickets")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=300)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            unique_external_id("ticket"),
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True)
                | Q(first_response_at__gte=F("opened_at")),
                name="ticket_response_after_open",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("opened_at")),
                name="ticket_closed_after_open",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status"]),
            models.Index(fields=["account", "-opened_at"], name="ticket_account_opened"),
        ]

    def __str__(self) -> str:
        return self.subject


class SurveyResponse(ExternallySourced):
    """NPS (0-10), CSAT (1-5) or CES (1-7), tied to the moment that matters it measured."""

    class Kind(models.TextChoices):
        NPS = "nps", "Net Promoter Score"
        CSAT = "csat", "Customer Satisfaction"
        CES = "ces", "Customer Effort Score"

    SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="survey_responses")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=4, choices=Kind.choices)
    score = models.SmallIntegerField()
    moment = models.CharField(
        max_length=100,
        blank=True,
        help_text="The moment that matters, e.g. onboarding, support, renewal.",
    )
    comment = models.TextField(blank=True)
    responded_at = models.DateTimeField()

    class Meta:
        constraints = [
            unique_external_id("surveyresponse"),
            models.CheckConstraint(
                condition=(
                    Q(kind="nps", score__gte=0, score__lte=10)
                    | Q(kind="csat", score__gte=1, score__lte=5)
                    | Q(kind="ces", score__gte=1, score__lte=7)
                ),
                name="survey_score_in_range_for_kind",
            ),
        ]
        indexes = [models.Index(fields=["account", "kind", "-responded_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.score}"


class Touchpoint(ExternallySourced):
    class Kind(models.TextChoices):
        CALL = "call"
        MEETING = "meeting"
        EMAIL = "email"
        BUSINESS_REVIEW = "business_review"
        TRAINING = "training"
        WORK_ITEM = "work_item"
        OTHER = "other"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="touchpoints")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    effort_minutes = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [unique_external_id("touchpoint")]
        indexes = [models.Index(fields=["account", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d}"


class SavedView(models.Model):
    """A named filter and sort of the accounts list, kept for its owner (and, when shared,
    offered to everyone in the tenant)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_account_views"
    )
    name = models.CharField(max_length=80)
    # The list's query string without a page cursor, e.g. "band=poor&sort=-mrr".
    query = models.CharField(max_length=2000, blank=True)
    shared = models.BooleanField(default=False, help_text="Offered to everyone in the tenant.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "owner", Lower("name"), name="saved_view_name_unique_per_owner"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="saved_view_name_not_empty"),
        ]
        indexes = [models.Index(fields=["shared", "name"], name="saved_view_shared")]

    def __str__(self) -> str:
        return self.name


class RevenueSnapshot(models.Model):
    """The dashboard's revenue figures, computed periodically and when terms change: reading
    a year of terms takes seconds on a large tenant, reading this row takes one probe."""

    key = models.CharField(max_length=40, unique=True)
    computed_at = models.DateTimeField()
    figures = models.JSONField()
    # Set when a subscription term changes after computed_at; the refresh clears it.
    stale_since = models.DateTimeField(null=True, blank=True)
    # The day Account.current_mrr and next_renewal_on were last brought up to date for all
    # accounts (terms begin and end with the calendar, not only when they are written).
    accounts_refreshed_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key} as of {self.computed_at:%Y-%m-%d %H:%M}"


class PlanAdoption(models.Model):
    """Each completed onboarding plan's adoption day at the default adoption settings, as the
    field metrics define it (usage since going live reaching `threshold` events within
    `window_days` days), followed to `PlanAdoptionBuild.built_on`.

    Derived data, rebuilt whole and set-based (`apps.accounts.field.adoption`); the field
    report reads a row only while it still describes its plan (same live day) and is settled
    (adopted, or its window closed by the build day), and computes the others from the usage
    rollup. Never edited by hand.
    """

    plan = models.OneToOneField(
        OnboardingPlan, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    live_on = models.DateField()
    adopted_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"plan {self.plan_id} live {self.live_on} adopted {self.adopted_on}"


class PlanAdoptionBuild(models.Model):
    """The one record of when `PlanAdoption` was last rebuilt, and with which settings.

    Missing until the first build; its settings decide which reports may read the table."""

    singleton = models.BooleanField(primary_key=True, default=True)
    built_at = models.DateTimeField()
    built_on = models.DateField(help_text="Usage was followed up to and including this UTC day.")
    threshold = models.PositiveIntegerField()
    window_days = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(singleton=True), name="plan_adoption_build_single")
        ]

    def __str__(self) -> str:
        return f"plan adoption built {self.built_at:%Y-%m-%d %H:%M}"
