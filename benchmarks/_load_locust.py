"""The load of `benchmarks/load.py` and `tests/test_load.py`: locust as a library, headless.

    python -m benchmarks._load_locust PLAN.json RESULT.json

Run as a process of its own because locust patches the standard library for gevent when it is
imported; this module imports neither Django nor the project. The plan (written by the caller,
which prepared the tenant) names the server, the tenant's host, one API key per integrator,
one session per squad member, the accounts and the queue; the result holds, per endpoint, the
requests, requests/s, p50 and p95 and the status codes seen, and what the server accepted: the
ids of every event answered 202 and every (work item, member) claim answered 200.

Two kinds of users, mixed 3:1:
- an integrator (API key): posts batches of 10 events for random accounts, lists accounts
  (page of 50), reads one account;
- a squad member (session): claims the next item of the squad's queue, reads it, completes it.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

EVENTS_PER_BATCH = 10

_plan: dict[str, Any] = {}
_accepted_events: list[str] = []
_claims: list[tuple[int, int]] = []
_statuses: dict[str, Counter[int]] = defaultdict(Counter)
_errors: list[str] = []
_integrators = itertools.count()
_members = itertools.count()


@events.request.add_listener
def _record(name: str, response: Any, exception: BaseException | None, **_: Any) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    _statuses[name][status] += 1
    if exception is not None and not status and len(_errors) < 20:
        _errors.append(f"{name}: {exception!r}")


class Integrator(HttpUser):
    weight = 3
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        number = next(_integrators)
        keys: list[str] = _plan["api_keys"]
        self.number = number
        self.sequence = itertools.count()
        self.client.headers.update(
            {"Host": _plan["host"], "Authorization": f"Api-Key {keys[number % len(keys)]}"}
        )

    @task(3)
    def ingest(self) -> None:
        batch = next(self.sequence)
        ids = [f"load-{self.number}-{batch}-{n}" for n in range(EVENTS_PER_BATCH)]
        now = datetime.now(UTC).isoformat()
        body = {
            "events": [
                {
                    "id": key,
                    "account_external_id": random.choice(_plan["account_external_ids"]),
                    "name": random.choice(("login", "report.exported", "dashboard.viewed")),
                    "occurred_at": now,
                }
                for key in ids
            ]
        }
        with self.client.post(
            "/api/v1/events/batch/", json=body, name="POST events/batch", catch_response=True
        ) as response:
            if response.status_code == 202:
                _accepted_events.extend(ids)
                response.success()

    @task(2)
    def accounts_list(self) -> None:
        self.client.get("/api/v1/accounts/?page_size=50", name="GET accounts (page of 50)")

    @task(2)
    def account_detail(self) -> None:
        account = random.choice(_plan["account_ids"])
        self.client.get(f"/api/v1/accounts/{account}/", name="GET accounts/{id}")


class SquadMember(HttpUser):
    weight = 1
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        sessions: list[str] = _plan["member_sessions"]
        self.number = next(_members) % len(sessions)
        csrf = _plan["csrf_token"]
        self.client.headers.update({"Host": _plan["host"], "X-CSRFToken": csrf})
        self.client.cookies.set(_plan["session_cookie"], sessions[self.number])
        self.client.cookies.set(_plan["csrf_cookie"], csrf)

    @task
    def work_the_queue(self) -> None:
        with self.client.post(
            f"/api/v1/queues/{_plan['queue_id']}/claim-next/",
            name="POST queues/{id}/claim-next",
            catch_response=True,
        ) as response:
            if response.status_code == 204:  # the pool is empty: not a failure
                response.success()
                return
            if response.status_code != 200:
                return
            item = int(response.json()["id"])
            _claims.append((item, self.number))
        self.client.get(f"/api/v1/work-items/{item}/", name="GET work-items/{id}")
        self.client.post(
            f"/api/v1/work-items/{item}/complete/",
            json={"outcome": "Called, all well", "effort_minutes": 5},
            name="POST work-items/{id}/complete",
        )


def run(plan: dict[str, Any]) -> dict[str, Any]:
    _plan.update(plan)
    env = Environment(user_classes=[Integrator, SquadMember], host=plan["base_url"], events=events)
    runner = env.create_local_runner()
    users = int(plan["users"])
    started = time.monotonic()
    runner.start(users, spawn_rate=max(1.0, users / 2))
    runner.greenlet.join(timeout=float(plan["seconds"]))  # the users run meanwhile
    runner.quit()
    runner.greenlet.join()
    elapsed = time.monotonic() - started
    endpoints = {}
    for (name, _method), entry in sorted(env.stats.entries.items()):
        endpoints[name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "per_second": entry.num_requests / elapsed,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "statuses": {str(code): count for code, count in sorted(_statuses[name].items())},
        }
    total = env.stats.total
    return {
        "seconds": elapsed,
        "users": users,
        "requests": total.num_requests,
        "per_second": total.num_requests / elapsed,
        "endpoints": endpoints,
        "accepted_events": _accepted_events,
        "claims": _claims,
        "errors": _errors,
    }


def main() -> None:
    plan_path, result_path = map(Path, sys.argv[1:3])
    result = run(json.loads(plan_path.read_text()))
    result_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
