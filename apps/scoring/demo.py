"""The demo tenant's scores, seeded by `fullfield bootstrap --demo` after the accounts seeder."""

from __future__ import annotations

import time
from typing import Protocol

from apps.scoring import services
from apps.scoring.models import HealthScore

DEMO_HISTORY_DAYS = 180


class Output(Protocol):
    def write(self, message: str, /) -> object: ...


def seed_scores(*, stdout: Output) -> None:
    """Score every account, backfill its daily history and calibrate, unless already scored."""
    if HealthScore.objects.exists():
        stdout.write("demo scores: already scored; nothing done")
        return
    started = time.monotonic()
    services.health_history_backfill(days=DEMO_HISTORY_DAYS)
    result = services.health_recompute()
    stdout.write(
        f"demo scores: {result.scored} accounts scored, {DEMO_HISTORY_DAYS} days of history "
        f"in {time.monotonic() - started:.1f} s"
    )
