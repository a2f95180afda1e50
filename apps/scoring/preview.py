"""What a draft of a health profile would do before it is saved: its band distribution now.

The draft's components are scored over the accounts the profile scores today with the same
set-based SQL as a recompute, inside a READ ONLY transaction that is rolled back, so a preview
can never write: its target is a subquery rather than the temporary table a recompute fills.

A profile with more accounts than FULLFIELD_SCORING_PREVIEW_SAMPLE is previewed on a fixed
sample of them (the first by a hash of the id: the same accounts on every keystroke, spread
over the whole tenant), and the draft's counts are estimated: the exact counts now plus the
sample's change from now to the draft, scaled up. A draft that changes nothing therefore shows
no change, and the figures say they are an estimate and from how many accounts.
"""

# ruff: noqa: S608  (SQL built from table names and %(params)s only)

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.scoring import metrics
from apps.scoring.models import HealthProfile, HealthScore
from apps.scoring.services import ACCOUNTS, SCORES
from fullfield.errors import DomainError

BANDS = ("poor", "average", "good")


@dataclass(frozen=True)
class BandPreview:
    """Accounts per band: as scored now (`current`) and as the draft would score them.

    When `sampled` is less than `total`, `draft` and `unscored` are estimates from a sample
    of `sampled` of the profile's `total` accounts."""

    current: dict[str, int]
    draft: dict[str, int]
    unscored: int  # accounts of the profile whose every draft input is missing
    as_of: dt.datetime
    total: int = 0
    sampled: int = 0

    @property
    def accounts(self) -> int:
        return sum(self.draft.values()) + self.unscored

    @property
    def estimated(self) -> bool:
        return self.sampled < self.total


def _estimate(
    *, exact_now: dict[str, int], sample_now: dict[str, int], sample_draft: dict[str, int]
) -> dict[str, int]:
    """The draft's counts over all accounts: the exact counts now plus the sample's change,
    scaled by total / sampled, rounded by largest remainder so that they add up to the total."""
    total = sum(exact_now.values())
    sampled = sum(sample_now.values())
    scale = total / sampled
    raw = {
        key: max(0.0, exact_now[key] + (sample_draft[key] - sample_now[key]) * scale)
        for key in exact_now
    }
    kept = sum(raw.values())
    if kept:
        raw = {key: value * total / kept for key, value in raw.items()}
    counts = {key: int(value) for key, value in raw.items()}
    by_remainder = sorted(raw, key=lambda key: raw[key] - counts[key], reverse=True)
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def _accounts_of_profile(profile: HealthProfile) -> tuple[str, dict[str, Any]]:
    """A WHERE clause on the account's own columns (alias `a`) for the accounts that `profile`
    scores: the recompute's rule (services.PROFILE_OF_ACCOUNT: the most specific profile that
    matches, segment and stage, then segment, then stage, then any) with the tenant's few other
    profiles as parameters. Four joins per account cost more than the scan of the accounts."""
    others = list(
        HealthProfile.objects.exclude(pk=profile.pk).values_list("segment", "lifecycle_stage")
    )
    segment, stage = profile.segment, profile.lifecycle_stage
    params: dict[str, Any] = {"pp_segment": segment, "pp_stage": stage}
    if segment and stage:
        return "a.segment = %(pp_segment)s AND a.lifecycle_stage = %(pp_stage)s", params
    if segment:
        params["pp_stages"] = [t for s, t in others if s == segment and t]
        return (
            "a.segment = %(pp_segment)s AND a.lifecycle_stage <> ALL(%(pp_stages)s::text[])",
            params,
        )
    if stage:
        params["pp_segments"] = [s for s, t in others if s and t in (stage, "")]
        return (
            "a.lifecycle_stage = %(pp_stage)s AND a.segment <> ALL(%(pp_segments)s::text[])",
            params,
        )
    params["pp_both"] = [f"{s}\x1f{t}" for s, t in others if s and t]
    params["pp_segments"] = [s for s, t in others if s and not t]
    params["pp_stages"] = [t for s, t in others if t and not s]
    return (
        "(a.segment = '' OR a.lifecycle_stage = '' OR "
        "a.segment || chr(31) || a.lifecycle_stage <> ALL(%(pp_both)s::text[])) AND "
        "(a.segment = '' OR a.segment <> ALL(%(pp_segments)s::text[])) AND "
        "(a.lifecycle_stage = '' OR a.lifecycle_stage <> ALL(%(pp_stages)s::text[]))",
        params,
    )


def health_profile_band_preview(
    *, profile: HealthProfile, components: Sequence[Mapping[str, Any]]
) -> BandPreview:
    """The band counts the draft components would give the profile's accounts, writing nothing."""
    errors = metrics.components_check(list(components))
    if errors:
        raise DomainError("The profile's components are not valid.", fields=errors)
    # The profile's accounts, chosen once (a materialized CTE) rather than in every join of
    # the score query that reads its target.
    query = metrics.score_sql(
        components=metrics.components_normalise(components), target="_preview_target"
    )
    # The sample: the profile's first accounts by a hash of the id, with their number. A
    # materialized CTE, so that the score query's joins read it rather than recompute it.
    # (A subquery's own WITH sees the CTEs of the query around it.)
    where, where_params = _accounts_of_profile(profile)
    targets = (
        f"WITH _preview_target AS MATERIALIZED (SELECT a.id AS account_id, a.segment, "
        f"count(*) OVER () AS profile_accounts FROM {ACCOUNTS} a WHERE {where} "
        "ORDER BY hashint8(a.id), a.id LIMIT %(preview_sample)s) "
    )
    moment = timezone.now()
    sample_size = settings.FULLFIELD_SCORING_PREVIEW_SAMPLE
    keys = (*BANDS, "")  # "": no score
    sample_draft = dict.fromkeys(keys, 0)
    sample_now = dict.fromkeys(keys, 0)
    total = sampled = 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Going read-only is allowed at any point of a transaction (or savepoint), and the
        # rollback below ends it either way.
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            f"{targets}SELECT CASE WHEN s.score IS NULL THEN '' ELSE s.band END, "
            "COALESCE(now.band, ''), count(*), "
            "(SELECT max(profile_accounts) FROM _preview_target) "
            f"FROM ({query.sql}) s LEFT JOIN {SCORES} now ON now.account_id = s.account_id "
            "AND now.profile_id = %(preview_profile_id)s GROUP BY 1, 2",
            {
                **query.params,
                "as_of": moment,
                "day": moment.astimezone(dt.UTC).date(),
                "preview_profile_id": profile.pk,
                "preview_sample": sample_size,
                **where_params,
            },
        )
        for draft_band, now_band, count, profile_accounts in cursor.fetchall():
            sample_draft[draft_band] += count
            sample_now[now_band] += count
            sampled += count
            total = profile_accounts
        transaction.set_rollback(True)
    current = dict.fromkeys(BANDS, 0)
    for row in HealthScore.objects.filter(profile=profile).values("band").annotate(n=Count("pk")):
        current[row["band"]] = row["n"]
    if sampled < total:
        exact_now = {**current, "": max(0, total - sum(current.values()))}
        if sum(exact_now.values()) != total:  # scores of accounts that left the profile
            exact_now = {key: round(n * total / sampled) for key, n in sample_now.items()}
            exact_now[""] += total - sum(exact_now.values())
        draft = _estimate(exact_now=exact_now, sample_now=sample_now, sample_draft=sample_draft)
    else:
        draft = sample_draft
    return BandPreview(
        current=current,
        draft={band: draft[band] for band in BANDS},
        unscored=draft[""],
        as_of=moment,
        total=total,
        sampled=sampled,
    )
