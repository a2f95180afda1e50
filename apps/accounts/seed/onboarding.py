"""Onboarding plans and their milestones."""

from __future__ import annotations

import math
from datetime import date, timedelta

from apps.accounts.seed import vocabulary as words
from apps.accounts.seed.plan import (
    MilestoneRecord,
    OnboardingPlanRecord,
)
from apps.accounts.seed.story import StoryBase


class OnboardingStory(StoryBase):
    """Onboarding plans and their milestones."""

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
