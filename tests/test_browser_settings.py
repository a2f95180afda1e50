"""Settings in a real Chromium: a health profile's live band preview, the calibration report
card with a run on a real worker, the plays pages with a dry run, and the people page.

Each page is checked with axe-core (no serious or critical violation) and saved as a
full-page screenshot under test-artifacts/ (the fixtures are in tests/browser.py).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Account
from apps.scoring.demo import seed_scores
from apps.scoring.services import health_profile_default_ensure
from apps.scoring.tests.test_views import fitted_calibration
from apps.squads.models import Play
from apps.squads.tests.factories import make_squad
from fullfield.celery_app import app as celery_app
from fullfield.tenancy.models import Tenant
from tests.browser import Visit, sign_in
from tests.fixtures import WorkerProcess

pytestmark = pytest.mark.browser


def test_an_admin_changes_a_health_profile_and_sees_the_band_preview_change_before_saving(
    visit: Visit, seeded_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        seed_scores(stdout=io.StringIO())
        profile = health_profile_default_ensure()
        good_now = Account.objects.filter(health_band="good").count()
        assert good_now > 0
    sign_in(visit, tenant_server, seeded_tenant)
    page = visit.page
    page.get_by_role("link", name="Scoring", exact=True).click()
    page.get_by_role("link", name=profile.name).click()
    draft_good = page.get_by_test_id("draft-good")
    assert draft_good.inner_text() == str(good_now)
    visit.check("profile-before")

    # Far stricter active days: 30 of 30 days for full marks. The preview follows the typing.
    mapping = page.get_by_label("Mapping of Active days")
    mapping.fill("0:0, 30:100")
    page.wait_for_function(
        "n => document.querySelector('[data-testid=draft-good]').textContent !== n",
        arg=str(good_now),
    )
    assert int(draft_good.inner_text()) < good_now
    assert page.get_by_role("img", name=re.compile("Accounts per band, now and with this draft"))
    visit.check("profile-preview")

    # A broken mapping names what is wrong instead of a preview.
    mapping.fill("30:100, 0:0")
    page.get_by_test_id("preview-invalid").wait_for()
    assert "increasing order" in page.get_by_test_id("band-preview").inner_text()
    mapping.fill("0:0, 30:100")
    page.get_by_test_id("draft-good").wait_for()
    page.get_by_role("button", name=re.compile("Save as version")).click()
    page.get_by_text(re.compile("Saved as version 2")).wait_for()
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        profile.refresh_from_db()
        assert profile.version == 2
    visit.check("profile-saved")


def test_an_admin_runs_a_calibration_on_a_worker_and_reads_the_report_card(
    visit: Visit,
    committed_tenant: Tenant,
    tenant_server: str,
    celery_worker_process: WorkerProcess,
    django_db_blocker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(celery_app.conf, "task_default_queue", celery_worker_process.queue)
    sign_in(visit, tenant_server, committed_tenant)
    page = visit.page
    page.goto(f"{tenant_server}/settings/scoring/")
    page.get_by_role("button", name="Run calibration").click()
    # The page polls the run and reloads once it is finished.
    page.get_by_test_id("calibration-message").wait_for(timeout=60_000)
    assert (
        "Too little history to calibrate" in page.get_by_test_id("calibration-message").inner_text()
    )
    assert "finished" in page.get_by_test_id("calibration-run").inner_text()
    visit.check("calibration-thin-history")

    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        fitted_calibration(health_profile_default_ensure(), ordered=False)
    page.reload()
    aucs = page.get_by_test_id("calibration-aucs").inner_text()
    assert "Calibrated score" in aucs and "Total activity alone" in aucs
    assert "does NOT fall" in page.get_by_test_id("bands-warning").inner_text()
    assert page.get_by_role("img", name=re.compile("Predicted and observed churn by decile"))
    visit.check("calibration-report-card")
    page.get_by_role("button", name=re.compile("Accept: make these weights")).click()
    page.get_by_text(re.compile("is now version 2")).wait_for()


def test_a_manager_writes_a_play_dry_runs_it_on_one_account_and_reads_the_audit(
    visit: Visit, seeded_tenant: Tenant, tenant_server: str, django_db_blocker: Any
) -> None:
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        squad = make_squad("Enterprise care")
        account = Account.objects.exclude(lifecycle_stage="churned").order_by("pk").first()
        assert account is not None
        segment = account.segment
    sign_in(visit, tenant_server, seeded_tenant)
    page = visit.page
    page.get_by_role("link", name="Plays", exact=True).click()
    visit.check("plays-empty")
    page.get_by_role("link", name="New play").click()
    page.get_by_label("Name", exact=True).fill("Welcome the segment")
    page.get_by_label("Trigger").select_option("segment_entered")
    segment_field = page.get_by_label("Segment", exact=True)
    segment_field.wait_for()
    segment_field.fill(segment)
    page.get_by_label("Title").fill("Welcome {account}")
    page.get_by_role("button", name="Save as a draft").click()
    page.get_by_text("is saved as a draft").wait_for()
    with django_db_blocker.unblock(), schema_context(seeded_tenant.schema_name):
        play = Play.objects.get(name="Welcome the segment")
        assert (play.squad_id, play.trigger_config) == (squad.pk, {"segment": segment})
    page.get_by_test_id("plays-preview").get_by_text("accounts in the audience").wait_for()

    page.get_by_label("Account id").fill(str(account.pk))
    page.get_by_role("button", name="Dry run").click()
    result = page.get_by_test_id("dry-run-result")
    result.get_by_text("the play would").wait_for()
    assert "create" in result.inner_text()
    visit.check("play-dry-run")
    page.reload()
    assert "dry run" in page.get_by_test_id("play-runs").inner_text()
    page.get_by_label("Active: creates work items").check()
    page.get_by_role("button", name="Change the status").click()
    assert page.get_by_test_id("play-status").inner_text() == "Active"
    page.get_by_role("link", name="Edit").click()
    visit.check("play-edit")


def test_an_admin_invites_a_person_and_gives_them_the_manager_level(
    visit: Visit, committed_tenant: Tenant, tenant_server: str
) -> None:
    sign_in(visit, tenant_server, committed_tenant)
    page = visit.page
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Email").fill("dana@example.test")
    page.get_by_label("Name").fill("Dana Scully")
    page.get_by_label("Functional role").select_option("success")
    page.get_by_role("button", name="Send the invitation").click()
    page.get_by_text("dana@example.test is invited").wait_for()
    row = page.get_by_test_id("person-dana@example.test")
    row.get_by_label("Level", exact=True).select_option("manager")
    row.get_by_role("button", name=re.compile("Save the role and level")).click()
    page.get_by_text("Dana Scully: role and level saved.").wait_for()
    assert (
        page.get_by_test_id("person-dana@example.test")
        .get_by_label("Level", exact=True)
        .input_value()
        == "manager"
    )
    visit.check("users")
