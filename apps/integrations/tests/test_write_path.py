"""Integrations never write account tables themselves: every write goes through accounts services.

Two proofs. Statically, no integrations module calls a writing method on an accounts model's
manager or query set, or holds SQL that writes a table named after one. At run time, every
INSERT, UPDATE or DELETE of an accounts table issued while the batch API, Segment, Stripe and
a CSV import do their work is traced to the innermost project frame that issued it, which must
be in apps/accounts.
"""

from __future__ import annotations

import ast
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.apps import apps as django_apps
from django.db import connection

from apps.integrations.stripe.services import stripe_connection_set
from apps.integrations.tests.test_imports import run_import, upload
from apps.integrations.tests.test_ingest import event
from apps.integrations.tests.test_ingest import post as post_batch
from apps.integrations.tests.test_segment import basic, call, track
from apps.integrations.tests.test_stripe import (
    SECRET,
    at,
    customer,
    invoice,
    post_signed,
    price_item,
    stripe_event,
    subscription,
)
from fullfield.tenancy.models import Tenant
from tests.fixtures import TenantClient, World

ROOT = Path(__file__).resolve().parents[3]
INTEGRATIONS = ROOT / "apps" / "integrations"
ACCOUNT_MODELS = {model.__name__ for model in django_apps.get_app_config("accounts").get_models()}
ACCOUNT_TABLES = {
    model._meta.db_table for model in django_apps.get_app_config("accounts").get_models()
}
WRITE_METHODS = {
    "create",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
    "update",
    "delete",
}
WRITE_SQL = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|COPY)\b", re.IGNORECASE)


def _modules() -> Iterator[Path]:
    for path in sorted(INTEGRATIONS.rglob("*.py")):
        parts = path.relative_to(INTEGRATIONS).parts
        if parts[0] not in {"tests", "migrations"}:
            yield path


def _chain_root(node: ast.AST) -> str | None:
    """`Account` for `Account.objects.filter(...).update`, else None."""
    while True:
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def _static_writes(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITE_METHODS
            and _chain_root(node.func) in ACCOUNT_MODELS
        ):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}")
        if isinstance(node, ast.JoinedStr):
            text = ast.unparse(node)
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if WRITE_SQL.search(text) and names & ACCOUNT_MODELS:
                found.append(f"{path.name}:{node.lineno} SQL writing {sorted(names)}")
    return found


def test_no_integrations_module_writes_an_account_model_itself() -> None:
    found = [write for path in _modules() for write in _static_writes(path)]
    assert found == []


def test_the_static_check_sees_a_direct_write(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "def f(): Account.objects.filter(pk=1).update(name='x')\n"
        "def g(c): c.execute(f'DELETE FROM {UsageDay._meta.db_table}')\n"
    )
    assert len(_static_writes(module)) == 2


@contextmanager
def writers_of_account_tables() -> Iterator[list[str]]:
    """Record, for each statement writing an accounts table, the project file that issued it."""
    writers: list[str] = []
    tables = re.compile("|".join(sorted(ACCOUNT_TABLES, key=len, reverse=True)))

    def wrapper(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        head = sql.lstrip()[:2000]
        if WRITE_SQL.search(head) and tables.search(head) and not head.upper().startswith("SELECT"):
            project = [
                frame.filename
                for frame in traceback.extract_stack()
                if frame.filename.startswith(str(ROOT / "apps")) and "/tests/" not in frame.filename
            ]
            writers.append(str(Path(project[-1]).relative_to(ROOT)) if project else "?")
        return execute(sql, *args)

    with connection.execute_wrapper(wrapper):
        yield writers


def test_every_account_table_write_of_the_integrations_comes_from_accounts_services(
    api_a: TenantClient,
    world: World,
    make_api_key: Callable[..., str],
    tenant_a: Tenant,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    stripe_connection_set(endpoint_secret=SECRET, tolerance_seconds=300)
    segment = TenantClient(world.tenant_a)
    segment.credentials(HTTP_AUTHORIZATION=basic(make_api_key(world.tenant_a)))
    accounts_csv = "external_id,name\nacc-1,Acme\nacc-2,Beta\n"
    events_csv = "id,account_external_id,name,occurred_at\ne1,acc-1,login,2024-05-01T12:00:00Z\n"

    with writers_of_account_tables() as writers:
        post_batch(api_a, {"events": [event(0, account_external_id="new-co")]})
        call(segment, "identify", {"userId": "u-1", "traits": {"company": {"id": "g-1"}}})
        call(segment, "group", {"userId": "u-1", "groupId": "g-1", "traits": {"name": "G"}})
        call(segment, "track", track("m-9"))
        for kind, obj, day in [
            ("customer.created", customer(), 0),
            ("customer.subscription.created", subscription(items=[price_item(5000)]), 0),
            ("customer.subscription.updated", subscription(items=[price_item(9000)]), 3),
            ("invoice.payment_failed", invoice(), 4),
            (
                "customer.subscription.deleted",
                subscription(items=[price_item(9000)], status="canceled", ended_at=at(9)),
                9,
            ),
        ]:
            assert post_signed(api_a, stripe_event(kind, obj, created=at(day))).status_code < 300
        run_import(upload(api_a, accounts_csv, entity="accounts"))
        run_import(upload(api_a, events_csv, entity="events"))

    assert writers, "the scenario wrote no account table at all"
    assert {writer for writer in writers if not writer.startswith("apps/accounts/")} == set()
