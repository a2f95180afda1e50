"""Leads and opportunities: how the account was won and what is in its pipeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from apps.accounts.seed import vocabulary as words
from apps.accounts.seed.plan import (
    ADDON_PLAN,
    DAY,
    LeadRecord,
    OpportunityRecord,
    _days_between,
    _money,
    _slug,
    _weighted,
)
from apps.accounts.seed.story import StoryBase


class PipelineStory(StoryBase):
    """Leads and opportunities: how the account was won and what is in its pipeline."""

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
        # The lead came in from its campaign up to 30 days before it was converted.
        days_as_lead = rng.randint(0, 30)
        self.plan.leads.append(
            LeadRecord(
                external_id=f"lead-{self.number}-0",
                email=person.email,
                name=person.name,
                company=self.skeleton.name,
                lead_source=source,
                campaign=self.campaign(source, converted_on - timedelta(days=days_as_lead)),
                status="converted",
                created_at=converted_at - timedelta(days=days_as_lead),
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
                    created_at=datetime.combine(day, time(12), UTC),
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
