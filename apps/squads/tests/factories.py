"""factory_boy factories and small helpers for squads' tests."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from apps.accounts.tests.factories import AccountFactory
from apps.squads.access import Actor, actor_for_user
from apps.squads.models import Member, Play, Squad, WorkItem
from apps.squads.services import squad_create, squad_member_add
from fullfield.users.models import User


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@squads.test")
    full_name = factory.Sequence(lambda n: f"Person {n}")


class MemberFactory(factory.django.DjangoModelFactory[Member]):
    class Meta:
        model = Member

    user = factory.SubFactory(UserFactory)
    role = "success"
    permission_level = "member"


def make_squad(name: str = "Growth", *, value_area: str = "account_based", **queue: Any) -> Squad:
    return squad_create(
        data={"name": name, "mission": f"{name} mission", "value_area": value_area}, queue=queue
    )


def join(squad: Squad, *members: Member) -> None:
    for member in members:
        squad_member_add(squad=squad, member=member)


def session_for(user: User) -> str:
    """A signed-in browser session for the user (what the login page would create)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key


def actor(member: Member) -> Actor:
    return actor_for_user(member.user)


class WorkItemFactory(factory.django.DjangoModelFactory[WorkItem]):
    class Meta:
        model = WorkItem

    queue = factory.LazyFunction(lambda: make_squad(f"Squad {Squad.objects.count()}").queue)
    account = factory.SubFactory(AccountFactory)
    title = factory.Sequence(lambda n: f"Item {n}")


class PlayFactory(factory.django.DjangoModelFactory[Play]):
    class Meta:
        model = Play

    squad = factory.LazyFunction(lambda: make_squad(f"Squad {Squad.objects.count()}"))
    name = factory.Sequence(lambda n: f"Play {n}")
    status = "active"
    trigger = "segment_entered"
    trigger_config = factory.LazyFunction(lambda: {"segment": "enterprise"})
    item_template = factory.LazyFunction(
        lambda: {"title": "Welcome {account}", "checklist": ["Call", "Email"], "due_in_days": 3}
    )
