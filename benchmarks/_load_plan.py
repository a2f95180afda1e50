"""The load test's world and its checks, shared by `benchmarks/load.py` and tests/test_load.py.

Django must be set up before this module is imported. `load_world_create` fills a tenant
(accounts, one API key per integrator, squad members with sessions, a queue of open items) and
returns the plan `benchmarks/_load_locust.py` runs; `locust_run` runs it in a child process;
the checks below say, once the load has stopped, what (if anything) was lost, doubled or left
stale, each as a sentence.
"""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.db.models import F, Max, Q
from django.test import Client, override_settings
from django_tenants.utils import schema_context

from apps.accounts.models import Account, UsageEvent
from apps.integrations.services import api_key_create
from apps.squads.models import Member, WorkItem, WorkItemEvent
from apps.squads.services import squad_create, squad_member_add
from fullfield.tenancy.models import Tenant
from fullfield.users.models import User

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def load_world_create(
    tenant: Tenant,
    *,
    users: int,
    seconds: float,
    accounts: int = 500,
    items: int = 3_000,
) -> dict[str, Any]:
    """Data for `users` concurrent clients in `tenant`; the plan for the locust process (the
    caller adds the server's `base_url`). The members' sessions are signed with the plan's
    `secret_key`, which the server must be given."""
    secret_key = secrets.token_urlsafe(50)
    host = f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}"
    with schema_context(tenant.schema_name):
        created = Account.objects.bulk_create(
            Account(external_id=f"load-{n}", name=f"Load {n}") for n in range(accounts)
        )
        keys = [
            api_key_create(name=f"load {n}", scope="read_write", created_by=None)[1]
            for n in range(users)
        ]
        squad = squad_create(data={"name": "Load", "value_area": "account_based"})
        sessions, member_users = [], []
        for n in range(users):
            user = User.objects.create_user(f"member-{n}@load.test", None)
            member = Member.objects.create(user=user, role="success", capacity=30_000)
            squad_member_add(squad=squad, member=member)
            client = Client(HTTP_HOST=host)
            with override_settings(SECRET_KEY=secret_key):
                client.force_login(user)
            sessions.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
            member_users.append(user.pk)
        WorkItem.objects.bulk_create(
            WorkItem(queue=squad.queue, account=created[n % accounts], title=f"Call {n}")
            for n in range(items)
        )
        queue_id = squad.queue.pk
    return {
        "host": host,
        "secret_key": secret_key,
        "users": users,
        "seconds": seconds,
        "api_keys": keys,
        "account_ids": [account.pk for account in created],
        "account_external_ids": [account.external_id for account in created],
        "queue_id": queue_id,
        "member_sessions": sessions,
        "member_user_ids": member_users,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
        "csrf_token": "".join(secrets.choice(string.ascii_letters) for _ in range(32)),
    }


def server_warm_up(plan: Mapping[str, Any]) -> None:
    """One request of each kind before the clock starts: a cold worker process imports and
    connects on its first requests, which would otherwise count as the load's latency."""
    base, host = plan["base_url"], plan["host"]
    with requests.Session() as integrator, requests.Session() as member:
        integrator.headers.update({"Host": host, "Authorization": f"Api-Key {plan['api_keys'][0]}"})
        member.headers.update({"Host": host})
        member.cookies.set(plan["session_cookie"], plan["member_sessions"][0])
        for _ in range(4):  # reaches both worker processes, most likely
            integrator.get(f"{base}/api/v1/accounts/?page_size=50", timeout=120)
            integrator.get(f"{base}/api/v1/accounts/{plan['account_ids'][0]}/", timeout=120)
            integrator.post(f"{base}/api/v1/events/batch/", json={"events": []}, timeout=120)
            member.get(f"{base}/api/v1/work-items/?page_size=1", timeout=120)


def locust_run(plan: Mapping[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the plan in a locust process of its own; its result (see _load_locust)."""
    server_warm_up(plan)
    plan_path, result_path = workdir / "load-plan.json", workdir / "load-result.json"
    plan_path.write_text(json.dumps(plan))
    log_path = workdir / "locust.log"
    with log_path.open("wb") as log:
        finished = subprocess.run(
            [sys.executable, "-m", "benchmarks._load_locust", str(plan_path), str(result_path)],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=float(plan["seconds"]) + 300,
            check=False,
        )
    if finished.returncode:
        raise RuntimeError(f"locust failed:\n{log_path.read_text(errors='replace')[-5000:]}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def load_problems(result: Mapping[str, Any]) -> list[str]:
    """The load ran: requests were answered, events accepted and items claimed."""
    problems = []
    if not result["requests"]:
        problems.append("no request was answered")
    if not result["accepted_events"]:
        problems.append("no event was accepted")
    if not result["claims"]:
        problems.append("no item was claimed")
    return problems


def server_errors(result: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per endpoint, the 5xx answers and the requests that got no answer at all (status 0)."""
    bad: dict[str, dict[str, int]] = {}
    for name, endpoint in result["endpoints"].items():
        codes = {
            code: count
            for code, count in endpoint["statuses"].items()
            if code == "0" or code.startswith("5")
        }
        if codes:
            bad[name] = codes
    return bad


def events_problems(tenant: Tenant, result: Mapping[str, Any]) -> list[str]:
    """Every event answered 202 is stored, once."""
    accepted = set(result["accepted_events"])
    problems = []
    if len(accepted) != len(result["accepted_events"]):
        problems.append("an event id was accepted twice")
    with schema_context(tenant.schema_name):
        stored = Counter(
            UsageEvent.objects.filter(idempotency_key__startswith="load-").values_list(
                "idempotency_key", flat=True
            )
        )
    if missing := accepted - set(stored):
        problems.append(f"{len(missing)} accepted events not stored, e.g. {sorted(missing)[:3]}")
    if doubled := [key for key, count in stored.items() if count > 1]:
        problems.append(f"{len(doubled)} events stored more than once, e.g. {doubled[:3]}")
    return problems


def stale_scores(tenant: Tenant) -> list[str]:
    """Accounts still marked for rescoring, or scored before their last event arrived."""
    with schema_context(tenant.schema_name):
        marked = Account.objects.filter(rescore_requested_at__isnull=False).count()
        stale = (
            Account.objects.annotate(last_event=Max("usage_events__received_at"))
            .filter(last_event__isnull=False)
            .filter(Q(health_as_of__isnull=True) | Q(health_as_of__lt=F("last_event")))
            .count()
        )
    problems = []
    if marked:
        problems.append(f"{marked} accounts still marked for rescoring")
    if stale:
        problems.append(f"{stale} accounts scored before their last event")
    return problems


def claims_problems(
    tenant: Tenant, plan: Mapping[str, Any], result: Mapping[str, Any]
) -> list[str]:
    """Every claimed item was claimed by exactly one member: the one the API answered."""
    claims: list[tuple[int, int]] = [(item, member) for item, member in result["claims"]]
    problems = []
    handed_out = Counter(item for item, _ in claims)
    if twice := [item for item, count in handed_out.items() if count > 1]:
        problems.append(f"{len(twice)} items handed to two claimers, e.g. {twice[:3]}")
    users: list[int] = plan["member_user_ids"]
    with schema_context(tenant.schema_name):
        claimed_events = list(
            WorkItemEvent.objects.filter(kind=WorkItemEvent.Kind.CLAIMED).values_list(
                "item_id", "actor_id"
            )
        )
        holders = dict(
            WorkItem.objects.filter(pk__in=[item for item, _ in claims]).values_list(
                "pk", "assignee__user_id"
            )
        )
    per_item = Counter(item for item, _ in claimed_events)
    if repeated := [item for item, count in per_item.items() if count > 1]:
        problems.append(f"{len(repeated)} items with more than one claim, e.g. {repeated[:3]}")
    actors = dict(claimed_events)
    wrong = [
        item
        for item, member in claims
        if actors.get(item) != users[member] or holders.get(item) != users[member]
    ]
    if wrong:
        problems.append(f"{len(wrong)} items held by another member than their claimer")
    return problems
