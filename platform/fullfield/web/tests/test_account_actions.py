"""Saved views and bulk assignment to a squad on the accounts list, as people use them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.accounts.models import Account, SavedView
from apps.accounts.tests.factories import AccountFactory
from apps.squads.tests.factories import MemberFactory, make_squad
from tests.fixtures import TenantClient, World

pytestmark = pytest.mark.usefixtures("tenant_a")


def form_post(client: TenantClient, path: str, data: dict[str, Any] | None = None) -> Any:
    """A browser's form submission (the API client's default body is JSON)."""
    return client.post(path, data or {}, format="multipart")


# --- saved views ----------------------------------------------------------------------------


def test_alice_saves_the_current_filters_and_sort_and_finds_the_view_in_the_list(
    alice_client: TenantClient,
) -> None:
    response = form_post(
        alice_client,
        "/accounts/views/",
        {"name": "  Poor  renewals ", "query": "band=poor&renewal=90&sort=-mrr&after=abc"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/?band=poor&renewal=90&sort=-mrr"
    saved = SavedView.objects.get()
    assert (saved.name, saved.query, saved.shared) == (
        "Poor renewals",
        "band=poor&renewal=90&sort=-mrr",
        False,
    )
    page = alice_client.get(response["Location"])
    html = page.content.decode()
    assert 'href="/accounts/?band=poor&amp;renewal=90&amp;sort=-mrr" aria-current="true"' in html
    assert page.context["listing"].sort_param == "-mrr"
    assert page.context["listing"].bands == ["poor"]


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Enter a name."), ("   ", "Enter a name."), ("x" * 81, "at most 80 characters")],
)
def test_a_view_without_a_usable_name_is_refused_with_a_400_naming_the_name(
    alice_client: TenantClient, name: str, message: str
) -> None:
    response = form_post(alice_client, "/accounts/views/", {"name": name, "query": "band=poor"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert not SavedView.objects.exists()


def test_a_second_view_of_the_same_name_is_refused_but_another_user_may_use_it(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    first = form_post(alice_client, "/accounts/views/", {"name": "Mine", "query": ""})
    assert first.status_code == 302
    again = form_post(alice_client, "/accounts/views/", {"name": "MINE", "query": "band=good"})
    assert again.status_code == 400
    assert "already have a saved view with this name" in again.content.decode()
    bobs = form_post(bob_client, "/accounts/views/", {"name": "Mine", "query": ""})
    assert bobs.status_code == 302
    assert SavedView.objects.count() == 2


def test_shared_views_are_offered_to_everyone_but_private_ones_only_to_their_owner(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    form_post(alice_client, "/accounts/views/", {"name": "Team view", "query": "", "shared": "on"})
    form_post(alice_client, "/accounts/views/", {"name": "Alice only", "query": "band=poor"})
    bob_views = [view.name for view in bob_client.get("/accounts/").context["saved_views"]]
    assert bob_views == ["Team view"]
    alice_views = [view.name for view in alice_client.get("/accounts/").context["saved_views"]]
    assert alice_views == ["Alice only", "Team view"]


def test_only_the_owner_deletes_a_view_others_get_404(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    form_post(alice_client, "/accounts/views/", {"name": "Team view", "query": "", "shared": "on"})
    saved = SavedView.objects.get()
    assert form_post(bob_client, f"/accounts/views/{saved.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=saved.pk).exists()
    assert form_post(alice_client, f"/accounts/views/{saved.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_charlie_gets_404_deleting_a_view_of_another_tenant(
    alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    form_post(alice_client, "/accounts/views/", {"name": "Alpha view", "query": ""})
    saved = SavedView.objects.get()
    assert form_post(charlie_client, f"/accounts/views/{saved.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=saved.pk).exists()


def test_saving_and_deleting_views_needs_a_signed_in_user(client_a: TenantClient) -> None:
    response = client_a.post("/accounts/views/", {"name": "Anonymous", "query": ""})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not SavedView.objects.exists()


# --- bulk assignment ------------------------------------------------------------------------


def test_alice_selects_two_accounts_confirms_the_count_and_assigns_them_to_a_squad(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Expansion")
    first, second, untouched = (
        AccountFactory.create(),
        AccountFactory.create(),
        AccountFactory.create(),
    )
    form = {"squad": squad.pk, "account": [first.pk, second.pk], "filter": "band=poor"}
    confirm = form_post(alice_client, "/accounts/assign/", form)
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert 'data-testid="assign-count">2<' in html
    assert "Expansion" in html
    assert not Account.objects.filter(squad_id=squad.pk).exists()  # nothing before confirming
    done = form_post(alice_client, "/accounts/assign/", {**form, "confirm": "1"})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/?band=poor"
    assert set(Account.objects.filter(squad_id=squad.pk).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    untouched.refresh_from_db()
    assert untouched.squad_id is None
    assert "Assigned 2 accounts to Expansion." in alice_client.get("/accounts/").content.decode()


def test_all_accounts_matching_the_filter_are_assigned_in_one_update(
    alice_client: TenantClient,
) -> None:
    squad = make_squad("Enterprise desk")
    for _ in range(3):
        AccountFactory.create(segment="enterprise")
    AccountFactory.create(segment="smb")
    form = {"squad": squad.pk, "all": "1", "filter": "segment=enterprise&sort=name"}
    assert (
        'data-testid="assign-count">3<'
        in form_post(alice_client, "/accounts/assign/", form).content.decode()
    )
    with CaptureQueriesContext(connection) as captured:
        done = form_post(alice_client, "/accounts/assign/", {**form, "confirm": "1"})
    assert done.status_code == 302
    updates = [query["sql"] for query in captured if query["sql"].startswith("UPDATE")]
    assert len([sql for sql in updates if '"accounts_account"' in sql]) == 1
    assert Account.objects.filter(squad_id=squad.pk, segment="enterprise").count() == 3
    assert not Account.objects.filter(squad_id=squad.pk, segment="smb").exists()


def test_the_list_offers_row_checkboxes_only_to_those_who_may_assign(
    alice_client: TenantClient, bob_client: TenantClient
) -> None:
    AccountFactory.create()
    assert 'data-testid="select-account"' in alice_client.get("/accounts/").content.decode()
    assert 'data-testid="select-account"' not in bob_client.get("/accounts/").content.decode()


def test_a_user_below_manager_level_may_not_assign(bob_client: TenantClient, world: World) -> None:
    squad = make_squad("Growth")
    account = AccountFactory.create()
    form = {"squad": squad.pk, "account": [account.pk], "confirm": "1"}
    assert form_post(bob_client, "/accounts/assign/", form).status_code == 403
    MemberFactory(user=world.bob.user, permission_level="member")
    assert form_post(bob_client, "/accounts/assign/", form).status_code == 403
    account.refresh_from_db()
    assert account.squad_id is None


def test_a_squad_manager_may_assign(bob_client: TenantClient, world: World) -> None:
    squad = make_squad("Growth")
    account = AccountFactory.create()
    MemberFactory(user=world.bob.user, permission_level="manager")
    form = {"squad": squad.pk, "account": [account.pk], "confirm": "1"}
    assert form_post(bob_client, "/accounts/assign/", form).status_code == 302
    account.refresh_from_db()
    assert account.squad_id == squad.pk


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"account": ["1"]}, "Choose the squad"),
        ({"squad": "abc", "account": ["1"]}, "not a squad id"),
        ({"squad": "SQUAD"}, "Select at least one account"),
        ({"squad": "SQUAD", "account": ["1", "x"]}, "not an account id"),
        ({"squad": "SQUAD", "all": "1", "filter": "segment=nobody"}, "nothing to assign"),
    ],
)
def test_incomplete_or_bad_assignments_are_refused_with_a_400_that_says_why(
    alice_client: TenantClient, form: dict[str, object], message: str
) -> None:
    squad = make_squad("Growth")
    account = AccountFactory.create()
    data = {
        key: (
            str(squad.pk)
            if value == "SQUAD"
            else [str(account.pk) if item == "1" else item for item in value]
            if isinstance(value, list)
            else value
        )
        for key, value in form.items()
    }
    response = form_post(alice_client, "/accounts/assign/", {**data, "confirm": "1"})
    assert response.status_code == 400
    assert message in response.content.decode()
    account.refresh_from_db()
    assert account.squad_id is None


def test_a_squad_or_account_of_another_tenant_is_a_404(
    alice_client: TenantClient, world: World
) -> None:
    own_squad = make_squad("Alpha squad")
    own_account = AccountFactory.create()
    # Ids are per tenant schema: take tenant B's rows beyond every id tenant A has, so the ids
    # name rows that exist only in the other tenant.
    with schema_context(world.tenant_b.schema_name):
        foreign_squad = make_squad("Beta squad 0")
        while foreign_squad.pk <= own_squad.pk:
            foreign_squad = make_squad(f"Beta squad {foreign_squad.pk}")
        foreign_account = AccountFactory.create()
        while foreign_account.pk <= own_account.pk:
            foreign_account = AccountFactory.create()
    foreign_squad_form = {"squad": foreign_squad.pk, "account": [own_account.pk], "confirm": "1"}
    assert form_post(alice_client, "/accounts/assign/", foreign_squad_form).status_code == 404
    foreign_account_form = {
        "squad": own_squad.pk,
        "account": [own_account.pk, foreign_account.pk],
        "confirm": "1",
    }
    assert form_post(alice_client, "/accounts/assign/", foreign_account_form).status_code == 404
    own_account.refresh_from_db()
    assert own_account.squad_id is None
