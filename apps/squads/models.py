"""Squads: members and their roles, squads, queues, work items, plays, runs and cycles.

A squad is a small cross-functional team around one value area. Each squad has one pooled
queue; its items belong to the squad until a member claims them. Plays turn events and dates
into items. Cycles are the squad's break-fix iterations, its learning record.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class FunctionalRole(models.TextChoices):
    SALES = "sales"
    MARKETING = "marketing"
    SUCCESS = "success"
    SERVICE = "service"
    PRODUCT = "product"
    COMMUNICATIONS = "communications"
    ACCOUNT_MANAGEMENT = "account_management"
    ANALYST = "analyst"


class PermissionLevel(models.TextChoices):
    """Ordered from least to most: each level may do everything the one before may."""

    READ_ONLY = "read_only"
    MEMBER = "member"
    MANAGER = "manager"
    ADMIN = "admin"


PERMISSION_RANK: dict[str, int] = {level: rank for rank, level in enumerate(PermissionLevel)}


class ValueArea(models.TextChoices):
    GEOGRAPHY = "geography"
    ACCOUNT_BASED = "account_based"
    REVENUE_OPERATIONS = "revenue_operations"
    PRODUCT_SERVICE = "product_service"
    DESIGN_SUPPORT = "design_support"
    CROSS_CHANNEL_MARKETING = "cross_channel_marketing"


# The roles a mission of each value area needs; a squad missing one has a skill gap. Every
# template covers the whole field, acquisition (sales) to renewal (success), plus its speciality.
MISSION_TEMPLATES: dict[str, tuple[str, ...]] = {
    ValueArea.GEOGRAPHY: ("sales", "marketing", "success", "service", "account_management"),
    ValueArea.ACCOUNT_BASED: ("sales", "marketing", "success", "account_management", "analyst"),
    ValueArea.REVENUE_OPERATIONS: ("sales", "success", "account_management", "analyst"),
    ValueArea.PRODUCT_SERVICE: ("success", "service", "product", "analyst"),
    ValueArea.DESIGN_SUPPORT: ("product", "service", "communications", "success"),
    ValueArea.CROSS_CHANNEL_MARKETING: ("marketing", "communications", "sales", "analyst"),
}

SQUAD_SIZE_MIN = 6
SQUAD_SIZE_MAX = 10


class Member(models.Model):
    """A tenant user's squads profile: functional role, permission level, capacity, availability.

    One per user. A user without a profile reads only (tenant admins are always admins).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="squad_member"
    )
    role = models.CharField(max_length=30, choices=FunctionalRole.choices)
    permission_level = models.CharField(
        max_length=10, choices=PermissionLevel.choices, default=PermissionLevel.MEMBER
    )
    capacity = models.PositiveSmallIntegerField(
        default=25, help_text="The most open (claimed or snoozed) items this member holds."
    )
    is_available = models.BooleanField(
        default=True, help_text="Unavailable members get no items from assignment policies."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="member_capacity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class Squad(models.Model):
    name = models.CharField(max_length=120, unique=True)
    mission = models.TextField(blank=True)
    value_area = models.CharField(max_length=30, choices=ValueArea.choices)
    account_filter = models.JSONField(
        default=dict,
        blank=True,
        help_text="A saved account filter (segment, region, tier, lifecycle_stage): accounts "
        "it matches are covered as well as the ones assigned explicitly.",
    )
    cycle_length_days = models.PositiveSmallIntegerField(default=14)
    replicated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replicas"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class SquadMembership(models.Model):
    squad = models.ForeignKey(Squad, on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(
        max_length=30, choices=FunctionalRole.choices, help_text="The member's role in the squad."
    )
    is_lead = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["squad", "member"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.squad}"


class AssignmentPolicy(models.TextChoices):
    MANUAL = "manual"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    BY_ROLE = "by_role"


class Queue(models.Model):
    squad = models.OneToOneField(Squad, on_delete=models.CASCADE, related_name="queue")
    assignment_policy = models.CharField(
        max_length=20, choices=AssignmentPolicy.choices, default=AssignmentPolicy.MANUAL
    )
    policy_role = models.CharField(
        max_length=30,
        choices=FunctionalRole.choices,
        blank=True,
        help_text="by_role: new items go to the least-loaded available member of this role.",
    )
    sla_hours = models.PositiveIntegerField(default=72, help_text="Hours to complete an item.")
    # The member who got the last round-robin item; the next one goes to the member after.
    round_robin_last_member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.squad} queue"


class PlayStatus(models.TextChoices):
    DRAFT = "draft"
    ACTIVE = "active"
    DISABLED = "disabled"


class TriggerKind(models.TextChoices):
    HEALTH_BAND_CHANGED = "health_band_changed"
    SCORE_THRESHOLD = "score_threshold"
    USAGE_DROP = "usage_drop"
    RENEWAL_WITHIN = "renewal_within"
    MILESTONE_OVERDUE = "milestone_overdue"
    SURVEY_BELOW = "survey_below"
    OPPORTUNITY_WON = "opportunity_won"
    EXPANSION_SIGNAL = "expansion_signal"
    SEGMENT_ENTERED = "segment_entered"
    LIFECYCLE_STAGE_ENTERED = "lifecycle_stage_entered"


class Play(models.Model):
    squad = models.ForeignKey(Squad, on_delete=models.CASCADE, related_name="plays")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=PlayStatus.choices, default=PlayStatus.DRAFT)
    trigger = models.CharField(max_length=30, choices=TriggerKind.choices)
    trigger_config = models.JSONField(default=dict, blank=True)
    audience = models.JSONField(
        default=dict,
        blank=True,
        help_text="Account filter: segment, region, tier, lifecycle_stage (lists), "
        "squad_accounts_only (bool).",
    )
    item_template = models.JSONField(
        default=dict,
        blank=True,
        help_text="The work item it creates: title (with {account}), description, checklist "
        "(list of strings), due_in_days, kind (risk or expansion).",
    )
    set_lifecycle_stage = models.CharField(
        max_length=20, blank=True, help_text="Also move matched accounts to this stage."
    )
    send_webhook = models.BooleanField(
        default=False,
        help_text="Also announce each run that created items as a signed `play.fired` webhook.",
    )
    reenrol_max = models.PositiveSmallIntegerField(
        default=1, help_text="Items per account at most within reenrol_window_days."
    )
    reenrol_window_days = models.PositiveSmallIntegerField(default=30)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class PlayRun(models.Model):
    """The audit of one evaluation of a play: what matched and what it created or updated."""

    class Cause(models.TextChoices):
        EVENT = "event"
        SCHEDULE = "schedule"
        MANUAL = "manual"
        DRY_RUN = "dry_run"

    play = models.ForeignKey(Play, on_delete=models.CASCADE, related_name="runs")
    cause = models.CharField(max_length=10, choices=Cause.choices)
    event = models.CharField(max_length=60, blank=True, help_text="The domain event, if any.")
    dry_run = models.BooleanField(default=False)
    evaluated_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)
    # The first MATCHED_IDS_KEPT matched ids: enough to explain a run, bounded for daily runs.
    matched_account_ids = models.JSONField(default=list)
    created_item_ids = models.JSONField(default=list)
    updated_item_ids = models.JSONField(default=list)
    decisions = models.JSONField(
        default=dict,
        help_text="Account id -> create, update (an open item exists) or skip (with why).",
    )
    ran_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["play", "-ran_at"])]

    def __str__(self) -> str:
        return f"{self.play} run {self.ran_at:%Y-%m-%d %H:%M}"


class WorkItemStatus(models.TextChoices):
    OPEN = "open"
    CLAIMED = "claimed"
    SNOOZED = "snoozed"
    DONE = "done"
    DISMISSED = "dismissed"


OPEN_STATUSES = (WorkItemStatus.OPEN, WorkItemStatus.CLAIMED, WorkItemStatus.SNOOZED)


class PriorityBasis(models.TextChoices):
    EXPECTED_LOSS = "expected_loss", "churn probability x ARR"
    EXPECTED_GAIN = "expected_gain", "open expansion amount x health"
    FALLBACK = "fallback", "no score yet: ARR x the fallback churn probability"


class WorkItem(models.Model):
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    play = models.ForeignKey(
        Play, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    checklist = models.JSONField(default=list, blank=True, help_text='[{"text", "done"}]')
    priority = models.DecimalField(
        max_digits=16, decimal_places=2, default=0, help_text="Expected loss or gain (money)."
    )
    priority_basis = models.CharField(
        max_length=20, choices=PriorityBasis.choices, default=PriorityBasis.FALLBACK
    )
    due_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN
    )
    assignee = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)
    effort_minutes = models.PositiveIntegerField(default=0)
    dismissed_reason = models.CharField(max_length=300, blank=True)
    # The touchpoint its completion wrote on the account's timeline.
    touchpoint_id = models.BigIntegerField(null=True, blank=True)
    retriggered_count = models.PositiveIntegerField(default=0)
    # The account's health band when the item was opened and when it was completed ("" when
    # unscored): a completed item that took an account out of poor is a save.
    band_at_open = models.CharField(max_length=10, blank=True)
    band_at_close = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Dedup in the database: at most one open item of a play for an account.
            models.UniqueConstraint(
                fields=["play", "account"],
                condition=Q(status__in=["open", "claimed", "snoozed"]),
                name="work_item_one_open_per_play_account",
            ),
            models.CheckConstraint(
                condition=~Q(status="claimed") | Q(assignee__isnull=False),
                name="work_item_claimed_has_assignee",
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="work_item_snoozed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("created_at")),
                name="work_item_closed_after_created",
            ),
        ]
        indexes = [
            models.Index(fields=["queue", "status", "-priority"], name="work_item_queue_status"),
            models.Index(fields=["assignee", "status"], name="work_item_assignee_status"),
            models.Index(
                fields=["snoozed_until"],
                condition=Q(status="snoozed"),
                name="work_item_snoozed_until",
            ),
            models.Index(fields=["play", "account", "-created_at"], name="work_item_enrolment"),
        ]

    def __str__(self) -> str:
        return self.title


class WorkItemEvent(models.Model):
    """The history of an item: every action, with who did it; comments are events too."""

    class Kind(models.TextChoices):
        CREATED = "created"
        RETRIGGERED = "retriggered"
        CLAIMED = "claimed"
        ASSIGNED = "assigned"
        RELEASED = "released"
        SNOOZED = "snoozed"
        WOKE = "woke"
        COMPLETED = "completed"
        DISMISSED = "dismissed"
        COMMENTED = "commented"

    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(blank=True, help_text="A comment's text.")
    data: Any = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["item", "at"])]

    def __str__(self) -> str:
        return f"{self.kind} on item {self.item_id}"


class Cycle(models.Model):
    """A short break-fix iteration of a squad: goal, hypothesis, dates, changes, outcome."""

    class Status(models.TextChoices):
        PLANNED = "planned"
        ACTIVE = "active"
        CLOSED = "closed"

    squad = models.ForeignKey(Squad, on_delete=models.CASCADE, related_name="cycles")
    name = models.CharField(max_length=120)
    goal = models.TextField()
    hypothesis = models.TextField(blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField()
    play_changes = models.TextField(blank=True, help_text="What was changed in the plays.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    outcome = models.JSONField(
        default=dict, blank=True, help_text="Figures measured when the cycle was closed."
    )
    lessons = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="cycle_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.name
