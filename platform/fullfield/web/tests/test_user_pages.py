"""The people page: only tenant admins; invite (the email carries a link to choose a
password), role and level, deactivate."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from apps.squads.models import Member
from fullfield.users.models import User
from tests.fixtures import PASSWORD, TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def post(client: TenantClient, path: str, data: dict[str, str]) -> Any:
    return client.post(path, data, format="multipart")


def invite(client: TenantClient, email: str = "dana@alpha.test", **extra: str) -> Any:
    body = {
        "invite-email": email,
        "invite-full_name": "Dana",
        "invite-role": "success",
        "invite-level": "member",
        **extra,
    }
    return post(client, "/settings/users/", body)


def test_an_admin_sees_everyone_with_role_and_level(alice_client: TenantClient) -> None:
    bob = User.objects.get(email="bob@alpha.test")
    Member.objects.create(user=bob, role="sales", permission_level="manager")

    page = alice_client.get("/settings/users/").content.decode()

    assert 'data-testid="person-alice@alpha.test"' in page
    row = page.split('data-testid="person-bob@alpha.test"')[1].split("</tr>")[0]
    assert '<option value="sales" selected>' in row
    assert '<option value="manager" selected>' in row


def test_an_invited_person_gets_an_email_and_signs_in_after_choosing_a_password(
    alice_client: TenantClient, client_a: TenantClient, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(alice_client)

    assert response.status_code == 302
    dana = User.objects.get(email="dana@alpha.test")
    assert not dana.has_usable_password()
    assert (dana.squad_member.role, dana.squad_member.permission_level) == ("success", "member")
    (message,) = mail.outbox
    assert message.to == ["dana@alpha.test"]
    link = re.search(r"https?://[^/\s]+(/password-reset/\S+/)", str(message.body))
    assert link is not None
    form = client_a.get(link.group(1), follow=True)
    assert form.status_code == 200
    chosen = client_a.post(
        form.redirect_chain[-1][0],
        {"new_password1": PASSWORD, "new_password2": PASSWORD},
        format="multipart",
    )
    assert chosen.status_code == 302
    dana.refresh_from_db()
    assert dana.check_password(PASSWORD)


def test_an_invitation_for_someone_already_here_or_a_bad_email_is_refused(
    alice_client: TenantClient,
) -> None:
    twice = invite(alice_client, email="BOB@alpha.test")
    bad = invite(alice_client, email="not-an-email")

    assert twice.status_code == 409
    assert "Already a user here." in twice.content.decode()
    assert bad.status_code == 400
    assert "Enter a valid email address." in bad.content.decode()
    assert User.objects.count() == 2


def test_an_admin_changes_role_and_level_and_the_admin_level_makes_an_admin(
    alice_client: TenantClient,
) -> None:
    bob = User.objects.get(email="bob@alpha.test")

    post(alice_client, f"/settings/users/{bob.pk}/access/", {"role": "product", "level": "admin"})
    bob.refresh_from_db()
    assert bob.is_staff
    assert (bob.squad_member.role, bob.squad_member.permission_level) == ("product", "admin")
    post(alice_client, f"/settings/users/{bob.pk}/access/", {"role": "product", "level": "member"})
    bob.refresh_from_db()
    assert not bob.is_staff


def test_an_admin_cannot_lower_their_own_level_or_deactivate_themselves(
    alice_client: TenantClient,
) -> None:
    alice = User.objects.get(email="alice@alpha.test")

    post(alice_client, f"/settings/users/{alice.pk}/access/", {"role": "sales", "level": "member"})
    post(alice_client, f"/settings/users/{alice.pk}/active/", {"active": "0"})

    alice.refresh_from_db()
    assert alice.is_staff and alice.is_active


def test_a_deactivated_person_can_no_longer_sign_in(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    bob = User.objects.get(email="bob@alpha.test")
    assert bob_client.get("/").status_code == 200

    post(alice_client, f"/settings/users/{bob.pk}/active/", {"active": "0"})

    bob.refresh_from_db()
    assert not bob.is_active
    assert bob_client.get("/").status_code == 302  # the session no longer signs them in
    post(alice_client, f"/settings/users/{bob.pk}/active/", {"active": "1"})
    bob.refresh_from_db()
    assert bob.is_active


def test_people_who_are_not_admins_are_refused(bob_client: TenantClient) -> None:
    alice = User.objects.get(email="alice@alpha.test")

    assert bob_client.get("/settings/users/").status_code == 403
    assert invite(bob_client).status_code == 403
    assert (
        post(bob_client, f"/settings/users/{alice.pk}/active/", {"active": "0"}).status_code == 403
    )
    alice.refresh_from_db()
    assert alice.is_active


def test_another_tenant_gets_404_for_a_person(charlie_client: TenantClient) -> None:
    bob = User.objects.get(email="bob@alpha.test")
    body = {"role": "sales", "level": "admin"}

    assert post(charlie_client, f"/settings/users/{bob.pk}/access/", body).status_code == 404
    assert (
        post(charlie_client, f"/settings/users/{bob.pk}/active/", {"active": "0"}).status_code
        == 404
    )
