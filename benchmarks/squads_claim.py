"""Claim throughput: 20 members pulling from one squad queue at once.

Side by side in one run, on the same queue shape:
- claim-next: `SELECT ... FOR UPDATE SKIP LOCKED` picks the most valuable open item no one else
  holds (the service behind POST /queues/{id}/claim-next/);
- pick-then-claim: read the most valuable open item, then the conditional-UPDATE claim of
  POST /work-items/{id}/claim/; a lost race is a 409 and the claimer tries again.

Each thread has its own database connection. Printed: items/s for each, the 409s the second
one met, and a check that no item was claimed twice; the table row is claim-next against
pick-then-claim (goal: no slower).

fullfield benchmark squads_claim        (BENCH_ITEMS, BENCH_CLAIMERS to change the size)
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from apps.accounts.models import Account  # noqa: E402
from apps.squads.access import Actor, actor_for_user  # noqa: E402
from apps.squads.models import Member, Queue, WorkItem, WorkItemEvent  # noqa: E402
from apps.squads.services import (  # noqa: E402
    squad_create,
    squad_member_add,
    work_item_claim,
    work_item_claim_next,
)
from benchmarks._report import report_row  # noqa: E402
from fullfield.errors import Conflict  # noqa: E402
from fullfield.tenancy.context import use_public_schema, use_tenant  # noqa: E402
from fullfield.tenancy.models import Tenant  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402
from fullfield.users.models import User  # noqa: E402

ITEMS = int(os.environ.get("BENCH_ITEMS", "500"))
CLAIMERS = int(os.environ.get("BENCH_CLAIMERS", "20"))


def fill_queue(name: str) -> tuple[Queue, list[Member]]:
    squad = squad_create(data={"name": name, "value_area": "account_based"})
    members = []
    for number in range(CLAIMERS):
        user = User.objects.create_user(f"{name}-{number}@bench.test", None)
        member = Member.objects.create(user=user, role="success", capacity=30_000)
        squad_member_add(squad=squad, member=member)
        members.append(member)
    account = Account.objects.create(name=f"{name} account")
    WorkItem.objects.bulk_create(
        WorkItem(queue=squad.queue, account=account, title=f"Item {n}", priority=n % 97)
        for n in range(ITEMS)
    )
    return squad.queue, members


def claim_next(actor: Actor, queue: Queue, conflicts: list[int]) -> int:
    claimed = 0
    while work_item_claim_next(actor=actor, queue=queue) is not None:
        claimed += 1
    return claimed


def pick_then_claim(actor: Actor, queue: Queue, conflicts: list[int]) -> int:
    claimed = 0
    while True:
        item_id = (
            WorkItem.objects.filter(queue=queue, status="open")
            .order_by("-priority", "id")
            .values_list("pk", flat=True)
            .first()
        )
        if item_id is None:
            return claimed
        try:
            work_item_claim(actor=actor, item_id=item_id)
            claimed += 1
        except Conflict:
            conflicts.append(item_id)


def race(
    tenant: Tenant, queue: Queue, members: list[Member], claim: Callable[..., int]
) -> tuple[float, int, int]:
    barrier = threading.Barrier(len(members) + 1)
    counts: list[int] = []
    conflicts: list[int] = []
    lock = threading.Lock()

    def claimer(member: Member) -> None:
        use_tenant(tenant)
        actor = actor_for_user(member.user)
        barrier.wait()
        done = claim(actor, queue, conflicts)
        with lock:
            counts.append(done)
        connection.close()

    threads = [threading.Thread(target=claimer, args=(member,)) for member in members]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return elapsed, sum(counts), len(conflicts)


def check_no_double_claims(queue: Queue) -> None:
    items = WorkItem.objects.filter(queue=queue)
    unclaimed = items.exclude(status="claimed").count()
    twice = (
        WorkItemEvent.objects.filter(item__queue=queue, kind="claimed")
        .values("item_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    assert unclaimed == 0, f"{unclaimed} items left unclaimed"
    assert twice == 0, f"{twice} items claimed twice"


def main() -> None:
    slug = f"bench{uuid.uuid4().hex[:8]}"
    tenant = tenant_create(
        slug=slug, name="Claim benchmark", admin_email=f"admin@{slug}.test"
    ).tenant
    try:
        use_tenant(tenant)
        results = {}
        for name, claim in (("claim-next", claim_next), ("pick-then-claim", pick_then_claim)):
            queue, members = fill_queue(name)
            elapsed, claimed, conflicts = race(tenant, queue, members, claim)
            assert claimed == ITEMS, f"{name}: {claimed} claims for {ITEMS} items"
            check_no_double_claims(queue)
            results[name] = (ITEMS / elapsed, conflicts)
        print(f"squads claim: {ITEMS} items, {CLAIMERS} concurrent claimers on one queue")
        for name, (rate, conflicts) in results.items():
            print(f"  {name:16} {rate:8.0f} items/s   409s met: {conflicts}")
        ratio = results["claim-next"][0] / results["pick-then-claim"][0]
        print(f"  claim-next / pick-then-claim: {ratio:.2f}x; no item claimed twice")
        report_row(
            workload=f"squad queue claims, {CLAIMERS} concurrent members",
            ours=results["claim-next"][0],
            unit="items/s",
            reference=results["pick-then-claim"][0],
            reference_name="pick then conditional claim",
            goal=1.0,
            note=f"{ITEMS} items, none claimed twice; 409s met by the reference: "
            f"{results['pick-then-claim'][1]}",
        )
    finally:
        use_public_schema()
        tenant_delete(slug=slug)


if __name__ == "__main__":
    main()
