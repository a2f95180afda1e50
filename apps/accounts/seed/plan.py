"""The seed's plan as plain records, the segment profiles and the tenant-wide skeleton."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from apps.accounts.revenue.periods import add_months
from apps.accounts.seed import vocabulary as words
from fullfield.errors import DomainError

DAY = timedelta(days=1)
MAX_ACCOUNTS = 200_000
MAX_MONTHS = 120
MAX_USAGE_SCALE = 10.0


@dataclass(frozen=True)
class SeedConfig:
    anchor: date
    accounts: int = 2000
    months: int = 18
    seed: int = 1
    currency: str = "USD"
    # Multiplies usage volume: benchmarks pick their events-per-account; 1.0 is realistic.
    usage_scale: float = 1.0

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        if not 0 <= self.usage_scale <= MAX_USAGE_SCALE:
            errors["usage_scale"] = [f"Must be between 0 and {MAX_USAGE_SCALE}."]
        if not 1 <= self.accounts <= MAX_ACCOUNTS:
            errors["accounts"] = [f"Must be between 1 and {MAX_ACCOUNTS}."]
        if not 1 <= self.months <= MAX_MONTHS:
            errors["months"] = [f"Must be between 1 and {MAX_MONTHS}."]
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            errors["currency"] = ["Must be an ISO 4217 code such as USD."]
        if errors:
            raise DomainError("Invalid seed parameters.", fields=errors)

    @property
    def window_start(self) -> date:
        """First day of the seeded history; dated activity lies in [window_start, anchor)."""
        return add_months(self.anchor, -self.months)

    @property
    def anchor_moment(self) -> datetime:
        return datetime.combine(self.anchor, time(), UTC)


# --- records ------------------------------------------------------------------------------
# Contact references (`contact`) are positions in the account's own contact list.


@dataclass(slots=True)
class AccountRecord:
    external_id: str
    name: str
    domain: str
    industry: str
    region: str
    segment: str
    tier: str
    lifecycle_stage: str
    parent_index: int | None
    owner_slot: int
    attributes: dict[str, object]


@dataclass(slots=True)
class ContactRecord:
    external_id: str
    name: str
    email: str
    title: str
    persona: str
    is_champion: bool


@dataclass(slots=True)
class LeadRecord:
    """A lead; `converted_at` set means it was converted into this plan's account, never
    before `created_at`, when the lead came in."""

    external_id: str
    email: str
    name: str
    company: str
    lead_source: str
    campaign: str
    status: str
    created_at: datetime
    converted_at: datetime | None


@dataclass(slots=True)
class OpportunityRecord:
    external_id: str
    name: str
    kind: str
    stage: str
    status: str
    amount: Decimal
    close_date: date
    loss_reason: str


@dataclass(slots=True)
class MilestoneRecord:
    name: str
    position: int
    due_on: date
    completed_on: date | None


@dataclass(slots=True)
class OnboardingPlanRecord:
    name: str
    started_on: date
    target_live_on: date
    completed_on: date | None
    milestones: list[MilestoneRecord]


@dataclass(slots=True)
class SubscriptionRecord:
    external_id: str
    line: int
    plan: str
    mrr: Decimal
    quantity: int
    period_start: date
    period_end: date | None
    status: str
    change_kind: str

    def in_force_on(self, day: date) -> bool:
        return (
            self.status in ("active", "past_due")
            and self.period_start <= day
            and (self.period_end is None or day < self.period_end)
        )


@dataclass(slots=True)
class TicketRecord:
    external_id: str
    contact: int | None
    subject: str
    priority: str
    status: str
    opened_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None


@dataclass(slots=True)
class SurveyRecord:
    external_id: str
    contact: int | None
    kind: str
    score: int
    moment: str
    comment: str
    responded_at: datetime


@dataclass(slots=True)
class TouchpointRecord:
    external_id: str
    contact: int | None
    kind: str
    occurred_at: datetime
    effort_minutes: int
    notes: str


# (contact, name, occurred_at, value, properties as JSON text, idempotency key): usage is
# the bulk of the rows, so it stays a plain tuple.
UsageRecord = tuple[int | None, str, datetime, float, str, str]


@dataclass(slots=True)
class AccountPlan:
    index: int
    account: AccountRecord
    fate: str  # hidden: never written, used by tests to check usage follows health
    contacts: list[ContactRecord] = field(default_factory=list)
    leads: list[LeadRecord] = field(default_factory=list)
    opportunities: list[OpportunityRecord] = field(default_factory=list)
    onboarding_plans: list[OnboardingPlanRecord] = field(default_factory=list)
    subscriptions: list[SubscriptionRecord] = field(default_factory=list)
    tickets: list[TicketRecord] = field(default_factory=list)
    surveys: list[SurveyRecord] = field(default_factory=list)
    touchpoints: list[TouchpointRecord] = field(default_factory=list)
    usage: list[UsageRecord] = field(default_factory=list)


# --- segment and plan profiles ---------------------------------------------------------------


@dataclass(frozen=True)
class SegmentProfile:
    share: int
    seats: tuple[int, int]
    entry_plans: tuple[tuple[str, int], ...]
    top_plan: str
    annual_share: float
    contacts: tuple[int, int]
    employees: tuple[int, int]
    usage_per_week: float
    tickets_per_month: float
    onboarding_days: int
    business_review_months: int | None
    check_in_days: int
    emails_per_month: float
    fates: tuple[tuple[str, int], ...]
    lead_sources: tuple[tuple[str, int], ...]


SEGMENTS: dict[str, SegmentProfile] = {
    "smb": SegmentProfile(
        share=60,
        seats=(3, 40),
        entry_plans=(("Starter", 6), ("Growth", 4)),
        top_plan="Business",
        annual_share=0.5,
        contacts=(2, 4),
        employees=(10, 200),
        usage_per_week=3.0,
        tickets_per_month=0.35,
        onboarding_days=30,
        business_review_months=None,
        check_in_days=90,
        emails_per_month=0.6,
        fates=(
            ("thriving", 25),
            ("steady", 33),
            ("struggling", 17),
            ("churning", 22),
            ("winback", 3),
        ),
        lead_sources=(
            ("organic", 5),
            ("paid search", 4),
            ("webinar", 3),
            ("content", 3),
            ("referral", 2),
        ),
    ),
    "mid-market": SegmentProfile(
        share=30,
        seats=(25, 250),
        entry_plans=(("Growth", 3), ("Business", 7)),
        top_plan="Enterprise",
        annual_share=1.0,
        contacts=(4, 8),
        employees=(200, 2000),
        usage_per_week=6.0,
        tickets_per_month=0.9,
        onboarding_days=60,
        business_review_months=6,
        check_in_days=45,
        emails_per_month=1.0,
        fates=(
            ("thriving", 30),
            ("steady", 37),
            ("struggling", 15),
            ("churning", 15),
            ("winback", 3),
        ),
        lead_sources=(
            ("webinar", 3),
            ("event", 3),
            ("content", 2),
            ("partner", 2),
            ("outbound", 2),
        ),
    ),
    "enterprise": SegmentProfile(
        share=10,
        seats=(150, 2000),
        entry_plans=(("Enterprise", 1),),
        top_plan="Enterprise",
        annual_share=1.0,
        contacts=(8, 15),
        employees=(2000, 80000),
        usage_per_week=14.0,
        tickets_per_month=2.2,
        onboarding_days=90,
        business_review_months=3,
        check_in_days=30,
        emails_per_month=2.0,
        fates=(
            ("thriving", 35),
            ("steady", 38),
            ("struggling", 14),
            ("churning", 11),
            ("winback", 2),
        ),
        lead_sources=(("outbound", 4), ("event", 3), ("partner", 2), ("referral", 1)),
    ),
}

PLAN_LADDER = ("Starter", "Growth", "Business", "Enterprise")
PLAN_SEAT_PRICES = {"Starter": 29, "Growth": 49, "Business": 79, "Enterprise": 99}
ADDON_PLAN = "Analytics add-on"
ADDON_SEAT_PRICE = 9
PROSPECT_SHARE = 0.1
SUBSIDIARY_SHARE = 0.03

# Working hours in UTC per region, so activity clusters where the customer's day is.
REGION_HOURS_UTC = {"North America": (13, 23), "EMEA": (7, 17), "APAC": (0, 10), "LATAM": (12, 22)}

_FEATURE_NAMES = tuple(feature[0] for feature in words.USAGE_FEATURES)
_FEATURE_CUMULATIVE = tuple(
    float(sum(feature[1] for feature in words.USAGE_FEATURES[: position + 1]))
    for position in range(len(words.USAGE_FEATURES))
)
_FEATURE_PROPERTIES = tuple(f'{{"source": "{feature[3]}"}}' for feature in words.USAGE_FEATURES)


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([option for option, _ in options], [weight for _, weight in options])[0]


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    # Knuth's method: exact and cheap for the small means of weekly and monthly blocks.
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _days_between(start: date, end: date) -> int:
    return (end - start).days


def _money(amount: float | int | Decimal) -> Decimal:
    return Decimal(amount).quantize(Decimal("0.01"))


# --- the tenant-wide skeleton: names, domains, hierarchies --------------------------------


@dataclass(frozen=True, slots=True)
class _Skeleton:
    name: str
    domain: str
    industry: str
    region: str
    country: str
    segment: str
    parent_index: int | None
    is_prospect: bool


def _skeletons(config: SeedConfig) -> list[_Skeleton]:
    rng = random.Random(f"{config.seed}/tenant")
    segment_options = tuple((name, profile.share) for name, profile in SEGMENTS.items())
    region_options = tuple(words.REGION_WEIGHTS.items())
    industries = tuple(words.INDUSTRY_SUFFIXES)
    used_names: set[str] = set()
    used_domains: set[str] = set()
    skeletons: list[_Skeleton] = []
    parent_candidates: list[int] = []

    def unique(candidate: str, used: set[str], separator: str) -> str:
        value, number = candidate, 2
        while value in used:
            value = f"{candidate}{separator}{number}"
            number += 1
        used.add(value)
        return value

    for index in range(config.accounts):
        region = _weighted(rng, region_options)
        countries = words.REGION_COUNTRIES[region]
        country, _, tld = rng.choices(countries, [weight for _, weight, _ in countries])[0]
        if parent_candidates and rng.random() < SUBSIDIARY_SHARE:
            parent_index = rng.choice(parent_candidates)
            parent = skeletons[parent_index]
            name = unique(f"{parent.name} {words.SUBSIDIARY_SUFFIXES[region]}", used_names, " ")
            domain = unique(f"{country.lower()}.{parent.domain}", used_domains, "-")
            skeletons.append(
                _Skeleton(
                    name=name,
                    domain=domain,
                    industry=parent.industry,
                    region=region,
                    country=country,
                    segment=rng.choice(("enterprise", "mid-market")),
                    parent_index=parent_index,
                    is_prospect=False,
                )
            )
            continue
        segment = _weighted(rng, segment_options)
        industry = rng.choice(industries)
        base = ""
        for _ in range(6):
            prefix = rng.choice(words.COMPANY_PREFIXES)
            base = f"{prefix} {rng.choice(words.INDUSTRY_SUFFIXES[industry])}"
            if base not in used_names:
                break
        name = unique(base, used_names, " ")
        domain = unique(_slug(name), used_domains, "") + tld
        is_prospect = rng.random() < PROSPECT_SHARE
        if segment == "enterprise" and not is_prospect:
            parent_candidates.append(index)
        skeletons.append(
            _Skeleton(
                name=name,
                domain=domain,
                industry=industry,
                region=region,
                country=country,
                segment=segment,
                parent_index=None,
                is_prospect=is_prospect,
            )
        )
    return skeletons


# --- hidden health ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Health:
    """The account's true health over time (0..1); never stored, only its effects are."""

    base: float
    drift_per_year: float
    anchor: date
    decline_from: date | None = None
    decline_to: date | None = None
    recovered_from: date | None = None
    recovered_level: float = 0.0

    def at(self, day: date) -> float:
        if self.recovered_from is not None and day >= self.recovered_from:
            return self.recovered_level
        if self.decline_from is not None and self.decline_to is not None:
            if day >= self.decline_to:
                return 0.05
            if day >= self.decline_from:
                progress = _days_between(self.decline_from, day) / max(
                    1, _days_between(self.decline_from, self.decline_to)
                )
                return self.base + (0.05 - self.base) * progress
        years_before_anchor = _days_between(day, self.anchor) / 365
        return min(0.98, max(0.02, self.base - self.drift_per_year * years_before_anchor))
