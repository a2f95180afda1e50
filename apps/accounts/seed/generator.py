"""A deterministic plan of a realistic tenant, as plain records (no database access).

The same seed, size and anchor date give the same records, timestamps included: "today" is
the `anchor` parameter, never the clock. Names, domains and account hierarchies come from one
tenant-wide random stream (they must be unique across accounts); everything else about an
account comes from its own `random.Random(f"{seed}/account/{index}")`, so one account's
records do not depend on how the writer chunks the work or on the other accounts.

Each customer has a hidden health curve (0..1) chosen from its fate (thriving, steady,
struggling, churning, win-back). Usage volume and feature breadth, ticket load, survey scores,
touchpoints and commercial events (upgrades, downgrades, churn) all follow that curve;
churning accounts decline for three to eight months before they leave.

Subscriptions: an account has a platform line (line 0) and sometimes an add-on line (line 1).
Within a line terms never overlap; a term's `period_end` is exclusive and NULL for
month-to-month plans. Annual terms renew on the anniversary of the start (upgrades co-term:
they split a term, they do not move its end). A churn ends the last paid term and opens a
zero-MRR `cancellation` row (status canceled) that lasts until a `reactivation`, if any.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from apps.accounts.revenue.periods import add_months
from apps.accounts.seed import vocabulary as words
from apps.accounts.seed.commercial import CommercialStory
from apps.accounts.seed.engagement import EngagementStory
from apps.accounts.seed.onboarding import OnboardingStory
from apps.accounts.seed.pipeline import PipelineStory
from apps.accounts.seed.plan import (
    DAY,
    PLAN_SEAT_PRICES,
    AccountPlan,
    ContactRecord,
    SeedConfig,
    SubscriptionRecord,
    _days_between,
    _log_uniform,
    _skeletons,
    _slug,
    _weighted,
)

__all__ = ["AccountPlan", "SeedConfig", "SubscriptionRecord", "add_months", "iter_account_plans"]


class _AccountStory(CommercialStory, PipelineStory, OnboardingStory, EngagementStory):
    """One account's story, told part by part (each part in its own module)."""

    def build(self) -> AccountPlan:
        self.build_contacts()
        if self.skeleton.is_prospect:
            self.build_prospect()
        else:
            self.build_customer()
        self.build_unconverted_leads()
        # Numbered in time order once complete: they are made out of order.
        self.plan.surveys.sort(key=lambda survey: survey.responded_at)
        for number, survey in enumerate(self.plan.surveys, start=1):
            survey.external_id = f"srv-{self.number}-{number:03d}"
        self.plan.touchpoints.sort(key=lambda touchpoint: touchpoint.occurred_at)
        for number, touchpoint in enumerate(self.plan.touchpoints, start=1):
            touchpoint.external_id = f"tp-{self.number}-{number:03d}"
        self.plan.contacts = self.contacts
        self.plan.fate = self.fate
        return self.plan

    def build_contacts(self) -> None:
        rng = self.rng
        low, high = self.profile.contacts
        count = rng.randint(low, high)
        personas = ["decision_maker", "admin"]
        if self.skeleton.segment != "smb":
            personas += ["executive_sponsor", "technical"]
        if rng.random() < 0.5:
            personas.append("billing")
        personas += ["user"] * max(0, count - len(personas))
        used: set[str] = set()
        for position, persona in enumerate(personas[:count]):
            first = rng.choice(words.FIRST_NAMES)
            last = rng.choice(words.LAST_NAMES)
            local = f"{_slug(first)}.{_slug(last)}"
            email_local, number = local, 2
            while email_local in used:
                email_local = f"{local}{number}"
                number += 1
            used.add(email_local)
            self.contacts.append(
                ContactRecord(
                    external_id=f"con-{self.number}-{position + 1:02d}",
                    name=f"{first} {last}",
                    email=f"{email_local}@{self.skeleton.domain}",
                    title=rng.choice(words.PERSONA_TITLES[persona]),
                    persona=persona,
                    is_champion=False,
                )
            )

    def choose_champion(self) -> None:
        if self.rng.random() < 0.35 + 0.55 * self.health.base:
            champion = self.contact_with("decision_maker", "admin", "user")
            if champion is not None:
                self.contacts[champion].is_champion = True

    def build_prospect(self) -> None:
        rng = self.rng
        first_seen = max(self.window_start, self.anchor - timedelta(days=rng.randint(10, 300)))
        source = self.converted_lead(first_seen)
        low, high = self.profile.seats
        projected = (
            _log_uniform(rng, low, high)
            * PLAN_SEAT_PRICES[_weighted(rng, self.profile.entry_plans)]
        )
        if rng.random() < 0.35 and first_seen < self.anchor - DAY:
            self.opportunity(
                name="new business",
                kind="new",
                status="lost",
                amount=projected * 12,
                close_date=self.random_day(first_seen, self.anchor),
                loss_reason=rng.choice(words.NEW_LOSS_REASONS),
            )
        if rng.random() < 0.65:
            self.opportunity(
                name="new business",
                kind="new",
                status="open",
                stage=rng.choice(words.OPEN_STAGES),
                amount=projected * 12,
                close_date=self.anchor + timedelta(days=rng.randint(7, 150)),
            )
        if rng.random() < 0.3:
            self.touchpoint(
                "call",
                self.random_day(first_seen, self.anchor) if first_seen < self.anchor else None,
                "Discovery call: current churn process, tools and the team's moments that matter.",
                (20, 45),
                self.contact_with("decision_maker"),
            )
        attributes = self.employees_attribute()
        attributes["acquisition_channel"] = source
        self.plan.account.attributes = attributes

    def build_customer(self) -> None:
        rng = self.rng
        profile = self.profile
        anchor, window_start = self.anchor, self.window_start
        span = _days_between(window_start, anchor)
        if self.skeleton.parent_index is None and rng.random() < 0.45:
            start = window_start - timedelta(days=rng.randint(1, 900))
        else:
            start = window_start + timedelta(days=rng.randint(0, max(0, span - 7)))
        self.customer_since = start
        self.annual = rng.random() < profile.annual_share
        self.plan_name = _weighted(rng, profile.entry_plans)
        self.seats = _log_uniform(rng, *profile.seats)
        self.fate = _weighted(rng, profile.fates)

        churn_on = self.choose_churn_date(start) if self.fate in ("churning", "winback") else None
        if churn_on is None and self.fate in ("churning", "winback"):
            self.fate = "struggling"
        self.health = self.health_curve(start, churn_on)
        self.choose_champion()

        source = self.converted_lead(start)
        boundary_actions, mid_events = self.commercial_events(start, churn_on)
        self.opportunity(
            name="new business",
            kind="new",
            status="won",
            amount=self.seats * PLAN_SEAT_PRICES[self.plan_name] * 12,
            close_date=start - timedelta(days=rng.randint(0, 10)),
        )
        self.churned_at = self.run_platform_line(
            start=start, kind="new", boundary_actions=boundary_actions, mid_events=mid_events
        )
        if self.churned_at is not None:
            self.cancel_lines(self.churned_at)
        if self.fate == "thriving" or (self.fate == "steady" and rng.random() < 0.5):
            self.maybe_add_on(start)

        self.plan.subscriptions = self.visible_terms()
        self.build_pipeline()
        onboarding_done = self.build_onboarding(start, "Onboarding")
        if self.reactivated_at is not None:
            self.build_onboarding(self.reactivated_at, "Re-onboarding")
        active = self.active_intervals()
        self.build_usage(active)
        self.build_tickets(active)
        self.build_relationship_surveys()
        self.build_touchpoints(active, onboarding_done)

        account = self.plan.account
        account.lifecycle_stage = self.lifecycle_stage()
        current = sum(
            (term.mrr for term in self.plan.subscriptions if term.in_force_on(anchor)), Decimal(0)
        )
        peak = max((term.mrr for term in self.all_terms), default=Decimal(0))
        reference = current or peak
        account.tier = "gold" if reference >= 10000 else "silver" if reference >= 1500 else "bronze"
        attributes = self.employees_attribute()
        attributes["billing_cycle"] = "annual" if self.annual else "monthly"
        attributes["acquisition_channel"] = source
        account.attributes = attributes


def iter_account_plans(config: SeedConfig) -> Iterator[AccountPlan]:
    """Every account's records, in index order; one account in memory at a time."""
    for index, skeleton in enumerate(_skeletons(config)):
        yield _AccountStory(config, index, skeleton).build()
