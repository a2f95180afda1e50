"""Usage, tickets, surveys and touchpoints while the account is active."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from apps.accounts.revenue.periods import add_months
from apps.accounts.seed import vocabulary as words
from apps.accounts.seed.plan import (
    _FEATURE_CUMULATIVE,
    _FEATURE_NAMES,
    _FEATURE_PROPERTIES,
    SurveyRecord,
    TicketRecord,
    TouchpointRecord,
    _days_between,
    _poisson,
)
from apps.accounts.seed.story import StoryBase


class EngagementStory(StoryBase):
    """Usage, tickets, surveys and touchpoints while the account is active."""

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
