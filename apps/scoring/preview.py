"""What a draft of a health profile would do before it is saved: its band distribution now.

The draft's components are scored over the accounts the profile scores today with the same
set-based SQL as a recompute, inside a READ ONLY transaction that is rolled back, so a preview
can never write: its target is a subquery rather than the temporary table a recompute fills.
"""

# ruff: noqa: S608  (SQL built from table names and %(params)s only)

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.scoring import metrics
from apps.scoring.models import HealthProfile, HealthScore
from apps.scoring.services import ACCOUNTS, PROFILE_JOINS, PROFILE_OF_ACCOUNT
from fullfield.errors import DomainError

BANDS = ("poor", "average", "good")


@dataclass(frozen=True)
class BandPreview:
    """Accounts per band: as scored now (`current`) and as the draft would score them."""

    current: dict[str, int]
    draft: dict[str, int]
    unscored: int  # accounts of the profile whose every draft input is missing
    as_of: dt.datetime

    @property
    def accounts(self) -> int:
        return sum(self.draft.values()) + self.unscored


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
    if not query.sql.startswith("WITH "):
        raise RuntimeError("the score query no longer starts with WITH; adapt the preview")
    sql = (
        f"WITH _preview_target AS MATERIALIZED (SELECT a.id AS account_id, a.segment "
        f"FROM {ACCOUNTS} a {PROFILE_JOINS} WHERE {PROFILE_OF_ACCOUNT} = %(preview_profile_id)s), "
        + query.sql.removeprefix("WITH ")
    )
    moment = timezone.now()
    draft = dict.fromkeys(BANDS, 0)
    unscored = 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Going read-only is allowed at any point of a transaction (or savepoint), and the
        # rollback below ends it either way.
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            f"SELECT CASE WHEN s.score IS NULL THEN NULL ELSE s.band END, count(*) "
            f"FROM ({sql}) s GROUP BY 1",
            {
                **query.params,
                "as_of": moment,
                "day": moment.astimezone(dt.UTC).date(),
                "preview_profile_id": profile.pk,
            },
        )
        for band, count in cursor.fetchall():
            if band is None:
                unscored += count
            else:
                draft[band] = count
        transaction.set_rollback(True)
    current = dict.fromkeys(BANDS, 0)
    for row in HealthScore.objects.filter(profile=profile).values("band").annotate(n=Count("pk")):
        current[row["band"]] = row["n"]
    return BandPreview(current=current, draft=draft, unscored=unscored, as_of=moment)
