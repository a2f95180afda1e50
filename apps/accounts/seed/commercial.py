"""Subscription terms, upgrades, downgrades and churn, following the hidden health."""

from __future__ import annotations

import math
from datetime import date, timedelta

from apps.accounts.revenue.periods import add_months
from apps.accounts.seed.plan import (
    ADDON_PLAN,
    ADDON_SEAT_PRICE,
    DAY,
    PLAN_LADDER,
    PLAN_SEAT_PRICES,
    SubscriptionRecord,
    _days_between,
    _Health,
    _money,
)
from apps.accounts.seed.story import StoryBase


class CommercialStory(StoryBase):
    """Subscription terms, upgrades, downgrades and churn, following the hidden health."""

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
