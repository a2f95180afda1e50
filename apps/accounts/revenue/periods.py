"""Reporting periods: half-open date ranges [start, end) and the day snapshots that bound them."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from fullfield.errors import DomainError

# Dates outside this window are refused rather than risking date overflow at the edges
# (the opening day of 0001-01-01 does not exist); no real revenue history lives there.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(3000, 1, 1)
MAX_SERIES_PERIODS = 120


class Interval(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def months(self) -> int:
        return {"month": 1, "quarter": 3, "year": 12}[self.value]


@dataclasses.dataclass(frozen=True)
class Period:
    """The days start .. end - 1.

    Opening MRR is the MRR in force on the day before the period (`opening_date`), closing
    MRR the MRR in force on its last day (`closing_date`). So a change dated on the first
    day of a period is a movement of that period, and the closing MRR of one period is the
    opening MRR of the next.
    """

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise DomainError(
                "The period must end after it starts.",
                fields={"end": [f"{self.end} is not after start {self.start}."]},
            )

    @property
    def opening_date(self) -> date:
        return self.start - timedelta(days=1)

    @property
    def closing_date(self) -> date:
        return self.end - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 -> Feb 28)."""
    return day + relativedelta(months=months)


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    return Period(start=start, end=add_months(start, 1))


def periods_between(*, start: date, end: date, interval: Interval) -> list[Period]:
    """Consecutive periods of one interval from start; the last one is cut short at end.

    Each boundary is counted from `start` (not from the previous boundary), so a series that
    starts on the 31st keeps returning to the 31st where the month has one.
    """
    Period(start=start, end=end)  # validates the order of the bounds
    periods: list[Period] = []
    period_start = start
    while period_start < end:
        if len(periods) == MAX_SERIES_PERIODS:
            raise DomainError(
                f"A series has at most {MAX_SERIES_PERIODS} periods.",
                fields={
                    "end": [
                        f"From {start} to {end} by {interval.value} is more than "
                        f"{MAX_SERIES_PERIODS} periods; shorten the range or use a longer interval."
                    ]
                },
            )
        period_end = min(add_months(start, interval.months * (len(periods) + 1)), end)
        periods.append(Period(start=period_start, end=period_end))
        period_start = period_end
    return periods
