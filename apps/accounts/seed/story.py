"""What every part of an account's story shares: its random stream, clock and contacts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from apps.accounts.seed.plan import (
    REGION_HOURS_UTC,
    SEGMENTS,
    AccountPlan,
    AccountRecord,
    ContactRecord,
    SeedConfig,
    SubscriptionRecord,
    _days_between,
    _Health,
    _log_uniform,
    _Skeleton,
)


class StoryBase:
    """What every part of an account's story shares: its random stream, clock and contacts."""

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

    def employees_attribute(self) -> dict[str, object]:
        low, high = self.profile.employees
        return {
            "employees": _log_uniform(self.rng, low, high),
            "country": self.skeleton.country,
        }

    if TYPE_CHECKING:
        # The parts call a few of each other's steps; they meet in generator._AccountStory.
        def current_term(self) -> SubscriptionRecord | None: ...

        def survey(
            self,
            kind: str,
            moment: str,
            after: date | datetime,
            personas: tuple[str, ...] = (),
            *,
            contact: int | None = None,
            penalty: float = 0.0,
        ) -> None: ...

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
        ) -> None: ...
