"""Scoring settings pages: the live band preview of a draft profile, saving it as a new
version, and calibration requested in the background, shown and accepted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.tests.factories import AccountFactory
from apps.scoring.calibration_runs import calibration_run_work
from apps.scoring.models import Calibration, CalibrationRun, HealthProfile, HealthScore
from apps.scoring.preview import health_profile_band_preview
from apps.scoring.services import (
    health_profile_create,
    health_profile_default_ensure,
    health_recompute,
)
from apps.scoring.tests.helpers import active_days_component, usage, use_components
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def post(client: TenantClient, path: str, data: dict[str, str], **extra: Any) -> Any:
    """A form post, as a browser sends it."""
    return client.post(path, data, format="multipart", **extra)


def scored_accounts() -> HealthProfile:
    """Three accounts with 2, 5 and 9 active days, scored by active days alone (0..10 -> 0..100):
    20 (poor), 50 (average), 90 (good)."""
    profile = use_components(active_days_component())
    for days in (2, 5, 9):
        account = AccountFactory.create(name=f"{days} days")
        for day in range(days):
            usage(account, day)
    health_recompute()
    return profile


def draft(profile: HealthProfile, mapping: str, **extra: str) -> dict[str, str]:
    return {
        "c0-use": "on",
        "c0-weight": "1",
        "c0-window_days": "30",
        "c0-mapping": mapping,
        **extra,
    }


def test_the_preview_counts_bands_of_the_draft_and_writes_nothing() -> None:
    profile = scored_accounts()
    before = list(HealthScore.objects.order_by("pk").values_list("score", flat=True))
    stricter = [
        {
            **active_days_component(),
            "mapping": {"kind": "thresholds", "points": [[0, 0], [20, 100]]},
        }
    ]

    preview = health_profile_band_preview(profile=profile, components=stricter)

    assert preview.current == {"poor": 1, "average": 1, "good": 1}
    # 2, 5, 9 days on a 0..20 scale: 10, 25, 45.
    assert preview.draft == {"poor": 2, "average": 1, "good": 0}
    assert list(HealthScore.objects.order_by("pk").values_list("score", flat=True)) == before
    profile.refresh_from_db()
    assert profile.version == 2  # use_components made version 2; the preview made none
    # The connection is usable and writable again after the read-only preview.
    with connection.cursor() as cursor:
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone() == ("off",)
    Account.objects.create(name="Written after a preview")


def accounts_with_active_days(*days: int) -> HealthProfile:
    profile = use_components(active_days_component())
    for number, active in enumerate(days):
        account = AccountFactory.create(name=f"{number}: {active} days")
        for day in range(active):
            usage(account, day)
    health_recompute()
    return profile


def test_a_large_profile_is_previewed_on_a_sample_and_its_counts_scaled_to_all_accounts(
    alice_client: TenantClient, settings: Any
) -> None:
    settings.FULLFIELD_SCORING_PREVIEW_SAMPLE = 2
    profile = accounts_with_active_days(*[9] * 8)  # 90: good
    url = f"/settings/scoring/profiles/{profile.pk}/"
    # 9 days on a 0..20 scale: 45, average.
    stricter = [
        {
            **active_days_component(),
            "mapping": {"kind": "thresholds", "points": [[0, 0], [20, 100]]},
        }
    ]

    preview = health_profile_band_preview(profile=profile, components=stricter)
    page = post(
        alice_client, f"{url}preview/", draft(profile, "0:0, 20:100"), HTTP_HX_REQUEST="true"
    )

    assert (preview.sampled, preview.total, preview.estimated) == (2, 8, True)
    assert preview.current == {"poor": 0, "average": 0, "good": 8}
    # The 2 sampled accounts moved from good to average: 2 of 8, so 8 accounts.
    assert preview.draft == {"poor": 0, "average": 8, "good": 0}
    body = page.content.decode()
    assert "estimated from 2 of 8 accounts" in body
    assert 'data-testid="draft-average">8<' in body


def test_a_sampled_preview_of_an_unchanged_draft_shows_no_change(settings: Any) -> None:
    settings.FULLFIELD_SCORING_PREVIEW_SAMPLE = 3
    profile = accounts_with_active_days(2, 9, 2, 9, 5, 2, 9, 9)
    profile.refresh_from_db()

    preview = health_profile_band_preview(profile=profile, components=profile.components)

    assert preview.estimated
    assert preview.current == {"poor": 3, "average": 1, "good": 4}
    assert preview.draft == preview.current


def test_a_profile_no_larger_than_the_sample_is_previewed_exactly(
    alice_client: TenantClient, settings: Any
) -> None:
    settings.FULLFIELD_SCORING_PREVIEW_SAMPLE = 3
    profile = scored_accounts()

    page = post(
        alice_client,
        f"/settings/scoring/profiles/{profile.pk}/preview/",
        draft(profile, "0:0, 20:100"),
        HTTP_HX_REQUEST="true",
    )

    body = page.content.decode()
    assert "estimated" not in body
    assert 'data-testid="draft-poor">2<' in body and 'data-testid="draft-average">1<' in body


def test_each_profiles_preview_covers_the_accounts_a_recompute_scores_with_it() -> None:
    catch_all = use_components(active_days_component())
    profiles = [catch_all] + [
        health_profile_create(
            data={
                "name": f"{segment or 'any'} {stage or 'any'}",
                "segment": segment,
                "lifecycle_stage": stage,
                "components": [active_days_component()],
            }
        )
        for segment, stage in (("smb", ""), ("", "onboarding"), ("smb", "adopting"))
    ]
    for segment in ("", "smb", "enterprise"):
        for stage in ("", "onboarding", "adopting", "renewing"):
            AccountFactory.create(segment=segment, lifecycle_stage=stage)
    health_recompute()

    covered = {
        profile.name: health_profile_band_preview(
            profile=profile, components=profile.components
        ).total
        for profile in profiles
    }

    assert covered == {
        profile.name: HealthScore.objects.filter(profile=profile).count() for profile in profiles
    }
    assert sum(covered.values()) == 12


def test_the_page_previews_a_draft_on_change_and_saves_it_as_a_new_version(
    alice_client: TenantClient,
) -> None:
    profile = scored_accounts()
    url = f"/settings/scoring/profiles/{profile.pk}/"

    page = alice_client.get(url)
    preview = post(
        alice_client, f"{url}preview/", draft(profile, "0:0, 20:100"), HTTP_HX_REQUEST="true"
    )
    saved = post(alice_client, url, draft(profile, "0:0, 20:100"))

    assert page.status_code == 200
    # The page comes at once; its preview is the form's first htmx request.
    assert f'hx-post="{url}preview/" hx-include="#profile-form" hx-trigger="load"' in (
        page.content.decode()
    )
    body = preview.content.decode()
    assert "<html" not in body
    assert 'data-testid="draft-poor">2<' in body and 'data-testid="draft-good">0<' in body
    assert saved.status_code == 302
    profile.refresh_from_db()
    assert profile.version == 3
    assert profile.components[0]["mapping"]["points"] == [[0.0, 0.0], [20.0, 100.0]]


def test_a_bad_draft_is_named_in_the_preview_and_refused_on_save(
    alice_client: TenantClient,
) -> None:
    profile = scored_accounts()
    url = f"/settings/scoring/profiles/{profile.pk}/"

    unordered = post(
        alice_client, f"{url}preview/", draft(profile, "10:100, 0:0"), HTTP_HX_REQUEST="true"
    )
    garbled = post(alice_client, url, draft(profile, "ten:100"))
    no_weight = post(alice_client, url, {**draft(profile, "0:0, 10:100"), "c0-weight": "0"})

    assert "Thresholds must be in increasing order of raw value." in unordered.content.decode()
    assert garbled.status_code == 400
    assert "“ten:100” is not a raw:score pair" in garbled.content.decode()
    assert no_weight.status_code == 400
    assert "A positive number." in no_weight.content.decode()
    profile.refresh_from_db()
    assert profile.version == 2


def test_a_component_is_added_and_another_dropped_in_one_save(alice_client: TenantClient) -> None:
    profile = scored_accounts()
    body = {
        "c0-weight": "1",
        "c0-mapping": "0:0, 10:100",  # c0 not used: dropped
        "new-metric": "breadth",
        "new-weight": "2",
        "new-window_days": "14",
        "new-mapping": "0:0, 3:100",
    }

    response = post(alice_client, f"/settings/scoring/profiles/{profile.pk}/", body)

    assert response.status_code == 302
    profile.refresh_from_db()
    assert [(c["metric"], c["weight"], c.get("window_days")) for c in profile.components] == [
        ("breadth", 2.0, 14)
    ]


def test_calibration_is_queued_from_the_page_and_its_report_card_shown(
    alice_client: TenantClient,
) -> None:
    profile = health_profile_default_ensure()

    queued = post(
        alice_client,
        "/settings/scoring/calibration/",
        {"profile": str(profile.pk), "horizon_days": "45"},
    )
    run = CalibrationRun.objects.get()
    polling = alice_client.get("/settings/scoring/").content.decode()
    calibration_run_work(run_id=run.pk)  # what the worker does (tested on a real one elsewhere)
    status = alice_client.get(
        f"/settings/scoring/calibration/runs/{run.pk}/", HTTP_HX_REQUEST="true"
    )
    page = alice_client.get("/settings/scoring/").content.decode()

    assert queued.status_code == 302
    assert (run.status, run.horizon_days, run.profile_id) == ("queued", 45, profile.pk)
    assert f'hx-get="/settings/scoring/calibration/runs/{run.pk}/"' in polling
    assert "finished" in status.content.decode()
    assert status["HX-Refresh"] == "true"
    assert "Too little history to calibrate" in page


def fitted_calibration(profile: HealthProfile, *, ordered: bool = True) -> Calibration:
    return Calibration.objects.create(
        profile=profile,
        profile_version=profile.version,
        status=Calibration.Status.FITTED,
        message="Fitted.",
        weights={component["key"]: 3.0 for component in profile.components},
        churn_model={"intercept": -1.0, "slope": -0.02},
        report={
            "samples": 1000,
            "test_samples": 300,
            "churned_accounts": 60,
            "auc": 0.81,
            "uncalibrated_auc": 0.7,
            "raw_features_auc": 0.815,
            "activity_only_auc": 0.6,
            "top_decile_lift": 3.1,
            "brier_score": 0.08,
            "calibration_by_decile": [
                {
                    "decile": d,
                    "accounts": 30,
                    "predicted_churn_rate": 0.3 - d / 50,
                    "observed_churn_rate": 0.31 - d / 50,
                }
                for d in range(1, 11)
            ],
            "band_churn_rates": {"poor": 0.3, "average": 0.1, "good": 0.02}
            if ordered
            else {"poor": 0.05, "average": 0.1, "good": 0.02},
            "band_samples": {"poor": 50, "average": 100, "good": 150},
            "bands_ordered": ordered,
            "bands_note": "Churn does NOT fall from poor to good" if not ordered else "Falls.",
            "split": "by account and by time",
        },
    )


def test_the_report_card_shows_every_figure_and_an_admin_accepts_it(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    profile = scored_accounts()
    calibration = fitted_calibration(profile)

    seen_by_bob = bob_client.get("/settings/scoring/").content.decode()
    page = alice_client.get("/settings/scoring/").content.decode()
    refused = bob_client.post(f"/settings/scoring/calibration/{calibration.pk}/accept/")
    accepted = alice_client.post(f"/settings/scoring/calibration/{calibration.pk}/accept/")

    for figure in ("0.81", "0.7", "0.815", "0.6", "3.1", "0.08"):
        assert figure in page
    assert "Predicted and observed churn by decile" in page
    assert "Accept: make these weights" in page
    assert "Accept: make these weights" not in seen_by_bob
    assert refused.status_code == 403
    assert accepted.status_code == 302
    profile.refresh_from_db()
    assert (profile.version, profile.components[0]["weight"]) == (3, 3.0)


def test_the_report_card_warns_when_churn_does_not_fall_from_poor_to_good(
    alice_client: TenantClient,
) -> None:
    fitted_calibration(scored_accounts(), ordered=False)

    page = alice_client.get("/settings/scoring/").content.decode()

    assert 'data-testid="bands-warning">Churn does NOT fall from poor to good' in page


def test_only_admins_edit_profiles_or_run_calibrations(bob_client: TenantClient) -> None:
    profile = health_profile_default_ensure()

    assert bob_client.get("/settings/scoring/").status_code == 200
    assert bob_client.get(f"/settings/scoring/profiles/{profile.pk}/").status_code == 403
    assert (
        post(bob_client, f"/settings/scoring/profiles/{profile.pk}/preview/", {}).status_code == 403
    )
    assert post(bob_client, "/settings/scoring/calibration/", {}).status_code == 403
    assert not CalibrationRun.objects.exists()


def test_another_tenant_gets_404_for_profiles_runs_and_calibrations(
    charlie_client: TenantClient,
) -> None:
    profile = HealthProfile.objects.create(name="Alpha only", segment="alpha", components=[])
    run = CalibrationRun.objects.create(profile=profile)
    calibration = fitted_calibration(health_profile_default_ensure())

    assert charlie_client.get(f"/settings/scoring/profiles/{profile.pk}/").status_code == 404
    assert charlie_client.get(f"/settings/scoring/calibration/runs/{run.pk}/").status_code == 404
    assert (
        charlie_client.post(f"/settings/scoring/calibration/{calibration.pk}/accept/").status_code
        == 404
    )


def test_a_run_is_fitted_once_even_when_its_task_arrives_twice() -> None:
    run = CalibrationRun.objects.create(profile=health_profile_default_ensure())

    first = calibration_run_work(run_id=run.pk)
    again = calibration_run_work(run_id=run.pk)

    assert first is not None and first.status == "finished"
    assert again is None
    assert Calibration.objects.count() == 1


def test_a_run_lost_long_ago_is_no_longer_followed_and_a_new_one_may_start(
    alice_client: TenantClient,
) -> None:
    run = CalibrationRun.objects.create(profile=health_profile_default_ensure())
    CalibrationRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=2)
    )

    page = alice_client.get("/settings/scoring/").content.decode()

    assert f'hx-get="/settings/scoring/calibration/runs/{run.pk}/"' not in page
    assert "Run calibration</button>" in page and "disabled>Run calibration" not in page
