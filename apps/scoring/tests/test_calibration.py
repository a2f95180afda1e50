"""Calibration on fixtures whose answer is known: churn follows one component, not the other."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from apps.accounts.models import Account, Subscription, UsageDay
from apps.accounts.tests.factories import AccountFactory
from apps.scoring.calibration import calibration_accept, calibration_run
from apps.scoring.models import Calibration, HealthProfileVersion
from apps.scoring.tests.helpers import points, today, use_components

pytestmark = pytest.mark.usefixtures("tenant_a")


def _profile() -> None:
    use_components(
        {"metric": "active_days", "weight": 50, "mapping": points((0, 0), (20, 100))},
        {"key": "noise", "metric": "breadth", "weight": 50, "mapping": points((0, 0), (5, 100))},
    )


def _customer(*, churn_in_days: int | None, active_days: int, noise_names: int) -> Account:
    account = AccountFactory.create()
    start = today() - dt.timedelta(days=400)
    end = today() - dt.timedelta(days=churn_in_days) if churn_in_days is not None else None
    Subscription.objects.create(
        account=account,
        plan="pro",
        mrr=Decimal(100),
        currency=account.currency,
        period_start=start,
        period_end=end,
    )
    if end is not None:
        Subscription.objects.create(
            account=account,
            plan="pro",
            mrr=0,
            currency=account.currency,
            period_start=end,
            status="canceled",
            change_kind="cancellation",
        )
    last = end or today()
    rows = []
    for back in range(0, 400):
        day = last - dt.timedelta(days=back)
        if back % max(1, 30 // max(active_days, 1)) == 0 and active_days:
            for index in range(noise_names):
                rows.append(
                    UsageDay(account=account, day=day, name=f"e{index}", event_count=1, value_sum=1)
                )
            if not noise_names:
                rows.append(
                    UsageDay(account=account, day=day, name="login", event_count=1, value_sum=1)
                )
    UsageDay.objects.bulk_create(rows)
    return account


def test_calibration_refuses_thin_history_and_names_what_is_missing() -> None:
    _profile()
    for _ in range(3):
        _customer(churn_in_days=20, active_days=1, noise_names=1)

    calibration = calibration_run()

    assert calibration.status == Calibration.Status.INSUFFICIENT
    assert calibration.message.startswith(
        "Too little history to calibrate: 3 accounts churned within 30 days"
    )
    assert "at least 30" in calibration.message
    assert not calibration.weights


def test_calibration_weights_the_component_that_predicts_churn_and_grades_it() -> None:
    _profile()
    rng = random.Random(7)
    # Churners are nearly inactive before they leave; breadth is noise for everyone.
    for _ in range(60):
        _customer(churn_in_days=rng.randint(1, 200), active_days=1, noise_names=rng.randint(1, 4))
    for _ in range(60):
        _customer(churn_in_days=None, active_days=15, noise_names=rng.randint(1, 4))

    calibration = calibration_run(min_churned=30, step_days=7, history_days=240)

    assert calibration.status == Calibration.Status.FITTED, calibration.message
    assert calibration.weights["active_days"] > 5 * calibration.weights["noise"]
    report = calibration.report
    # Churners' early dates look like their last ones, so the ranking is good, not perfect,
    # and samples alike but for noise tie: the calibrated profile ranks as well as the 50/50
    # one, give or take the draw of accounts into the held-out set. That draw hashes account
    # ids, which depend on what ran before; on about 36 held-out accounts it moves AUC by up to
    # a few hundredths (0.015 seen), hence the margin.
    assert report["auc"] > 0.75
    assert report["auc"] >= report["uncalibrated_auc"] - 0.03
    assert report["brier_score"] < 0.25
    assert report["top_decile_lift"] > 1
    assert len(report["calibration_by_decile"]) == 10
    assert set(report["band_churn_rates"]) == {"poor", "average", "good"}

    profile = calibration_accept(calibration=calibration)

    assert profile.version == 3  # the default, the test's components, the calibrated weights
    weights = {c["key"]: c["weight"] for c in profile.components}
    assert weights == calibration.weights
    assert profile.churn_model is not None
    assert profile.churn_model["calibration_id"] == calibration.pk
    assert HealthProfileVersion.objects.filter(profile=profile, version=3).exists()


def test_calibration_refits_thresholds_that_hide_the_signal_and_accepting_applies_them() -> None:
    # Any activity at all scores 100: the profile cannot tell 3 active days from 15.
    use_components(
        {"metric": "active_days", "weight": 50, "mapping": points((0, 0), (1, 100))},
        {"key": "noise", "metric": "breadth", "weight": 50, "mapping": points((0, 0), (5, 100))},
    )
    rng = random.Random(11)
    for _ in range(40):
        _customer(churn_in_days=rng.randint(1, 150), active_days=3, noise_names=rng.randint(1, 4))
    for _ in range(40):
        _customer(churn_in_days=None, active_days=15, noise_names=rng.randint(1, 4))

    calibration = calibration_run(min_churned=30, step_days=7, history_days=180)

    assert calibration.status == Calibration.Status.FITTED, calibration.message
    report = calibration.report
    assert report["uncalibrated_auc"] < 0.7
    assert report["auc"] > report["uncalibrated_auc"] + 0.2
    proposed = calibration.mappings["active_days"]["points"]
    scores = [score for _, score in proposed]
    assert scores == sorted(scores), "more active days never lowers the score"
    assert scores[0] == 0 and scores[-1] == 100
    assert any(raw > 1 and score < 100 for raw, score in proposed), "no longer saturated at 1"

    profile = calibration_accept(calibration=calibration)

    mapping = {c["key"]: c["mapping"] for c in profile.components}
    assert mapping["active_days"] == {"kind": "thresholds", "points": proposed}
