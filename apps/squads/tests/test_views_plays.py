"""The play pages as managers, members and other tenants see them."""

from __future__ import annotations

from typing import Any

import pytest

from apps.accounts.tests.factories import AccountFactory
from apps.squads.models import Play, PlayRun, WorkItem
from apps.squads.tests.factories import MemberFactory, PlayFactory, make_squad
from fullfield.users.models import User
from tests.fixtures import TenantClient


def post(client: TenantClient, path: str, data: dict[str, str], **extra: Any) -> Any:
    """A form post, as a browser sends it."""
    return client.post(path, data, format="multipart", **extra)


pytestmark = pytest.mark.usefixtures("tenant_a")


def form(squad_id: int, **overrides: str) -> dict[str, str]:
    body = {
        "name": "Poor health call",
        "description": "",
        "squad": str(squad_id),
        "trigger": "health_band_changed",
        "trigger_config-to_band": "poor",
        "audience-segment": "enterprise, mid_market",
        "item-title": "Call {account}",
        "item-checklist": "Read the health explanation\nCall the champion",
        "item-due_in_days": "3",
        "reenrol_max": "1",
        "reenrol_window_days": "30",
    }
    body.update(overrides)
    return body


def test_a_manager_creates_a_play_from_the_form_as_a_draft(alice_client: TenantClient) -> None:
    squad = make_squad()

    response = post(alice_client, "/plays/new/", form(squad.pk))

    assert response.status_code == 302
    play = Play.objects.get(name="Poor health call")
    assert response["Location"] == f"/plays/{play.pk}/"
    assert (play.status, play.trigger_config) == ("draft", {"to_band": "poor"})
    assert play.audience == {"segment": ["enterprise", "mid_market"]}
    assert play.item_template == {
        "title": "Call {account}",
        "checklist": ["Read the health explanation", "Call the champion"],
        "due_in_days": 3,
    }


def test_the_form_refuses_what_the_api_refuses_and_says_what_is_wrong(
    alice_client: TenantClient,
) -> None:
    squad = make_squad()

    fields = post(alice_client, "/plays/new/", form(squad.pk, reenrol_max="0", name=""))
    config = post(alice_client, "/plays/new/", form(squad.pk, **{"trigger_config-to_band": "bad"}))

    assert (fields.status_code, config.status_code) == (400, 400)
    assert (
        "reenrol_max: Ensure this value is greater than or equal to 1." in fields.content.decode()
    )
    assert "name: This field may not be blank." in fields.content.decode()
    assert "trigger_config: to_band: must be poor, average or good." in config.content.decode()
    # What was typed stays in the form.
    assert 'value="bad"' in config.content.decode()
    assert not Play.objects.exists()


def test_a_manager_edits_a_play_and_switches_it_draft_active_disabled(
    alice_client: TenantClient,
) -> None:
    play = PlayFactory.create(status="draft")
    account = AccountFactory.create(segment="enterprise")
    WorkItem.objects.filter(play=play).delete()

    edited = post(
        alice_client,
        f"/plays/{play.pk}/edit/",
        form(play.squad_id, trigger="segment_entered", **{"trigger_config-segment": "smb"}),
    )
    assert edited.status_code == 302
    play.refresh_from_db()
    assert (play.trigger, play.trigger_config) == ("segment_entered", {"segment": "smb"})

    post(alice_client, f"/plays/{play.pk}/status/", {"status": "active"})
    play.refresh_from_db()
    assert play.status == "active"
    post(alice_client, f"/plays/{play.pk}/status/", {"status": "draft"})
    play.refresh_from_db()
    assert play.status == "draft"
    post(alice_client, f"/plays/{play.pk}/status/", {"status": "disabled", "reason": "Retired"})
    play.refresh_from_db()
    assert (play.status, play.disabled_reason) == ("disabled", "Retired")
    assert account.pk  # the account stays untouched by switching


def test_a_dry_run_says_what_the_play_would_do_and_writes_only_its_audit(
    alice_client: TenantClient,
) -> None:
    play = PlayFactory.create(status="draft")
    matching = AccountFactory.create(name="Initech", segment="enterprise")
    other = AccountFactory.create(name="Smallco", segment="smb")

    hit = post(
        alice_client,
        f"/plays/{play.pk}/dry-run/",
        {"account": str(matching.pk)},
        HTTP_HX_REQUEST="true",
    )
    miss = post(alice_client, f"/plays/{play.pk}/dry-run/", {"account": str(other.pk)})
    unknown = post(alice_client, f"/plays/{play.pk}/dry-run/", {"account": "99999999"})

    assert hit.status_code == 200
    assert "the play would <strong>create</strong>" in hit.content.decode()
    assert "<html" not in hit.content.decode()  # the htmx answer is the result block only
    assert "does <strong>not</strong> match" in miss.content.decode()
    assert unknown.status_code == 400
    assert "No account with id" in unknown.content.decode()
    assert not WorkItem.objects.filter(play=play).exists()
    assert PlayRun.objects.filter(play=play, dry_run=True).count() == 2


def test_the_detail_page_shows_the_audience_preview_and_the_run_audit(
    alice_client: TenantClient,
) -> None:
    play = PlayFactory.create(status="draft")
    account = AccountFactory.create(name="Initech", segment="enterprise")
    post(alice_client, f"/plays/{play.pk}/dry-run/", {"account": str(account.pk)})

    preview = alice_client.get(f"/plays/{play.pk}/preview/", HTTP_HX_REQUEST="true").content
    page = alice_client.get(f"/plays/{play.pk}/").content.decode()
    listing = alice_client.get("/plays/").content.decode()

    assert "the trigger matches <strong>1</strong>" in preview.decode()
    assert "Initech" in preview.decode()
    assert "dry run</span>" in page and f"#{account.pk}</a> create" in page
    assert play.name in listing


def test_people_below_manager_read_plays_but_cannot_change_them(
    bob_client: TenantClient,
) -> None:
    play = PlayFactory.create(status="draft")

    assert bob_client.get("/plays/").status_code == 200
    assert bob_client.get(f"/plays/{play.pk}/").status_code == 200
    assert bob_client.get("/plays/new/").status_code == 403
    assert post(bob_client, f"/plays/{play.pk}/status/", {"status": "active"}).status_code == 403
    assert post(bob_client, f"/plays/{play.pk}/dry-run/", {"account": "1"}).status_code == 403
    play.refresh_from_db()
    assert play.status == "draft"


def test_a_member_may_dry_run_but_not_edit(bob_client: TenantClient) -> None:
    MemberFactory.create(user=User.objects.get(email="bob@alpha.test"), permission_level="member")
    play = PlayFactory.create(status="draft")
    account = AccountFactory.create(segment="enterprise")

    assert (
        post(bob_client, f"/plays/{play.pk}/dry-run/", {"account": str(account.pk)}).status_code
        == 200
    )
    assert bob_client.get(f"/plays/{play.pk}/edit/").status_code == 403


def test_another_tenant_gets_404_for_a_play(charlie_client: TenantClient) -> None:
    play = PlayFactory.create()

    for path in ("", "edit/", "preview/"):
        assert charlie_client.get(f"/plays/{play.pk}/{path}").status_code == 404, path
    assert (
        post(charlie_client, f"/plays/{play.pk}/status/", {"status": "disabled"}).status_code == 404
    )
    assert post(charlie_client, f"/plays/{play.pk}/dry-run/", {"account": "1"}).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client_a: TenantClient) -> None:
    response = client_a.get("/plays/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
