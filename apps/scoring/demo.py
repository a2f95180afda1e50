"""The demo tenant's scores, seeded by `fullfield bootstrap --demo` after the accounts seeder."""

from __future__ import annotations

import time
from typing import Protocol

from apps.scoring import services
from apps.scoring.calibration import calibration_run
from apps.scoring.models import HealthScore
from apps.scoring.value import account_value_recompute

DEMO_HISTORY_DAYS = 180
# A point every day, so the 30-day change and the trend lines have a point to start from.
DEMO_HISTORY_STEP_DAYS = 1


class Output(Protocol):
    def write(self, message: str, /) -> object: ...


def seed_scores(*, stdout: Output) -> None:
    """Backfill history, calibrate, then score every account, unless already scored."""
    if HealthScore.objects.exists():
        stdout.write("demo scores: already scored; nothing done")
        return
    started = time.monotonic()
    services.health_history_backfill(days=DEMO_HISTORY_DAYS, step_days=DEMO_HISTORY_STEP_DAYS)
    calibration = calibration_run()
    # After the calibration, so churn probabilities start from its per-band churn rates.
    result = services.health_recompute()
    account_value_recompute()
    auc = calibration.report.get("auc")
    stdout.write(
        f"demo scores: {result.scored} accounts scored, {DEMO_HISTORY_DAYS} days of daily "
        f"history, calibration {calibration.pk} "
        f"({calibration.status}, held-out AUC {auc}) in {time.monotonic() - started:.1f} s"
    )
