"""Writes of scoring: health profiles and the set-based recompute of health scores.

A recompute pass runs in one transaction holding the tenant's scoring lock, so two passes
never interleave and each band change is seen, written and published exactly once. It claims
the accounts' rescoring marks first (the claim-before-read protocol of
`apps.accounts.services.records.accounts_touch`), so a crash (even SIGKILL) rolls the claim
back with everything else and the marks are picked up again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import Account
from apps.scoring import metrics
from apps.scoring.events import HealthBandChanged, HealthScoresChanged
from apps.scoring.models import (
    Calibration,
    HealthProfile,
    HealthProfileVersion,
    HealthScore,
    HealthSnapshot,
)
from fullfield import events
from fullfield.errors import DomainError
from fullfield.users.models import User

ACCOUNTS = Account._meta.db_table
PROFILES = HealthProfile._meta.db_table
SCORES = HealthScore._meta.db_table
SNAPSHOTS = HealthSnapshot._meta.db_table

RECOMPUTE_TASK = "scoring.health_recompute"
MARKED_BATCH_SIZE = 20_000
# A pass over at least this many accounts and a fifth of the tenant's reads its rollup in heap
# order rather than by index.
LARGE_PASS = 5_000
WORK_MEM = "64MB"


# --- profiles -------------------------------------------------------------------------------


def _version_record(profile: HealthProfile, user: User | None) -> None:
    HealthProfileVersion.objects.create(
        profile=profile,
        version=profile.version,
        name=profile.name,
        segment=profile.segment,
        lifecycle_stage=profile.lifecycle_stage,
        components=profile.components,
        churn_model=profile.churn_model,
        created_by=user,
    )


def health_profile_default_ensure() -> HealthProfile:
    """The tenant's catch-all profile, created with the default components on first use."""
    profile = HealthProfile.objects.filter(segment="", lifecycle_stage="").first()
    if profile is not None:
        return profile
    with transaction.atomic():
        profile, created = HealthProfile.objects.get_or_create(
            segment="",
            lifecycle_stage="",
            defaults={
                "name": metrics.DEFAULT_PROFILE_NAME,
                "components": metrics.default_components(),
            },
        )
        if created:
            _version_record(profile, None)
    return profile


def _profile_validate(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    errors = metrics.components_check(data.get("components"))
    if errors:
        raise DomainError("The profile's components are not valid.", fields=errors)
    return metrics.components_normalise(data["components"])


def _scope_taken(segment: str, stage: str, exclude: int | None) -> None:
    others = HealthProfile.objects.filter(segment=segment, lifecycle_stage=stage)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    other = others.values_list("pk", flat=True).first()
    if other is not None:
        raise DomainError(
            f"Profile {other} already scores this segment and lifecycle stage.",
            fields={"segment": ["Another profile has this scope."]},
        )


def _recompute_after_commit(backfill_days: int = 0) -> None:
    from fullfield.celery_app import app

    transaction.on_commit(
        lambda: app.send_task(RECOMPUTE_TASK, kwargs={"full": True, "backfill_days": backfill_days})
    )


@transaction.atomic
def health_profile_create(
    *, data: Mapping[str, Any], user: User | None = None, backfill_days: int = 0
) -> HealthProfile:
    components = _profile_validate(data)
    segment = data.get("segment", "") or ""
    stage = data.get("lifecycle_stage", "") or ""
    _scope_taken(segment, stage, None)
    profile = HealthProfile.objects.create(
        name=data["name"], segment=segment, lifecycle_stage=stage, components=components
    )
    _version_record(profile, user)
    _recompute_after_commit(backfill_days)
    return profile


@transaction.atomic
def health_profile_update(
    *,
    profile: HealthProfile,
    data: Mapping[str, Any],
    user: User | None = None,
    backfill_days: int = 0,
    churn_model: dict[str, Any] | None = None,
) -> HealthProfile:
    """A new version of the profile; every account is rescored once this commits."""
    profile = HealthProfile.objects.select_for_update().get(pk=profile.pk)
    merged = {
        "name": profile.name,
        "segment": profile.segment,
        "lifecycle_stage": profile.lifecycle_stage,
        "components": profile.components,
        **data,
    }
    components = _profile_validate(merged)
    _scope_taken(merged["segment"] or "", merged["lifecycle_stage"] or "", profile.pk)
    if components != profile.components:
        # Weights fitted to other components no longer describe this profile.
        profile.churn_model = None
    if churn_model is not None:
        profile.churn_model = churn_model
    profile.name = merged["name"]
    profile.segment = merged["segment"] or ""
    profile.lifecycle_stage = merged["lifecycle_stage"] or ""
    profile.components = components
    profile.version += 1
    profile.save()
    _version_record(profile, user)
    _recompute_after_commit(backfill_days)
    return profile


# --- recompute ------------------------------------------------------------------------------


@dataclass
class RecomputeResult:
    scored: int = 0
    changed: list[int] = field(default_factory=list)
    # The accounts an incremental pass rescored (left empty by full passes: all of them).
    accounts: list[int] = field(default_factory=list)
    band_changes: list[HealthBandChanged] = field(default_factory=list)


def _lock(cursor: Any) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':health'))")
    # The score query's many outer joins inflate the planner's row estimates past JIT's cost
    # thresholds; compiling it then took up to a minute for a query that runs in milliseconds.
    cursor.execute("SET LOCAL jit = off")
    # Sorts of a pass's rollup rows stay in memory rather than spilling to disk.
    cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")


# The profile scoring account `a`: the most specific whose scope matches it (segment and
# stage, then segment, then stage, then the catch-all). One hash join per scope level rather
# than a subquery per account (profiles are unique per scope).
PROFILE_JOINS = (
    f"LEFT JOIN {PROFILES} p_both ON p_both.segment = a.segment "
    "AND p_both.lifecycle_stage = a.lifecycle_stage AND a.segment <> '' "
    "AND a.lifecycle_stage <> '' "
    f"LEFT JOIN {PROFILES} p_segment ON p_segment.segment = a.segment "
    "AND p_segment.lifecycle_stage = '' AND a.segment <> '' "
    f"LEFT JOIN {PROFILES} p_stage ON p_stage.segment = '' "
    "AND p_stage.lifecycle_stage = a.lifecycle_stage AND a.lifecycle_stage <> '' "
    f"LEFT JOIN {PROFILES} p_any ON p_any.segment = '' AND p_any.lifecycle_stage = ''"
)
PROFILE_OF_ACCOUNT = "COALESCE(p_both.id, p_segment.id, p_stage.id, p_any.id)"


def _target_create(cursor: Any, source_sql: str | None, params: Sequence[Any]) -> int:
    """Fill _health_target (account_id, segment, profile_id) from `source_sql`'s account rows
    (every account when None); returns how many."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _health_target (account_id bigint PRIMARY KEY, "
        "segment text, profile_id bigint) ON COMMIT DROP"
    )
    cursor.execute("TRUNCATE _health_target")
    select = f"SELECT a.id, a.segment, {PROFILE_OF_ACCOUNT} FROM {ACCOUNTS} a {PROFILE_JOINS}"  # noqa: S608
    if source_sql is None:
        cursor.execute(f"INSERT INTO _health_target {select}")
    else:
        cursor.execute(
            f"WITH source AS ({source_sql}) INSERT INTO _health_target {select} "  # noqa: S608
            "WHERE a.id IN (SELECT id FROM source)",
            params,
        )
    targets: int = cursor.rowcount
    cursor.execute("ANALYZE _health_target")
    return targets


def _churn_expression(profile: HealthProfile, band_rates: Mapping[str, float] | None) -> str:
    model = profile.churn_model
    if model:
        a, b = float(model["intercept"]), float(model["slope"])
        return f"1 / (1 + exp(-({a!r} + {b!r} * s.score)))"
    if band_rates:
        cases = " ".join(
            f"WHEN '{band}' THEN {float(rate)!r}"
            for band, rate in band_rates.items()
            if band in ("good", "average", "poor")
        )
        return f"CASE s.band {cases} END" if cases else "NULL::float8"
    return "NULL::float8"


def _latest_band_rates() -> dict[str, float] | None:
    report = (
        Calibration.objects.exclude(status=Calibration.Status.INSUFFICIENT)
        .order_by("-created_at")
        .values_list("report", flat=True)
        .first()
    )
    if not report:
        return None
    rates = report.get("band_churn_rates") or {}
    return {band: float(rate) for band, rate in rates.items() if rate is not None} or None


def _score_into_result(cursor: Any, *, as_of: dt.datetime, targets: int) -> None:
    """Score every account of _health_target (`targets` rows) with its profile into
    _health_result."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _health_result (account_id bigint PRIMARY KEY, "
        "score float8, band text, vals float8[], profile_id bigint, profile_version int, "
        "churn float8) ON COMMIT DROP"
    )
    cursor.execute("TRUNCATE _health_result")
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS _health_pass (account_id bigint PRIMARY KEY, "
        "segment text) ON COMMIT DROP"
    )
    cursor.execute("SELECT DISTINCT profile_id FROM _health_target WHERE profile_id IS NOT NULL")
    profile_ids = [row[0] for row in cursor.fetchall()]
    band_rates = _latest_band_rates()
    day = as_of.astimezone(dt.UTC).date()
    # The planner's estimate of the tenant's accounts is enough to tell a pass over most.
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [ACCOUNTS])
    accounts = max(0.0, float(cursor.fetchone()[0]))
    scored = 0
    for profile in HealthProfile.objects.filter(pk__in=profile_ids).order_by("pk"):
        percentile = any(c["mapping"]["kind"] == "percentile" for c in profile.components)
        target = "_health_pass"
        if not percentile and len(profile_ids) == 1:
            # One profile scores every target (as the catch-all alone does): no copy of them.
            target, rows = "_health_target", targets
        elif percentile:
            cursor.execute("TRUNCATE _health_pass")
            # Percentiles rank within the whole segment, not only the accounts being rescored.
            cursor.execute(
                f"INSERT INTO _health_pass SELECT a.id, a.segment FROM {ACCOUNTS} a "  # noqa: S608
                f"{PROFILE_JOINS} WHERE {PROFILE_OF_ACCOUNT} = %s",
                [profile.pk],
            )
            rows = cursor.rowcount
            cursor.execute("ANALYZE _health_pass")
        else:
            cursor.execute("TRUNCATE _health_pass")
            cursor.execute(
                "INSERT INTO _health_pass SELECT account_id, segment FROM _health_target "
                "WHERE profile_id = %s",
                [profile.pk],
            )
            rows = cursor.rowcount
            cursor.execute("ANALYZE _health_pass")
        large = rows >= LARGE_PASS and rows * 5 >= accounts
        query = metrics.score_sql(
            components=profile.components,
            target=target,
            # A pass over (nearly) every account aggregates the rollup first and joins after.
            usage_of_all=large and rows * 4 >= accounts * 3,
            few=not large,
        )
        churn = _churn_expression(profile, band_rates)
        if large:
            # The planner would walk the rollup's primary key for its account order, fetching
            # its rows from all over the heap; reading them in heap order and sorting them in
            # memory is several times faster once a pass covers many accounts.
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL work_mem = '256MB'")
        else:
            # A few accounts are read by key: at the default cost of a random read the planner
            # scans whole tables (terms, survey answers) to hash-join them, though the index
            # pages and rows it would read for a few accounts are in memory.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
        cursor.execute(
            f"INSERT INTO _health_result SELECT s.account_id, s.score, s.band, s.vals, "  # noqa: S608
            f"%(profile_id)s, %(profile_version)s, {churn} FROM ({query.sql}) s "
            "WHERE s.score IS NOT NULL AND s.account_id IN "
            "(SELECT account_id FROM _health_target WHERE profile_id = %(profile_id)s)",
            {
                **query.params,
                "as_of": as_of,
                "day": day,
                "profile_id": profile.pk,
                "profile_version": profile.version,
            },
        )
        scored += cursor.rowcount
        if large:
            cursor.execute("SET LOCAL enable_indexscan = on")
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        else:
            cursor.execute("SET LOCAL random_page_cost TO DEFAULT")
    if scored < LARGE_PASS:
        # Unanalysed, the table's row estimate comes from its pages (a few times its rows): the
        # writes then join a few hundred scores to whole tables by hash instead of by key.
        cursor.execute("ANALYZE _health_result")


def _write_results(cursor: Any, *, as_of: dt.datetime) -> RecomputeResult:
    day = as_of.astimezone(dt.UTC).date()
    params = {"as_of": as_of, "day": day}
    cursor.execute(
        f"SELECT r.account_id, h.band, r.band, h.score, r.score FROM _health_result r "  # noqa: S608
        f"LEFT JOIN {SCORES} h ON h.account_id = r.account_id "
        "WHERE h.score IS DISTINCT FROM r.score OR h.band IS DISTINCT FROM r.band "
        "ORDER BY r.account_id"
    )
    result = RecomputeResult()
    stamp = as_of.isoformat()
    band_changed: list[int] = []
    for account_id, old_band, band, old_score, score in cursor.fetchall():
        if old_score != score:
            result.changed.append(account_id)
        if old_band != band:
            band_changed.append(account_id)
            result.band_changes.append(
                HealthBandChanged(
                    account_id=account_id,
                    previous_band=old_band,
                    band=band,
                    previous_score=old_score,
                    score=score,
                    as_of=stamp,
                )
            )
    cursor.execute(
        f"INSERT INTO {SCORES} AS h (account_id, score, band, profile_id, profile_version, "  # noqa: S608
        "components, as_of, churn_probability, previous_band) "
        "SELECT account_id, score, band, profile_id, profile_version, vals, %(as_of)s, churn, '' "
        "FROM _health_result ON CONFLICT (account_id) DO UPDATE SET "
        "previous_score = CASE WHEN h.score IS DISTINCT FROM EXCLUDED.score "
        "THEN h.score ELSE h.previous_score END, "
        "previous_band = CASE WHEN h.score IS DISTINCT FROM EXCLUDED.score "
        "THEN h.band ELSE h.previous_band END, "
        "previous_profile_version = CASE WHEN h.score IS DISTINCT FROM EXCLUDED.score "
        "THEN h.profile_version ELSE h.previous_profile_version END, "
        "previous_components = CASE WHEN h.score IS DISTINCT FROM EXCLUDED.score "
        "THEN h.components ELSE h.previous_components END, "
        "previous_as_of = CASE WHEN h.score IS DISTINCT FROM EXCLUDED.score "
        "THEN h.as_of ELSE h.previous_as_of END, "
        "score = EXCLUDED.score, band = EXCLUDED.band, profile_id = EXCLUDED.profile_id, "
        "profile_version = EXCLUDED.profile_version, components = EXCLUDED.components, "
        "as_of = EXCLUDED.as_of, churn_probability = EXCLUDED.churn_probability",
        params,
    )
    result.scored = cursor.rowcount
    _snapshots_write(cursor, params=params)
    if band_changed:
        cursor.execute(
            f"INSERT INTO {SNAPSHOTS} (account_id, day, as_of, score, band, band_change, "  # noqa: S608
            "profile_id, profile_version, components) SELECT account_id, %(day)s, %(as_of)s, "
            "score, band, true, profile_id, profile_version, vals FROM _health_result "
            "WHERE account_id = ANY(%(ids)s)",
            {**params, "ids": band_changed},
        )
    # The trend's snapshot is looked up per account through (account, day): a join on the day
    # alone would read the day column of the whole history's index (a year of it, at scale).
    cursor.execute(
        f"UPDATE {ACCOUNTS} a SET health_score = r.score, health_band = r.band, "  # noqa: S608
        "health_as_of = %(as_of)s, health_trend = round((r.score - past.score)::numeric, 1) "
        "FROM _health_result r LEFT JOIN LATERAL (SELECT p.score FROM "
        f"{SNAPSHOTS} p WHERE p.account_id = r.account_id AND p.day = %(day)s - 30 "
        "AND NOT p.band_change LIMIT 1) past ON true WHERE a.id = r.account_id",
        params,
    )
    # One message per thousand band changes and subscriber, not one per account.
    events.publish_many(result.band_changes)
    if result.changed:
        events.publish(HealthScoresChanged(account_ids=result.changed))
    return result


def _snapshots_write(cursor: Any, *, params: Mapping[str, Any]) -> None:
    """The day's snapshot of each scored account: inserted, or replaced when the day's score
    changed (one the same as the day's snapshot leaves it as it is, with its first as-of)."""
    # A pass later in a day (the day's snapshots exist, as one probe of its first account
    # tells) leaves out rows the same as their snapshot before the upsert, whose conflict path
    # would lock (write) each of them even when its WHERE then leaves it unchanged; the day's
    # first pass, which only inserts, skips that anti-join.
    cursor.execute(
        f"SELECT EXISTS (SELECT FROM {SNAPSHOTS} d WHERE d.account_id = "  # noqa: S608
        "(SELECT min(account_id) FROM _health_result) AND d.day = %(day)s AND NOT d.band_change)",
        params,
    )
    unchanged = (
        f"WHERE NOT EXISTS (SELECT FROM {SNAPSHOTS} d WHERE d.account_id = r.account_id "  # noqa: S608
        "AND d.day = %(day)s AND NOT d.band_change AND (d.score, d.band, d.profile_id, "
        "d.profile_version, d.components) IS NOT DISTINCT FROM (r.score, r.band, "
        "r.profile_id, r.profile_version, r.vals)) "
        if cursor.fetchone()[0]
        else ""
    )
    cursor.execute(
        f"INSERT INTO {SNAPSHOTS} AS s (account_id, day, as_of, score, band, band_change, "  # noqa: S608
        "profile_id, profile_version, components) SELECT r.account_id, %(day)s, %(as_of)s, "
        "r.score, r.band, false, r.profile_id, r.profile_version, r.vals FROM _health_result r "
        f"{unchanged}ON CONFLICT (account_id, day) WHERE NOT band_change DO UPDATE SET "
        "as_of = EXCLUDED.as_of, score = EXCLUDED.score, band = EXCLUDED.band, "
        "profile_id = EXCLUDED.profile_id, profile_version = EXCLUDED.profile_version, "
        "components = EXCLUDED.components WHERE (s.score, s.band, s.profile_id, "
        "s.profile_version, s.components) IS DISTINCT FROM (EXCLUDED.score, EXCLUDED.band, "
        "EXCLUDED.profile_id, EXCLUDED.profile_version, EXCLUDED.components)",
        params,
    )


def health_recompute(
    *, account_ids: Collection[int] | None = None, as_of: dt.datetime | None = None
) -> RecomputeResult:
    """Rescore these accounts (all when None) in one set-based pass; publishes the changes.

    Their rescoring marks are claimed too, so a pending incremental pass skips them.
    """
    health_profile_default_ensure()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        moment = as_of or timezone.now()
        if account_ids is None:
            targets = _target_create(cursor, None, [])
        else:
            source = f"SELECT id FROM {ACCOUNTS} WHERE id = ANY(%s)"  # noqa: S608
            targets = _target_create(cursor, source, [list(account_ids)])
        _score_into_result(cursor, as_of=moment, targets=targets)
        return _write_results(cursor, as_of=moment)


def health_recompute_marked(*, batch_size: int = MARKED_BATCH_SIZE) -> RecomputeResult:
    """Claim up to `batch_size` marked accounts and rescore them, in one transaction.

    Claiming (setting the mark back to NULL) locks the rows in id order, the order writers
    lock them in, so it waits for a writer still inserting their data and then reads it; a
    writer coming later marks the account again for the next pass.
    """
    health_profile_default_ensure()
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        source = (
            f"UPDATE {ACCOUNTS} a SET rescore_requested_at = NULL FROM (SELECT id FROM "  # noqa: S608
            f"{ACCOUNTS} WHERE rescore_requested_at IS NOT NULL ORDER BY id LIMIT %s "
            "FOR NO KEY UPDATE) claimed WHERE a.id = claimed.id RETURNING a.id"
        )
        targets = _target_create(cursor, source, [batch_size])
        cursor.execute("SELECT account_id FROM _health_target ORDER BY account_id")
        claimed = [row[0] for row in cursor.fetchall()]
        if not claimed:
            return RecomputeResult()
        moment = timezone.now()
        _score_into_result(cursor, as_of=moment, targets=targets)
        result = _write_results(cursor, as_of=moment)
        result.accounts = claimed
        return result


def health_marked_exist(*, older_than_seconds: float = 0) -> bool:
    marked = Account.objects.filter(rescore_requested_at__isnull=False)
    if older_than_seconds:
        cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
        marked = marked.filter(rescore_requested_at__lt=cutoff)
    return marked.exists()


def health_history_backfill(
    *, days: int, account_ids: Collection[int] | None = None, step_days: int = 1
) -> int:
    """Daily snapshots for the `days` days before today (every `step_days`-th day), each
    computed from the rollup and the record as of the end of that day with the current
    profiles; returns the rows written."""
    health_profile_default_ensure()
    today = timezone.now().astimezone(dt.UTC).date()
    written = 0
    for back in range(days, 0, -step_days):
        day = today - dt.timedelta(days=back)
        as_of = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        with transaction.atomic(), connection.cursor() as cursor:
            _lock(cursor)
            if account_ids is None:
                targets = _target_create(cursor, None, [])
            else:
                source = f"SELECT id FROM {ACCOUNTS} WHERE id = ANY(%s)"  # noqa: S608
                targets = _target_create(cursor, source, [list(account_ids)])
            _score_into_result(cursor, as_of=as_of, targets=targets)
            _snapshots_write(cursor, params={"as_of": as_of, "day": day})
            written += cursor.rowcount
    return written
