"""Churn calibration: fit a profile's weights to the tenant's own history and grade the score.

Samples are (account, past date) pairs: every account with a subscription term in force on the
date, with its components computed as of that date from the rollup and the record (the same
SQL as live scores), labelled by whether it churned (a `cancellation` term began) within the
next N days. Train and test sets are split by account (no account in both) and by time (the
test dates come after the training dates), and every figure of the report card is measured
on the held-out accounts and dates.

The fit is a logistic regression of churn on each component's raw value through a piecewise
linear basis with knots at the training data's quantiles (a generalised additive model), so it
learns where a threshold component stops mattering, rather than only re-weighting fixed
thresholds. Each component's fitted curve is made monotone in the direction the profile gives
it (isotonic regression), then shifted and scaled to 0..100 (100 = least churn) as its proposed
thresholds, and its span in log-odds becomes its weight; the profile's weighted average of the
proposed component scores is then the fitted model's ranking (where an input is missing, its
weight is spread over the others, as in live scores).
Percentile components keep their mapping and get a weight from a linear term on their score
(a token weight when higher scores went with more churn). A one-input logistic regression on
the calibrated score (Platt scaling) turns a score into a probability. The report card grades
exactly the proposed profile version (rounded as stored) on the held-out set.
"""

# ruff: noqa: S608  (SQL built from table names and %(params)s only)

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from apps.accounts.models import Account, Subscription
from apps.scoring import metrics
from apps.scoring.models import Calibration, HealthProfile, band_of
from apps.scoring.services import health_profile_default_ensure, health_profile_update
from fullfield.errors import Conflict, DomainError

MIN_CHURNED_ACCOUNTS = 30
HISTORY_DAYS = 360
STEP_DAYS = 14
TEST_SHARE = 0.3
# A component the fit finds no use for keeps a token weight (weights must be positive).
TOKEN_WEIGHT = 0.1
# Knots of a threshold component's proposed mapping: these quantiles of its training values.
KNOT_QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)

ACTIVITY_KEY = "__activity"


@dataclass
class Samples:
    account_ids: np.ndarray[Any, Any]
    dates: np.ndarray[Any, Any]  # days before today
    labels: np.ndarray[Any, Any]
    raw: np.ndarray[Any, Any]  # NaN where missing
    scores: np.ndarray[Any, Any]  # component scores, NaN where missing
    profile_scores: np.ndarray[Any, Any]
    activity: np.ndarray[Any, Any]


def _samples(
    profile: HealthProfile, *, horizon_days: int, history_days: int, step_days: int
) -> Samples:
    components = list(profile.components)
    # Total activity in 30 days rides along as a baseline to compare the score with.
    activity = {
        "key": ACTIVITY_KEY,
        "metric": "event_count",
        "weight": 1e-9,
        "window_days": 30,
        "mapping": {"kind": "thresholds", "points": [[0, 0], [1, 100]]},
    }
    query = metrics.score_sql(components=[*components, activity], target="_calibration_target")
    accounts, subscriptions = Account._meta.db_table, Subscription._meta.db_table
    today = timezone.now().astimezone(dt.UTC).date()
    rows: list[tuple[Any, ...]] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")  # see services._lock
        cursor.execute(
            "CREATE TEMP TABLE _calibration_target (account_id bigint PRIMARY KEY, segment text) "
            "ON COMMIT DROP"
        )
        back = horizon_days
        while back <= history_days:
            day = today - dt.timedelta(days=back)
            cursor.execute("TRUNCATE _calibration_target")
            cursor.execute(
                f"INSERT INTO _calibration_target SELECT a.id, a.segment FROM {accounts} a "
                f"WHERE EXISTS (SELECT 1 FROM {subscriptions} s WHERE s.account_id = a.id AND "
                "s.status IN ('active', 'past_due') AND s.period_start <= %(day)s AND "
                "(s.period_end IS NULL OR s.period_end > %(day)s))",
                {"day": day},
            )
            cursor.execute("ANALYZE _calibration_target")
            cursor.execute(
                f"SELECT s.account_id, s.vals, EXISTS (SELECT 1 FROM {subscriptions} c WHERE "
                "c.account_id = s.account_id AND c.change_kind = 'cancellation' AND "
                "c.period_start > %(day)s AND c.period_start <= %(day)s + %(horizon)s) "
                f"FROM ({query.sql}) s",
                {
                    **query.params,
                    "day": day,
                    "horizon": horizon_days,
                    "as_of": dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC),
                },
            )
            rows.extend((account_id, back, vals, churned) for account_id, vals, churned in cursor)
            back += step_days
    count = len(components)
    raw = np.full((len(rows), count), np.nan)
    scores = np.full((len(rows), count), np.nan)
    profile_scores = np.zeros(len(rows))
    activity_values = np.zeros(len(rows))
    nominal = np.array([float(c["weight"]) for c in components])
    for index, (_, _, vals, _) in enumerate(rows):
        triples = [vals[i : i + 3] for i in range(0, 3 * count, 3)]
        raw[index] = [np.nan if t[0] is None else t[0] for t in triples]
        scores[index] = [np.nan if t[1] is None else t[1] for t in triples]
        activity_values[index] = vals[3 * count] or 0.0
        present = ~np.isnan(scores[index])
        weight = nominal[present].sum()
        profile_scores[index] = (
            float((scores[index][present] * nominal[present]).sum() / weight) if weight else 50.0
        )
    return Samples(
        account_ids=np.array([row[0] for row in rows], dtype=np.int64),
        dates=np.array([row[1] for row in rows], dtype=np.int64),
        labels=np.array([bool(row[3]) for row in rows], dtype=bool),
        raw=raw,
        scores=scores,
        profile_scores=profile_scores,
        activity=activity_values,
    )


def _held_out(account_id: int) -> bool:
    """A stable split by account: the same account is always on the same side."""
    digest = hashlib.sha256(str(account_id).encode()).digest()
    return digest[0] < 256 * TEST_SHARE


def _weighted_score(scores: np.ndarray[Any, Any], weights: np.ndarray[Any, Any]) -> Any:
    """The profile's own rule: missing components' weight is spread over the present ones."""
    present = ~np.isnan(scores)
    filled = np.where(present, scores, 0.0)
    total = (present * weights).sum(axis=1)
    return np.where(total > 0, (filled * weights).sum(axis=1) / np.maximum(total, 1e-12), 50.0)


def _impute(values: np.ndarray[Any, Any], means: np.ndarray[Any, Any]) -> Any:
    return np.where(np.isnan(values), means, values)


def _hat_basis(values: np.ndarray[Any, Any], knots: np.ndarray[Any, Any]) -> Any:
    """Piecewise linear interpolation weights of each value over the knots (clamped at both
    ends, like a thresholds mapping); a missing value gets none."""
    basis = np.zeros((len(values), len(knots)))
    present = ~np.isnan(values)
    clamped = np.clip(np.where(present, values, knots[0]), knots[0], knots[-1])
    left = np.clip(np.searchsorted(knots, clamped, side="right") - 1, 0, len(knots) - 2)
    share = (clamped - knots[left]) / (knots[left + 1] - knots[left])
    rows = np.arange(len(values))
    basis[rows, left] = 1 - share
    basis[rows, left + 1] += share
    basis[~present] = 0.0
    return basis


def _plain(number: float) -> float | int:
    return int(number) if float(number).is_integer() else float(number)


@dataclass
class ComponentFit:
    """The proposed profile: a weight per component and, for threshold components, new points;
    `scores` are the samples' component scores under the proposed mappings."""

    weights: np.ndarray[Any, Any]
    mappings: dict[str, dict[str, Any]]
    scores: np.ndarray[Any, Any]


def _fit_components(
    samples: Samples, components: list[dict[str, Any]], train: np.ndarray[Any, Any]
) -> ComponentFit:
    blocks: list[np.ndarray[Any, Any]] = []
    knots_of: list[np.ndarray[Any, Any] | None] = []
    for index, component in enumerate(components):
        raw = samples.raw[:, index]
        missing = np.isnan(raw)
        seen = raw[train & ~missing]
        knots = None
        if component["mapping"]["kind"] == "thresholds" and len(seen):
            knots = np.unique(np.round(np.quantile(seen, KNOT_QUANTILES), 6))
        if knots is not None and len(knots) >= 2:
            basis = _hat_basis(raw, knots)
        else:
            # Percentile components (and values that never varied) enter by their score.
            knots = None
            basis = np.nan_to_num(samples.scores[:, index])[:, None] / 100
        knots_of.append(knots)
        blocks.append(np.hstack([basis, missing[:, None]]))
    features = np.hstack(blocks)[train]
    model = LogisticRegression(max_iter=3000)
    model.fit(features, samples.labels[train])
    coefficients = model.coef_[0]
    spans = np.zeros(len(components))
    mappings: dict[str, dict[str, Any]] = {}
    scores = samples.scores.copy()
    start = 0
    for index, (component, knots) in enumerate(zip(components, knots_of, strict=True)):
        width = 1 if knots is None else len(knots)
        health = -coefficients[start : start + width]  # log-odds of staying, per knot
        start += width + 1  # and the missing indicator
        if knots is None:
            spans[index] = max(float(health[0]), 0.0)
            continue
        # Keep the direction the profile gives the component (more active days is never
        # worse): the fitted curve's nearest monotone curve, weighted by the samples near
        # each knot. A component the history contradicts flattens to a token weight.
        points_given = component["mapping"]["points"]
        increasing = float(points_given[-1][1]) >= float(points_given[0][1])
        mass = features[:, start - width - 1 : start - 1].sum(axis=0) + 1e-9
        health = IsotonicRegression(increasing=increasing).fit_transform(
            np.arange(width), health, sample_weight=mass
        )
        spans[index] = float(health.max() - health.min())
        if spans[index] <= 1e-9:
            spans[index] = 0.0
            continue
        points = [
            [_plain(float(knot)), round(float(100 * (value - health.min()) / spans[index]), 1)]
            for knot, value in zip(knots, health, strict=True)
        ]
        mappings[component["key"]] = {"kind": "thresholds", "points": points}
        raw = samples.raw[:, index]
        proposed = np.interp(raw, [p[0] for p in points], [p[1] for p in points])
        scores[:, index] = np.where(np.isnan(raw), np.nan, proposed)
    if spans.sum() <= 0:
        spans = np.ones_like(spans)
    weights = np.round(np.maximum(100 * spans / spans.sum(), TOKEN_WEIGHT), 2)
    return ComponentFit(weights=weights, mappings=mappings, scores=scores)


def _auc(labels: np.ndarray[Any, Any], risk: np.ndarray[Any, Any]) -> float | None:
    if labels.all() or not labels.any():
        return None
    return round(float(roc_auc_score(labels, risk)), 4)


def _deciles(
    labels: np.ndarray[Any, Any], probability: np.ndarray[Any, Any]
) -> list[dict[str, Any]]:
    order = np.argsort(-probability, kind="stable")
    table = []
    for decile, chunk in enumerate(np.array_split(order, 10), start=1):
        if not len(chunk):
            continue
        table.append(
            {
                "decile": decile,
                "accounts": len(chunk),
                "predicted_churn_rate": round(float(probability[chunk].mean()), 4),
                "observed_churn_rate": round(float(labels[chunk].mean()), 4),
            }
        )
    return table


def calibration_run(
    *,
    profile: HealthProfile | None = None,
    horizon_days: int = 30,
    history_days: int = HISTORY_DAYS,
    step_days: int = STEP_DAYS,
    min_churned: int = MIN_CHURNED_ACCOUNTS,
) -> Calibration:
    """Fit weights for the profile and grade them on held-out accounts; stores the result."""
    if not 1 <= horizon_days <= 365:
        raise DomainError("horizon_days must be 1 to 365.", fields={"horizon_days": ["1 to 365."]})
    profile = profile or health_profile_default_ensure()
    samples = _samples(
        profile, horizon_days=horizon_days, history_days=history_days, step_days=step_days
    )
    churned_accounts = len(set(samples.account_ids[samples.labels].tolist()))
    base = {
        "profile": profile,
        "profile_version": profile.version,
        "horizon_days": horizon_days,
    }
    if churned_accounts < min_churned:
        return Calibration.objects.create(
            **base,
            status=Calibration.Status.INSUFFICIENT,
            message=(
                f"Too little history to calibrate: {churned_accounts} accounts churned within "
                f"{horizon_days} days of a date in the last {history_days} days, and a fit "
                f"needs at least {min_churned}. Import more subscription history (cancellation "
                "terms) or usage, or try a longer horizon."
            ),
            report={"samples": len(samples.labels), "churned_accounts": churned_accounts},
        )
    held_out = np.array([_held_out(int(a)) for a in samples.account_ids])
    cut = np.median(samples.dates)
    # Test dates are the later half (fewer days back); training dates the earlier half.
    train = ~held_out & (samples.dates > cut)
    test = held_out & (samples.dates <= cut)
    if samples.labels[train].sum() < 5 or samples.labels[test].sum() < 5:
        train, test = ~held_out, held_out
    components = list(profile.components)
    fit = _fit_components(samples, components, train)
    weights = fit.weights
    calibrated = _weighted_score(fit.scores, weights)
    platt = LogisticRegression()
    platt.fit(calibrated[train].reshape(-1, 1), samples.labels[train])
    intercept, slope = float(platt.intercept_[0]), float(platt.coef_[0][0])
    probability = 1 / (1 + np.exp(-(intercept + slope * calibrated)))

    raw_means = np.nan_to_num(np.nanmean(np.where(train[:, None], samples.raw, np.nan), axis=0))
    raw_features = np.hstack([_impute(samples.raw, raw_means), np.isnan(samples.raw)])
    raw_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    raw_model.fit(raw_features[train], samples.labels[train])
    raw_risk = raw_model.predict_proba(raw_features[test])[:, 1]

    labels = samples.labels[test]
    base_rate = float(labels.mean())
    top = np.argsort(-probability[test], kind="stable")[: max(1, len(labels) // 10)]
    bands: dict[str, dict[str, Any]] = {}
    for band in ("poor", "average", "good"):
        members = np.array([band_of(float(s)) == band for s in calibrated[test]])
        bands[band] = {
            "samples": int(members.sum()),
            "churn_rate": round(float(labels[members].mean()), 4) if members.any() else None,
        }
    rates = [bands[b]["churn_rate"] for b in ("poor", "average", "good")]
    known = [rate for rate in rates if rate is not None]
    falls = all(a >= b for a, b in pairwise(known))
    report = {
        "samples": len(samples.labels),
        "train_samples": int(train.sum()),
        "test_samples": int(test.sum()),
        "churned_accounts": churned_accounts,
        "test_base_churn_rate": round(base_rate, 4),
        "auc": _auc(labels, -calibrated[test]),
        "uncalibrated_auc": _auc(labels, -samples.profile_scores[test]),
        "raw_features_auc": _auc(labels, raw_risk),
        "activity_only_auc": _auc(labels, -samples.activity[test]),
        "top_decile_lift": (
            round(float(labels[top].mean()) / base_rate, 2) if base_rate > 0 else None
        ),
        "brier_score": round(float(brier_score_loss(labels, probability[test])), 4),
        "calibration_by_decile": _deciles(labels, probability[test]),
        "band_churn_rates": {band: bands[band]["churn_rate"] for band in bands},
        "band_samples": {band: bands[band]["samples"] for band in bands},
        "bands_ordered": falls,
        "bands_note": (
            "Churn falls from poor to good, as it should."
            if falls
            else "Churn does NOT fall from poor to good on held-out accounts: the bands "
            "mislead with these weights."
        ),
        "split": "by account (30% held out) and by time (held-out dates after training dates)",
        "refitted_thresholds": sorted(fit.mappings),
    }
    return Calibration.objects.create(
        **base,
        status=Calibration.Status.FITTED,
        message="Fitted; an admin may accept the weights as a new profile version.",
        weights={
            component["key"]: round(float(weight), 2)
            for component, weight in zip(components, weights, strict=True)
        },
        churn_model={"intercept": intercept, "slope": slope},
        mappings=fit.mappings,
        report=report,
    )


@transaction.atomic
def calibration_accept(*, calibration: Calibration, user: Any = None) -> HealthProfile:
    """Apply a fitted calibration's weights and churn model as a new profile version."""
    calibration = Calibration.objects.select_for_update().get(pk=calibration.pk)
    if calibration.status != Calibration.Status.FITTED:
        raise Conflict(f"Calibration {calibration.pk} is {calibration.status}; only fitted ones.")
    profile = HealthProfile.objects.get(pk=calibration.profile_id)
    if profile.version != calibration.profile_version:
        raise Conflict(
            f"The profile changed since this calibration (version {calibration.profile_version}"
            f", now {profile.version}); run a new one."
        )
    components = [
        {
            **component,
            "weight": calibration.weights[component["key"]],
            "mapping": calibration.mappings.get(component["key"], component["mapping"]),
        }
        for component in profile.components
    ]
    profile = health_profile_update(
        profile=profile,
        data={"components": components},
        user=user,
        churn_model={**(calibration.churn_model or {}), "calibration_id": calibration.pk},
    )
    calibration.status = Calibration.Status.ACCEPTED
    calibration.accepted_at = timezone.now()
    calibration.save(update_fields=["status", "accepted_at"])
    return profile
