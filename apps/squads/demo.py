"""The demo tenant's squads, seeded by `fullfield bootstrap --demo` (FULLFIELD_DEMO_SEEDERS).

Two squads with members of several roles (the second one small, with a skill gap), active
plays that have already produced items from the seeded accounts, and work in progress
(claimed, snoozed, completed and commented items, an active and a closed cycle), so that a new
user sees a living queue. Runs after the account seeder; does nothing if squads exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Account
from apps.squads import plays, services
from apps.squads.access import Actor, actor_for_user
from apps.squads.models import Cycle, Member, Squad, WorkItem
from fullfield.errors import Conflict
from fullfield.users.models import User

# The demo people sign in like the demo admin (see README); a demo tenant only.
DEMO_PASSWORD = "fullfield-demo"  # noqa: S105

PEOPLE: list[tuple[str, str, str, str]] = [
    # email, name, functional role, permission level
    ("maria@acme.example", "Maria Lopez", "success", "manager"),
    ("sam@acme.example", "Sam Okafor", "sales", "member"),
    ("lena@acme.example", "Lena Fischer", "marketing", "member"),
    ("tom@acme.example", "Tom Becker", "account_management", "member"),
    ("aisha@acme.example", "Aisha Khan", "analyst", "member"),
    ("jon@acme.example", "Jon Park", "service", "member"),
    ("ines@acme.example", "Ines Moreau", "success", "member"),
    ("raj@acme.example", "Raj Patel", "success", "manager"),
    ("kim@acme.example", "Kim Nguyen", "service", "member"),
    ("olga@acme.example", "Olga Ivanova", "communications", "member"),
    ("ben@acme.example", "Ben Carter", "analyst", "read_only"),
]

ENTERPRISE_PLAYS: list[dict[str, Any]] = [
    {
        "name": "Renewal in 60 days",
        "trigger": "renewal_within",
        "trigger_config": {"days": 60},
        "item_template": {
            "title": "Prepare the renewal of {account}",
            "checklist": ["Review usage and health", "Book the business review", "Send quote"],
            "due_in_days": 14,
        },
        "reenrol_window_days": 90,
    },
    {
        "name": "Usage fell by 40%",
        "trigger": "usage_drop",
        "trigger_config": {"percent": 40, "window_days": 14},
        "item_template": {
            "title": "Usage dropped at {account}",
            "checklist": ["Check which features dropped", "Call the champion"],
            "due_in_days": 3,
        },
    },
    {
        "name": "Health fell to poor",
        "trigger": "health_band_changed",
        "trigger_config": {"to_band": "poor"},
        "item_template": {
            "title": "Save {account}",
            "checklist": ["Find the cause", "Agree a rescue plan with the sponsor"],
            "due_in_days": 2,
        },
    },
]
ADOPTION_PLAYS: list[dict[str, Any]] = [
    {
        "name": "Onboarding milestone overdue",
        "trigger": "milestone_overdue",
        "trigger_config": {"grace_days": 3},
        "item_template": {
            "title": "Unblock onboarding at {account}",
            "checklist": ["Find the blocker", "Book a working session"],
            "due_in_days": 2,
        },
    },
    {
        "name": "Detractor after support",
        "trigger": "survey_below",
        "trigger_config": {"kind": "nps", "threshold": 7, "within_days": 60},
        "item_template": {
            "title": "Follow up the low NPS of {account}",
            "checklist": ["Read the comment", "Call back within 48 h"],
            "due_in_days": 2,
        },
    },
]


class Output(Protocol):
    def write(self, message: str, /) -> object: ...


def _members() -> dict[str, Member]:
    members: dict[str, Member] = {}
    for email, name, role, level in PEOPLE:
        user = User.objects.filter(email=email).first() or User.objects.create_user(
            email, DEMO_PASSWORD, full_name=name
        )
        members[email] = Member.objects.update_or_create(
            user=user, defaults={"role": role, "permission_level": level, "capacity": 15}
        )[0]
    return members


def _plays(squad: Squad, specs: list[dict[str, Any]]) -> None:
    for spec in specs:
        play = plays.play_create(
            data={"squad": squad, "audience": {"squad_accounts_only": True}, **spec}
        )
        plays.play_activate(play=play)


def _work(squad: Squad, people: list[Member]) -> int:
    """Put some of the queue's items in progress: claimed, snoozed, completed, commented."""
    items = list(WorkItem.objects.filter(queue__squad=squad, status="open").order_by("-priority"))
    actors: list[Actor] = [actor_for_user(member.user) for member in people]
    worked = 0
    # At most half of the pool: a new user should also find items waiting to be claimed.
    for index, item in enumerate(items[: min(3 * len(actors), len(items) // 2)]):
        actor = actors[index % len(actors)]
        try:
            services.work_item_claim(actor=actor, item_id=item.pk)
        except Conflict:
            continue  # the policy already filled this member up to their capacity
        step = index % 4
        if step == 1:
            services.work_item_comment(
                actor=actor, item_id=item.pk, body="Left a voicemail; trying email next."
            )
        elif step == 2:
            services.work_item_snooze(
                actor=actor, item_id=item.pk, until=timezone.now() + dt.timedelta(days=2)
            )
        elif step == 3:
            services.work_item_complete(
                actor=actor,
                item_id=item.pk,
                outcome="Call held; next steps agreed",
                effort_minutes=30 + 15 * (index % 3),
            )
        worked += 1
    return worked


@transaction.atomic
def seed_squads_demo(*, stdout: Output) -> None:
    if Squad.objects.exists():
        stdout.write("demo squads: the tenant already has squads; nothing seeded")
        return
    if not Account.objects.exists():
        stdout.write("demo squads: no accounts to work on; nothing seeded")
        return
    members = _members()
    enterprise = services.squad_create(
        data={
            "name": "Enterprise retention",
            "mission": "Keep and grow our larger accounts, from onboarding to renewal.",
            "value_area": "account_based",
            "account_filter": {"segment": ["enterprise", "mid-market"]},
        },
        queue={"assignment_policy": "manual", "sla_hours": 72},
    )
    adoption = services.squad_create(
        data={
            "name": "Product adoption",
            "mission": "Get small customers live and using the product deeply.",
            "value_area": "product_service",
            "account_filter": {"segment": ["smb"]},
        },
        queue={"assignment_policy": "least_loaded", "sla_hours": 48},
    )
    enterprise_team = [
        "maria",
        "sam",
        "lena",
        "tom",
        "aisha",
        "jon",
        "ines",
    ]
    for name in enterprise_team:
        member = members[f"{name}@acme.example"]
        services.squad_member_add(squad=enterprise, member=member, is_lead=name == "maria")
    # No product person: the product_service mission shows a skill gap, and 4 is a small squad.
    for name in ("raj", "kim", "olga", "ben"):
        member = members[f"{name}@acme.example"]
        services.squad_member_add(squad=adoption, member=member, is_lead=name == "raj")
    _plays(enterprise, ENTERPRISE_PLAYS)
    _plays(adoption, ADOPTION_PLAYS)
    runs = plays.plays_run_scheduled()
    created = sum(len(run.created_item_ids) for run in runs)
    worked = _work(enterprise, [members[f"{n}@acme.example"] for n in ("maria", "sam", "ines")])
    worked += _work(adoption, [members[f"{n}@acme.example"] for n in ("raj", "kim")])
    today = timezone.now().date()
    services.cycle_create(
        squad=enterprise,
        data={
            "name": "Cycle 1: renewal prep",
            "goal": "Every renewal due in 60 days has a business review booked",
            "hypothesis": "Reviews booked early lift renewal rates",
            "starts_on": today - dt.timedelta(days=28),
            "ends_on": today - dt.timedelta(days=15),
            "play_changes": "Renewal play due date 14 days instead of 30",
        },
    )
    closed = Cycle.objects.get(squad=enterprise)
    services.cycle_close(cycle=closed, lessons="Start 60 days out; 30 was too late for reviews.")
    services.cycle_create(
        squad=enterprise,
        data={
            "name": "Cycle 2: usage drops",
            "goal": "Reach every account whose usage fell within 3 days",
            "hypothesis": "A call within 3 days of a drop prevents a health fall",
            "starts_on": today - dt.timedelta(days=7),
            "ends_on": today + dt.timedelta(days=6),
            "status": Cycle.Status.ACTIVE,
        },
    )
    stdout.write(
        f"demo squads: 2 squads, {len(members)} members, {created} items from plays, "
        f"{worked} in progress"
    )
