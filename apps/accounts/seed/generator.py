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

import math
import random
import re
from collections.abc import Iterator
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
    """A lead; `converted_at` set means it was converted into this plan's account."""

    external_id: str
    email: str
    name: str
    company: str
    lead_source: str
    campaign: str
    status: str
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


# --- one account's story --------------------------------------------------------------------


class _AccountStory:
    def __init__(self, config: SeedConfig, index: int, skeleton: _Skeleton) -> None:
        self.config = config
        self.index = index
        self.skeleton = skeleton
        self.rng = random.Random(f"{config.seed}/account/{index}")
        self.profile = SEGMENTS[skeleton.segment]
        self.number = f"{index + 1:05d}"
        self.anchor = config.anchor
        self.window_start = config.window_start
        self.anchor_moment = config.anchor_moment
        self.hours = REGION_HOURS_UTC[skeleton.region]
        self.currency = config.currency
        self.fate = "prospect" if skeleton.is_prospect else ""
        self.annual = False
        self.plan_name = ""
        self.seats = 0
        self.customer_since: date | None = None
        self.churned_at: date | None = None
        self.reactivated_at: date | None = None
        self.health = _Health(base=0.5, drift_per_year=0.0, anchor=self.anchor)
        self.all_terms: list[SubscriptionRecord] = []
        self.upgrades: list[date] = []
        self.contacts: list[ContactRecord] = []
        self.plan = AccountPlan(
            index=index,
            fate=self.fate,
            account=AccountRecord(
                external_id=f"acc-{self.number}",
                name=skeleton.name,
                domain=skeleton.domain,
                industry=skeleton.industry,
                region=skeleton.region,
                segment=skeleton.segment,
                tier="",
                lifecycle_stage="prospect",
                parent_index=skeleton.parent_index,
                owner_slot=self.rng.randrange(1 << 30),
                attributes={},
            ),
        )

    # timestamps ---------------------------------------------------------------------------

    def moment(self, day: date) -> datetime:
        """A time during the customer's working day on `day`."""
        start_hour, end_hour = self.hours
        seconds = self.rng.randrange(start_hour * 3600, end_hour * 3600)
        return datetime.combine(day, time(), UTC) + timedelta(seconds=seconds)

    def random_day(self, start: date, end: date) -> date:
        """A day in [start, end); `end` must be after `start`."""
        return start + timedelta(days=self.rng.randrange(_days_between(start, end)))

    def contact_with(self, *personas: str) -> int | None:
        matching = [i for i, contact in enumerate(self.contacts) if contact.persona in personas]
        if matching:
            return self.rng.choice(matching)
        return self.rng.randrange(len(self.contacts)) if self.contacts else None

    # the story ----------------------------------------------------------------------------

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

    def converted_lead(self, before: date) -> str:
        """Maybe add the lead this account was converted from; returns its source."""
        rng = self.rng
        source = _weighted(rng, self.profile.lead_sources)
        if rng.random() >= 0.55 or not self.contacts:
            return source
        person = self.contacts[0]
        converted_on = before - timedelta(days=rng.randint(14, 120))
        converted_at = self.moment(converted_on)
        if converted_at >= self.anchor_moment:
            return source
        self.plan.leads.append(
            LeadRecord(
                external_id=f"lead-{self.number}-0",
                email=person.email,
                name=person.name,
                company=self.skeleton.name,
                lead_source=source,
                campaign=self.campaign(source, converted_on - timedelta(days=rng.randint(0, 30))),
                status="converted",
                converted_at=converted_at,
            )
        )
        return source

    def campaign(self, source: str, day: date) -> str:
        if source in ("organic", "referral") and self.rng.random() < 0.5:
            return ""
        theme = self.rng.choice(words.LEAD_SOURCES[source])
        return f"{day.year} Q{(day.month - 1) // 3 + 1} {theme}"

    def build_unconverted_leads(self) -> None:
        rng = self.rng
        for number in range(1, rng.choices((0, 1, 2), (4, 4, 2))[0] + 1):
            industry = rng.choice(tuple(words.INDUSTRY_SUFFIXES))
            company = (
                f"{rng.choice(words.COMPANY_PREFIXES)} "
                f"{rng.choice(words.INDUSTRY_SUFFIXES[industry])}"
            )
            first = rng.choice(words.FIRST_NAMES)
            last = rng.choice(words.LAST_NAMES)
            source = _weighted(rng, self.profile.lead_sources)
            day = self.anchor - timedelta(days=rng.randint(1, 365))
            self.plan.leads.append(
                LeadRecord(
                    external_id=f"lead-{self.number}-{number}",
                    email=f"{_slug(first)}.{_slug(last)}@{_slug(company)}.com",
                    name=f"{first} {last}",
                    company=company,
                    lead_source=source,
                    campaign=self.campaign(source, day),
                    status=_weighted(rng, words.LEAD_STATUSES_OPEN),
                    converted_at=None,
                )
            )

    def opportunity(
        self,
        *,
        name: str,
        kind: str,
        status: str,
        amount: Decimal | float,
        close_date: date,
        stage: str = "",
        loss_reason: str = "",
    ) -> None:
        number = len(self.plan.opportunities) + 1
        if not stage:
            stage = {"won": "closed won", "lost": "closed lost"}.get(status, "qualification")
        self.plan.opportunities.append(
            OpportunityRecord(
                external_id=f"opp-{self.number}-{number:02d}",
                name=f"{self.skeleton.name} - {name}",
                kind=kind,
                stage=stage,
                status=status,
                amount=_money(max(0.0, float(amount))),
                close_date=close_date,
                loss_reason=loss_reason if status == "lost" else "",
            )
        )

    def employees_attribute(self) -> dict[str, object]:
        low, high = self.profile.employees
        return {
            "employees": _log_uniform(self.rng, low, high),
            "country": self.skeleton.country,
        }

    # prospects ------------------------------------------------------------------------------

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

    # customers ------------------------------------------------------------------------------

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

    def choose_churn_date(self, start: date) -> date | None:
        rng = self.rng
        earliest = max(self.window_start + timedelta(days=30), start + timedelta(days=45))
        latest = self.anchor - DAY
        if self.fate == "winback":
            latest = self.anchor - timedelta(days=75)
        if self.annual:
            anniversaries = []
            years = 1
            while (anniversary := add_months(start, 12 * years)) <= latest:
                if anniversary >= earliest:
                    anniversaries.append(anniversary)
                years += 1
            return rng.choice(anniversaries) if anniversaries else None
        if earliest >= latest:
            return None
        return self.random_day(earliest, latest)

    def health_curve(self, start: date, churn_on: date | None) -> _Health:
        rng = self.rng
        anchor = self.anchor
        if self.fate == "thriving":
            return _Health(base=rng.uniform(0.75, 0.95), drift_per_year=0.06, anchor=anchor)
        if self.fate == "steady":
            return _Health(base=rng.uniform(0.55, 0.75), drift_per_year=0.0, anchor=anchor)
        if self.fate == "struggling" or churn_on is None:
            return _Health(base=rng.uniform(0.3, 0.5), drift_per_year=-0.08, anchor=anchor)
        decline_from = max(
            start + timedelta(days=30), churn_on - timedelta(days=rng.randint(90, 240))
        )
        return _Health(
            base=rng.uniform(0.45, 0.7),
            drift_per_year=0.0,
            anchor=anchor,
            decline_from=decline_from,
            decline_to=churn_on,
        )

    def commercial_events(
        self, start: date, churn_on: date | None
    ) -> tuple[dict[int, str], list[tuple[date, str]]]:
        """Which anniversaries renew, downgrade or churn, and the dated mid-term changes."""
        rng = self.rng
        anchor = self.anchor
        boundary_actions: dict[int, str] = {}
        mid_events: list[tuple[date, str]] = []
        calm_until = self.health.decline_from or anchor
        upgrade_window = (start + timedelta(days=60), min(calm_until, anchor - DAY))
        upgrades = {"thriving": 1 + (rng.random() < 0.5) + (rng.random() < 0.2)}.get(self.fate, 0)
        if self.fate == "steady" and rng.random() < 0.35:
            upgrades = 1
        if self.fate in ("churning", "winback") and rng.random() < 0.25:
            upgrades = 1
        if upgrade_window[0] < upgrade_window[1]:
            mid_events += [(self.random_day(*upgrade_window), "upgrade") for _ in range(upgrades)]
        anniversaries = []
        years = 1
        while (anniversary := add_months(start, 12 * years)) <= anchor:
            anniversaries.append((years, anniversary))
            years += 1
        if churn_on is not None:
            if self.annual:
                churn_year = next(year for year, day in anniversaries if day == churn_on)
                boundary_actions[churn_year] = "churn"
                earlier = [year for year, _ in anniversaries if year < churn_year]
                if earlier and rng.random() < 0.3:
                    boundary_actions[rng.choice(earlier)] = "downgrade"
            else:
                mid_events.append((churn_on, "churn"))
                decline_from = self.health.decline_from or start
                if rng.random() < 0.3 and decline_from < churn_on - DAY:
                    mid_events.append((self.random_day(decline_from, churn_on), "downgrade"))
        elif self.fate == "struggling":
            if self.annual and anniversaries and rng.random() < 0.45:
                boundary_actions[rng.choice(anniversaries)[0]] = "downgrade"
            elif not self.annual and rng.random() < 0.4 and start + DAY < anchor:
                mid_events.append((self.random_day(start + DAY, anchor), "downgrade"))
        mid_events.sort()
        return boundary_actions, mid_events

    def changed(self, up: bool) -> tuple[str, int] | None:
        """The plan and seats after an upgrade or downgrade, or None if none is possible."""
        rng = self.rng
        plan, seats = self.plan_name, self.seats
        rank = PLAN_LADDER.index(plan)
        if up:
            top = PLAN_LADDER.index(self.profile.top_plan)
            if rank < top and rng.random() < 0.3:
                return PLAN_LADDER[rank + 1], seats
            return plan, math.ceil(seats * rng.uniform(1.1, 1.6))
        if rank > 0 and rng.random() < 0.3:
            return PLAN_LADDER[rank - 1], seats
        fewer = max(1, math.floor(seats * rng.uniform(0.55, 0.85)))
        return (plan, fewer) if fewer < seats else None

    def term(
        self,
        line: int,
        plan: str,
        seats: int,
        start: date,
        end: date | None,
        kind: str,
        *,
        price: int | None = None,
        status: str = "active",
    ) -> None:
        seat_price = PLAN_SEAT_PRICES[plan] if price is None else price
        self.all_terms.append(
            SubscriptionRecord(
                external_id="",
                line=line,
                plan=plan,
                mrr=_money(seat_price * seats),
                quantity=seats,
                period_start=start,
                period_end=end,
                status=status,
                change_kind=kind,
            )
        )

    def run_platform_line(
        self,
        *,
        start: date,
        kind: str,
        boundary_actions: dict[int, str],
        mid_events: list[tuple[date, str]],
    ) -> date | None:
        """Emit the platform line's terms from `start`; returns the churn date, if it churned."""
        anchor = self.anchor
        row_start, row_kind = start, kind
        years = 1
        term_end = add_months(start, 12) if self.annual else None
        pending = [event for event in mid_events if event[0] > start]
        position = 0
        while True:
            upcoming = pending[position] if position < len(pending) else None
            if (
                term_end is not None
                and term_end <= anchor
                and (upcoming is None or term_end <= upcoming[0])
            ):
                self.term(0, self.plan_name, self.seats, row_start, term_end, row_kind)
                action = boundary_actions.get(years, "renew")
                if action == "churn":
                    return term_end
                row_kind = "renewal"
                if action == "downgrade" and (change := self.changed(up=False)) is not None:
                    self.plan_name, self.seats = change
                    row_kind = "downgrade"
                row_start = term_end
                years += 1
                term_end = add_months(start, 12 * years)
                continue
            if upcoming is not None and upcoming[0] < anchor:
                position += 1
                when, what = upcoming
                if when <= row_start:
                    continue
                if what == "churn":
                    self.term(0, self.plan_name, self.seats, row_start, when, row_kind)
                    return when
                change = self.changed(up=what == "upgrade")
                if change is None:
                    continue
                self.term(0, self.plan_name, self.seats, row_start, when, row_kind)
                self.plan_name, self.seats = change
                row_start, row_kind = when, what
                if what == "upgrade":
                    self.upgrades.append(when)
                continue
            past_due_chance = 0.12 if self.fate == "struggling" else 0.03
            status = "past_due" if self.rng.random() < past_due_chance else "active"
            self.term(0, self.plan_name, self.seats, row_start, term_end, row_kind, status=status)
            return None

    def cancel_lines(self, churned_at: date) -> None:
        rng = self.rng
        reactivate_on: date | None = None
        if self.fate == "winback":
            latest = min(180, _days_between(churned_at, self.anchor - timedelta(days=14)))
            if latest >= 60:
                reactivate_on = churned_at + timedelta(days=rng.randint(60, latest))
        self.all_terms.append(
            SubscriptionRecord(
                external_id="",
                line=0,
                plan=self.plan_name,
                mrr=_money(0),
                quantity=0,
                period_start=churned_at,
                period_end=reactivate_on,
                status="canceled",
                change_kind="cancellation",
            )
        )
        if reactivate_on is None:
            return
        self.reactivated_at = reactivate_on
        self.seats = max(1, round(self.seats * rng.uniform(0.6, 1.0)))
        self.health = _Health(
            base=self.health.base,
            drift_per_year=0.0,
            anchor=self.anchor,
            decline_from=self.health.decline_from,
            decline_to=self.health.decline_to,
            recovered_from=reactivate_on,
            recovered_level=rng.uniform(0.45, 0.7),
        )
        self.opportunity(
            name="win-back",
            kind="new",
            status="won",
            amount=self.seats * PLAN_SEAT_PRICES[self.plan_name] * 12,
            close_date=reactivate_on - timedelta(days=rng.randint(0, 7)),
        )
        self.run_platform_line(
            start=reactivate_on, kind="reactivation", boundary_actions={}, mid_events=[]
        )

    def maybe_add_on(self, start: date) -> None:
        """Some healthy annual customers buy the analytics add-on, co-termed with the platform."""
        rng = self.rng
        if not self.annual or self.skeleton.segment == "smb" or rng.random() >= 0.4:
            return
        earliest = max(start + timedelta(days=90), self.window_start - timedelta(days=200))
        latest = self.anchor - timedelta(days=10)
        if earliest >= latest:
            return
        bought_on = self.random_day(earliest, latest)
        seats = max(5, round(self.seats * rng.uniform(0.3, 1.0)))
        years = 1
        while add_months(start, 12 * years) <= bought_on:
            years += 1
        row_start, kind = bought_on, "upgrade"
        self.upgrades.append(bought_on)
        while True:
            term_end = add_months(start, 12 * years)
            self.term(1, ADDON_PLAN, seats, row_start, term_end, kind, price=ADDON_SEAT_PRICE)
            if term_end > self.anchor:
                return
            row_start, kind = term_end, "renewal"
            years += 1

    def visible_terms(self) -> list[SubscriptionRecord]:
        """Terms that reach into the seeded window, numbered per line."""
        visible = [
            term
            for term in sorted(self.all_terms, key=lambda term: (term.line, term.period_start))
            if term.period_end is None or term.period_end > self.window_start
        ]
        per_line: dict[int, int] = {}
        for term in visible:
            per_line[term.line] = per_line.get(term.line, 0) + 1
            term.external_id = f"sub-{self.number}-{term.line}-{per_line[term.line]:02d}"
        return visible

    def current_term(self) -> SubscriptionRecord | None:
        for term in self.all_terms:
            if term.line == 0 and term.in_force_on(self.anchor):
                return term
        return None

    def build_pipeline(self) -> None:
        """Won and lost deals behind each term change, and the open pipeline at the anchor."""
        rng = self.rng
        anchor = self.anchor
        previous_mrr: dict[int, Decimal] = {}
        for term in sorted(self.all_terms, key=lambda term: term.period_start):
            before = previous_mrr.get(term.line, Decimal(0))
            previous_mrr[term.line] = term.mrr
            year = term.period_start.year
            if term.change_kind == "upgrade":
                what = ADDON_PLAN if term.line == 1 else f"{term.plan}, {term.quantity} seats"
                self.opportunity(
                    name=f"expansion ({what})",
                    kind="expansion",
                    status="won",
                    amount=(term.mrr - before) * 12,
                    close_date=term.period_start - timedelta(days=rng.randint(0, 14)),
                )
            elif term.change_kind in ("renewal", "downgrade") and term.line == 0:
                self.opportunity(
                    name=f"renewal {year}",
                    kind="renewal",
                    status="won",
                    amount=term.mrr * 12,
                    close_date=term.period_start - timedelta(days=rng.randint(0, 20)),
                )
            elif term.change_kind == "cancellation" and self.annual:
                self.opportunity(
                    name=f"renewal {year}",
                    kind="renewal",
                    status="lost",
                    amount=before * 12,
                    close_date=term.period_start - timedelta(days=rng.randint(0, 20)),
                    loss_reason=rng.choice(words.CHURN_LOSS_REASONS),
                )
        current = self.current_term()
        if current is None:
            return
        if self.annual and current.period_end is not None:
            days_left = _days_between(anchor, current.period_end)
            if days_left <= 120:
                stage = words.RENEWAL_STAGES[0 if days_left > 60 else 1 if days_left > 30 else 2]
                self.opportunity(
                    name=f"renewal {current.period_end.year}",
                    kind="renewal",
                    status="open",
                    stage=stage,
                    amount=current.mrr * 12,
                    close_date=current.period_end,
                )
        if self.fate in ("thriving", "steady") and rng.random() < 0.2:
            self.opportunity(
                name="expansion",
                kind="expansion",
                status="lost",
                amount=float(current.mrr) * rng.uniform(0.15, 0.5) * 12,
                close_date=self.random_day(max(self.window_start, current.period_start), anchor)
                if current.period_start < anchor
                else anchor - DAY,
                loss_reason=rng.choice(words.EXPANSION_LOSS_REASONS),
            )
        open_chance = {"thriving": 0.45, "steady": 0.15}.get(self.fate, 0.0)
        if rng.random() < open_chance:
            self.opportunity(
                name="expansion",
                kind="expansion",
                status="open",
                stage=rng.choice(words.OPEN_STAGES[1:]),
                amount=float(current.mrr) * rng.uniform(0.15, 0.5) * 12,
                close_date=anchor + timedelta(days=rng.randint(14, 90)),
            )

    def build_onboarding(self, start: date, name: str) -> date | None:
        """An onboarding plan for a start in (or just before) the window; returns go-live."""
        rng = self.rng
        if start < self.window_start - timedelta(days=60):
            return None
        duration = self.profile.onboarding_days
        stop = self.anchor
        if self.churned_at is not None and start < self.churned_at:
            stop = min(stop, self.churned_at)
        milestones: list[MilestoneRecord] = []
        previous: date | None = start
        for position, (title, share) in enumerate(
            words.ONBOARDING_MILESTONES[self.skeleton.segment]
        ):
            due = start + timedelta(days=max(1, math.ceil(duration * share)))
            completed: date | None = None
            if previous is not None:
                slip = round(rng.gauss((0.55 - self.health.at(due)) * 20, 6))
                candidate = max(previous, start, due + timedelta(days=max(-3, slip)))
                completed = candidate if candidate < stop else None
            milestones.append(MilestoneRecord(title, position, due, completed))
            previous = completed
        live = milestones[-1].completed_on
        self.plan.onboarding_plans.append(
            OnboardingPlanRecord(
                name=name,
                started_on=start,
                target_live_on=start + timedelta(days=duration),
                completed_on=live,
                milestones=milestones,
            )
        )
        for milestone in milestones:
            completed = milestone.completed_on
            if completed is not None and milestone.name.startswith("First") and rng.random() < 0.5:
                self.survey("csat", "first value", completed, ("admin", "user"))
        if live is not None and rng.random() < 0.7:
            self.survey("ces", "onboarding", live, ("decision_maker", "admin"))
        return live

    def active_intervals(self) -> list[tuple[date, date]]:
        """Days the platform was paid for, merged and clipped to [window_start, anchor)."""
        intervals: list[tuple[date, date]] = []
        for term in sorted(self.all_terms, key=lambda term: term.period_start):
            if term.line != 0 or term.status not in ("active", "past_due"):
                continue
            start = max(term.period_start, self.window_start)
            end = min(term.period_end or self.anchor, self.anchor)
            if start >= end:
                continue
            if intervals and intervals[-1][1] >= start:
                intervals[-1] = (intervals[-1][0], max(intervals[-1][1], end))
            else:
                intervals.append((start, end))
        return intervals

    def ramp(self, day: date) -> float:
        """Usage grows over the first two months after a (re)start."""
        started = self.customer_since
        if self.reactivated_at is not None and day >= self.reactivated_at:
            started = self.reactivated_at
        if started is None:
            return 1.0
        return 0.35 + 0.65 * min(1.0, _days_between(started, day) / 60)

    def build_usage(self, active: list[tuple[date, date]]) -> None:
        rng = self.rng
        weekly = self.profile.usage_per_week * self.config.usage_scale
        contact_count = len(self.contacts)
        start_hour, end_hour = self.hours
        first_second, second_span = start_hour * 3600, (end_hour - start_hour) * 3600
        usage = self.plan.usage
        key_prefix = f"seed:{self.index}:"
        features = words.USAGE_FEATURES
        feature_positions = range(len(features))
        for interval_start, interval_end in active:
            block = interval_start
            while block < interval_end:
                block_end = min(block + timedelta(days=7), interval_end)
                days = _days_between(block, block_end)
                middle = block + timedelta(days=days // 2)
                health = self.health.at(middle)
                mean = weekly * (0.1 + 1.5 * health) * days / 7 * self.ramp(middle)
                count = _poisson(rng, mean)
                if count:
                    breadth = min(len(features), 3 + round(8 * health))
                    chosen = rng.choices(
                        feature_positions[:breadth],
                        cum_weights=_FEATURE_CUMULATIVE[:breadth],
                        k=count,
                    )
                    midnight = datetime.combine(block, time(), UTC)
                    for feature in chosen:
                        seconds = (
                            int(rng.random() * days) * 86400
                            + first_second
                            + int(rng.random() * second_span)
                        )
                        value_range = features[feature][2]
                        value = 1.0 if value_range is None else float(rng.randint(*value_range))
                        contact = (
                            int(rng.random() * contact_count)
                            if contact_count and rng.random() < 0.85
                            else None
                        )
                        usage.append(
                            (
                                contact,
                                _FEATURE_NAMES[feature],
                                midnight + timedelta(seconds=seconds),
                                value,
                                _FEATURE_PROPERTIES[feature],
                                f"{key_prefix}{len(usage)}",
                            )
                        )
                block = block_end

    def build_tickets(self, active: list[tuple[date, date]]) -> None:
        rng = self.rng
        per_month = self.profile.tickets_per_month
        anchor_moment = self.anchor_moment
        response_minutes = {
            "urgent": (5, 60),
            "high": (30, 240),
            "normal": (60, 1440),
            "low": (240, 2880),
        }
        resolution_hours = {"urgent": (1, 8), "high": (2, 48), "normal": (4, 120), "low": (8, 240)}
        for interval_start, interval_end in active:
            block = interval_start
            while block < interval_end:
                block_end = min(block + timedelta(days=30), interval_end)
                days = _days_between(block, block_end)
                health = self.health.at(block + timedelta(days=days // 2))
                onboarding_boost = 1.5 if self.ramp(block) < 1.0 else 1.0
                mean = per_month * (1.7 - health) * days / 30 * onboarding_boost
                for _ in range(_poisson(rng, mean)):
                    priority = rng.choices(
                        ("urgent", "high", "normal", "low"),
                        (2 + 6 * (1 - health), 15 + 15 * (1 - health), 55, 20),
                    )[0]
                    subjects = (
                        words.URGENT_TICKET_SUBJECTS
                        if priority == "urgent"
                        else words.TICKET_SUBJECTS
                    )
                    opened_at = self.moment(self.random_day(block, block_end))
                    responded = opened_at + timedelta(
                        minutes=rng.randint(*response_minutes[priority])
                    )
                    hours = rng.randint(*resolution_hours[priority])
                    if rng.random() < 0.15 * (1.5 - health):
                        hours *= rng.randint(5, 20)  # the long tail: waiting on the customer, bugs
                    closed = responded + timedelta(hours=hours)
                    # What has not happened by the anchor is still pending.
                    responded_at = responded if responded < anchor_moment else None
                    closed_at = closed if closed < anchor_moment else None
                    if closed_at is not None:
                        status = (
                            "closed" if closed_at < anchor_moment - timedelta(days=3) else "solved"
                        )
                    else:
                        status = (
                            "pending" if responded_at is not None and rng.random() < 0.5 else "open"
                        )
                    contact = self.contact_with("admin", "technical", "user")
                    self.plan.tickets.append(
                        TicketRecord(
                            external_id=f"tkt-{self.number}-{len(self.plan.tickets) + 1:03d}",
                            contact=contact,
                            subject=rng.choice(subjects),
                            priority=priority,
                            status=status,
                            opened_at=opened_at,
                            first_response_at=responded_at,
                            closed_at=closed_at,
                        )
                    )
                    if closed_at is not None and responded_at is not None:
                        slow = (closed_at - opened_at) > timedelta(days=3)
                        if rng.random() < 0.3:
                            self.survey(
                                "csat", "support", closed_at, contact=contact, penalty=0.25 * slow
                            )
                        elif rng.random() < 0.2:
                            self.survey(
                                "ces", "support", closed_at, contact=contact, penalty=0.25 * slow
                            )
                block = block_end

    def survey(
        self,
        kind: str,
        moment: str,
        after: date | datetime,
        personas: tuple[str, ...] = (),
        *,
        contact: int | None = None,
        penalty: float = 0.0,
    ) -> None:
        """A survey answered shortly after `after`, scored from the health at that time."""
        rng = self.rng
        if isinstance(after, datetime):
            responded_at = after + timedelta(minutes=rng.randint(30, 2880))
        else:
            responded_at = self.moment(after + timedelta(days=rng.randint(0, 3)))
        if responded_at >= self.anchor_moment or responded_at.date() < self.window_start:
            return
        health = max(0.0, self.health.at(responded_at.date()) - penalty)
        if kind == "nps":
            score = min(10, max(0, round(rng.gauss(2.5 + 7.5 * health, 1.5))))
            share = score / 10
        elif kind == "csat":
            score = min(5, max(1, round(rng.gauss(1.5 + 3.5 * health, 0.7))))
            share = (score - 1) / 4
        else:  # ces: 7 = effortless
            score = min(7, max(1, round(rng.gauss(2.0 + 5.0 * health, 1.0))))
            share = (score - 1) / 6
        comment = ""
        if rng.random() < 0.35:
            mood = "positive" if share >= 0.7 else "negative" if share <= 0.4 else "neutral"
            comment = rng.choice(words.SURVEY_COMMENTS[mood])
        self.plan.surveys.append(
            SurveyRecord(
                external_id="",
                contact=contact if contact is not None else self.contact_with(*personas),
                kind=kind,
                score=score,
                moment=moment,
                comment=comment,
                responded_at=responded_at,
            )
        )

    def build_relationship_surveys(self) -> None:
        """Twice-yearly NPS, plus CSAT after renewals (a moment that matters)."""
        rng = self.rng
        day = self.window_start + timedelta(days=rng.randint(0, 181))
        while day < self.anchor:
            if any(term.in_force_on(day) for term in self.all_terms if term.line == 0):
                respondents = [
                    position
                    for position, contact in enumerate(self.contacts)
                    if contact.persona in ("decision_maker", "executive_sponsor", "admin", "user")
                    and rng.random() < 0.35
                ][:3]
                for position in respondents:
                    self.survey("nps", "relationship", day, contact=position)
            day += timedelta(days=182)
        for term in self.all_terms:
            if (
                term.line == 0
                and term.change_kind in ("renewal", "downgrade")
                and self.window_start <= term.period_start < self.anchor
                and rng.random() < 0.4
            ):
                self.survey("csat", "renewal", term.period_start, ("billing", "decision_maker"))

    def touchpoint(
        self,
        kind: str,
        day: date | None,
        notes: str,
        effort: tuple[int, int],
        contact: int | None,
    ) -> bool:
        if day is None or not self.window_start <= day < self.anchor:
            return False
        self.plan.touchpoints.append(
            TouchpointRecord(
                external_id="",
                contact=contact,
                kind=kind,
                occurred_at=self.moment(day),
                effort_minutes=self.rng.randint(*effort),
                notes=notes,
            )
        )
        return True

    def build_touchpoints(
        self, active: list[tuple[date, date]], onboarding_done: date | None
    ) -> None:
        rng = self.rng
        notes = words.TOUCHPOINT_NOTES
        profile = self.profile
        for plan in self.plan.onboarding_plans:
            self.touchpoint(
                "meeting",
                plan.started_on + timedelta(days=rng.randint(1, 5)),
                rng.choice(notes["kickoff"]),
                (45, 90),
                self.contact_with("decision_maker", "executive_sponsor"),
            )
            for _ in range(1 if self.skeleton.segment == "smb" else 2):
                self.touchpoint(
                    "training",
                    plan.started_on + timedelta(days=rng.randint(7, profile.onboarding_days)),
                    rng.choice(notes["training"]),
                    (60, 120),
                    self.contact_with("admin", "user"),
                )
        for interval_start, interval_end in active:
            if profile.business_review_months is not None:
                day = interval_start + timedelta(days=rng.randint(60, 100))
                while day < interval_end:
                    healthy = self.health.at(day) >= 0.55
                    reviewed = self.touchpoint(
                        "business_review",
                        day,
                        rng.choice(
                            notes["business_review" if healthy else "business_review_at_risk"]
                        ),
                        (90, 180),
                        self.contact_with("executive_sponsor", "decision_maker"),
                    )
                    if reviewed and rng.random() < 0.35:
                        self.survey(
                            "csat", "business review", day, ("executive_sponsor", "decision_maker")
                        )
                    day = add_months(day, profile.business_review_months)
            day = interval_start + timedelta(days=rng.randint(5, profile.check_in_days))
            while day < interval_end:
                self.touchpoint(
                    "call",
                    day,
                    rng.choice(notes["check_in"]),
                    (15, 45),
                    self.contact_with("decision_maker", "admin"),
                )
                day += timedelta(days=profile.check_in_days + rng.randint(-7, 7))
            months = _days_between(interval_start, interval_end) / 30
            for _ in range(_poisson(rng, profile.emails_per_month * months)):
                self.touchpoint(
                    "email",
                    self.random_day(interval_start, interval_end),
                    rng.choice(notes["email"]),
                    (5, 15),
                    self.contact_with("decision_maker", "admin", "user"),
                )
        decline_from = self.health.decline_from
        if decline_from is not None and self.health.decline_to is not None:
            window = (
                max(decline_from, self.window_start),
                min(self.health.decline_to, self.anchor),
            )
            if window[0] < window[1]:
                for _ in range(rng.randint(1, 3)):
                    self.touchpoint(
                        "call",
                        self.random_day(*window),
                        rng.choice(notes["save"]),
                        (30, 60),
                        self.contact_with("executive_sponsor", "decision_maker"),
                    )
        if self.annual:
            for term in self.all_terms:
                if term.line == 0 and term.period_end is not None and term.status != "canceled":
                    leaving = term.period_end == self.churned_at
                    self.touchpoint(
                        "call",
                        term.period_end - timedelta(days=rng.randint(45, 75)),
                        rng.choice(notes["renewal_at_risk" if leaving else "renewal"]),
                        (30, 60),
                        self.contact_with("decision_maker", "billing"),
                    )

    def lifecycle_stage(self) -> str:
        anchor = self.anchor
        current = self.current_term()
        if current is None:
            return "churned"
        started = self.reactivated_at or self.customer_since or anchor
        plans = self.plan.onboarding_plans
        if _days_between(started, anchor) <= 90 or (
            plans
            and plans[-1].completed_on is None
            and _days_between(plans[-1].started_on, anchor) <= 150
        ):
            return "onboarding"
        if (
            self.annual
            and current.period_end is not None
            and _days_between(anchor, current.period_end) <= 90
        ):
            return "renewing"
        expanding = any(
            opportunity.kind == "expansion" and opportunity.status == "open"
            for opportunity in self.plan.opportunities
        ) or any(_days_between(day, anchor) <= 90 for day in self.upgrades)
        return "expanding" if expanding else "adopting"


def iter_account_plans(config: SeedConfig) -> Iterator[AccountPlan]:
    """Every account's records, in index order; one account in memory at a time."""
    for index, skeleton in enumerate(_skeletons(config)):
        yield _AccountStory(config, index, skeleton).build()
