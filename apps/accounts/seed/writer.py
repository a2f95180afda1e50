"""Writes a generated tenant into the current schema with COPY, a chunk of accounts at a time.

Ids of accounts, contacts and onboarding plans are reserved from their sequences up front, so
every row (children included) goes in through COPY without a round trip per row, and memory
stays bounded by the chunk size. Everything happens in one transaction: a failed seed leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time as clock
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import orjson
from django.db import connection, models, transaction
from django.utils import timezone
from psycopg import sql

from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    Touchpoint,
    UsageDay,
    UsageEvent,
)
from apps.accounts.seed.generator import AccountPlan, SeedConfig, iter_account_plans
from apps.accounts.services.revenue import accounts_revenue_refresh
from apps.accounts.services.usage import usage_rollup_rebuild
from fullfield.errors import Conflict
from fullfield.tenancy.context import current_schema
from fullfield.tenancy.models import Tenant
from fullfield.users.models import User

DEFAULT_CHUNK_ACCOUNTS = 250
SEEDED_MODELS: tuple[type[models.Model], ...] = (
    Account,
    Contact,
    Lead,
    Opportunity,
    OnboardingPlan,
    Milestone,
    Subscription,
    UsageEvent,
    Ticket,
    SurveyResponse,
    Touchpoint,
)


@dataclass
class SeedResult:
    config: SeedConfig
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        counts = ", ".join(f"{count:,} {name}" for name, count in self.rows.items())
        return f"{counts} in {self.seconds:.1f}s"


def tenant_currency() -> str:
    """The current tenant's currency (schema_context() alone leaves no full Tenant object)."""
    currency = (
        Tenant.objects.filter(schema_name=current_schema())
        .values_list("currency", flat=True)
        .first()
    )
    return currency or "USD"


def tenant_seed(
    *,
    anchor: date,
    accounts: int = 2000,
    months: int = 18,
    seed: int = 1,
    usage_scale: float = 1.0,
    chunk_accounts: int = DEFAULT_CHUNK_ACCOUNTS,
) -> SeedResult:
    """Fill the current tenant, which must have no accounts yet, with a generated history.

    Raises Conflict when the tenant already has accounts (seeding never duplicates) and
    DomainError naming the parameter when a size is out of range.
    """
    config = SeedConfig(
        anchor=anchor,
        accounts=accounts,
        months=months,
        seed=seed,
        currency=tenant_currency(),
        usage_scale=usage_scale,
    )
    started = clock.perf_counter()
    result = SeedResult(config=config)
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        # Two seeders racing on one tenant: the second waits here, then sees the accounts.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fullfield.seed.{current_schema()}"]
        )
        if Account.objects.exists():
            raise Conflict(
                "The tenant already has accounts; seeding fills an empty tenant only.",
                fields={"tenant": ["Already has accounts."]},
            )
        writer = _Writer(cursor, config)
        for chunk in _prefetched(_chunks(iter_account_plans(config), chunk_accounts)):
            writer.write(chunk)
        # Seeded events are copied straight into the table; their rollup is built once at the end.
        writer.rows[str(UsageDay._meta.verbose_name_plural)] = usage_rollup_rebuild()
        # Terms are copied straight in too: each account's MRR and next renewal follow once.
        accounts_revenue_refresh()
        analysed: tuple[type[models.Model], ...] = (*SEEDED_MODELS, UsageDay)
        for model in analysed:
            cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(model._meta.db_table)))
        result.rows = writer.rows
    result.seconds = clock.perf_counter() - started
    return result


def _chunks(plans: Iterator[AccountPlan], size: int) -> Iterator[list[AccountPlan]]:
    chunk: list[AccountPlan] = []
    for plan in plans:
        chunk.append(plan)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_DONE = object()


def _prefetched(chunks: Iterator[list[AccountPlan]], depth: int = 2) -> Iterator[list[AccountPlan]]:
    """Generate the next chunks in a thread while the database ingests the current one.

    PostgreSQL's index and foreign-key work on a COPY is about as long as generating the rows;
    psycopg releases the GIL while it waits for the server, so the two overlap. At most `depth`
    chunks wait in memory.
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                handoff.put(chunk)
            handoff.put(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            handoff.put(error)

    producer = threading.Thread(target=produce, name="seed-generator", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield cast(list[AccountPlan], item)
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue so it can see `stop` and end.
        while producer.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)
        producer.join()


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field.column


class _Writer:
    def __init__(self, cursor: Any, config: SeedConfig) -> None:
        self.cursor = cursor
        self.config = config
        self.now = timezone.now()
        self.rows = {str(model._meta.verbose_name_plural): 0 for model in SEEDED_MODELS}
        self.owners = list(
            User.objects.filter(is_active=True).order_by("id").values_list("id", flat=True)
        )
        self.account_ids = self.allocate_ids(Account, config.accounts)

    def allocate_ids(self, model: type[models.Model], count: int) -> list[int]:
        if count == 0:
            return []
        self.cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return [row[0] for row in self.cursor.fetchall()]

    def copy(
        self, model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[object]]
    ) -> None:
        columns: list[sql.Composable] = [sql.Identifier(_column(model, name)) for name in fields]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(model._meta.db_table), sql.SQL(", ").join(columns)
        )
        count = 0
        with self.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        self.rows[str(model._meta.verbose_name_plural)] += count

    def owner(self, plan: AccountPlan) -> int | None:
        if not self.owners:
            return None
        return self.owners[plan.account.owner_slot % len(self.owners)]

    def write(self, plans: list[AccountPlan]) -> None:
        now, currency = self.now, self.config.currency
        account_ids = self.account_ids
        contact_ids = iter(self.allocate_ids(Contact, sum(len(p.contacts) for p in plans)))
        plan_ids = iter(
            self.allocate_ids(OnboardingPlan, sum(len(p.onboarding_plans) for p in plans))
        )
        # Per account: its contacts' ids by position, and its onboarding plans' ids.
        contacts_of = {p.index: [next(contact_ids) for _ in p.contacts] for p in plans}
        plans_of = {p.index: [next(plan_ids) for _ in p.onboarding_plans] for p in plans}

        def contact(plan: AccountPlan, position: int | None) -> int | None:
            return None if position is None else contacts_of[plan.index][position]

        self.copy(
            Account,
            (
                "id", "created_at", "updated_at", "source_system", "external_id", "name",
                "domain", "industry", "region", "segment", "tier", "lifecycle_stage", "owner",
                "parent", "currency", "attributes", "rescore_requested_at",
            ),
            (
                (
                    account_ids[p.index], now, now, "crm", a.external_id, a.name, a.domain,
                    a.industry, a.region, a.segment, a.tier, a.lifecycle_stage, self.owner(p),
                    None if a.parent_index is None else account_ids[a.parent_index], currency,
                    orjson.dumps(a.attributes).decode(), now,
                )
                for p in plans
                for a in (p.account,)
            ),
        )  # fmt: skip
        self.copy(
            Contact,
            (
                "id", "created_at", "updated_at", "source_system", "external_id", "account",
                "email", "name", "title", "persona", "is_champion",
            ),
            (
                (
                    contacts_of[p.index][position], now, now, "crm", c.external_id,
                    account_ids[p.index], c.email, c.name, c.title, c.persona, c.is_champion,
                )
                for p in plans
                for position, c in enumerate(p.contacts)
            ),
        )  # fmt: skip
        self.copy(
            Lead,
            (
                "created_at", "updated_at", "source_system", "external_id", "email", "name",
                "company", "lead_source", "campaign", "status", "converted_account",
                "converted_at",
            ),
            (
                (
                    lead.created_at, now, "crm", lead.external_id, lead.email, lead.name,
                    lead.company,
                    lead.lead_source, lead.campaign, lead.status,
                    None if lead.converted_at is None else account_ids[p.index],
                    lead.converted_at,
                )
                for p in plans
                for lead in p.leads
            ),
        )  # fmt: skip
        self.copy(
            Opportunity,
            (
                "created_at", "updated_at", "source_system", "external_id", "account", "name",
                "kind", "stage", "status", "amount", "currency", "close_date", "loss_reason",
            ),
            (
                (
                    now, now, "crm", o.external_id, account_ids[p.index], o.name, o.kind,
                    o.stage, o.status, o.amount, currency, o.close_date, o.loss_reason,
                )
                for p in plans
                for o in p.opportunities
            ),
        )  # fmt: skip
        self.copy(
            OnboardingPlan,
            (
                "id", "created_at", "updated_at", "account", "name", "started_on",
                "target_live_on", "completed_on",
            ),
            (
                (
                    plans_of[p.index][position], now, now, account_ids[p.index], o.name,
                    o.started_on, o.target_live_on, o.completed_on,
                )
                for p in plans
                for position, o in enumerate(p.onboarding_plans)
            ),
        )  # fmt: skip
        self.copy(
            Milestone,
            ("created_at", "updated_at", "plan", "name", "position", "due_on", "completed_on"),
            (
                (
                    now, now, plans_of[p.index][position], m.name, m.position, m.due_on,
                    m.completed_on,
                )
                for p in plans
                for position, o in enumerate(p.onboarding_plans)
                for m in o.milestones
            ),
        )  # fmt: skip
        self.copy(
            Subscription,
            (
                "created_at", "updated_at", "source_system", "external_id", "account", "plan",
                "mrr", "quantity", "currency", "period_start", "period_end", "status",
                "change_kind",
            ),
            (
                (
                    now, now, "billing", s.external_id, account_ids[p.index], s.plan, s.mrr,
                    s.quantity, currency, s.period_start, s.period_end, s.status, s.change_kind,
                )
                for p in plans
                for s in p.subscriptions
            ),
        )  # fmt: skip
        self.copy(
            Ticket,
            (
                "created_at", "updated_at", "source_system", "external_id", "account",
                "contact", "subject", "priority", "status", "opened_at", "first_response_at",
                "closed_at",
            ),
            (
                (
                    now, now, "helpdesk", t.external_id, account_ids[p.index],
                    contact(p, t.contact), t.subject, t.priority, t.status, t.opened_at,
                    t.first_response_at, t.closed_at,
                )
                for p in plans
                for t in p.tickets
            ),
        )  # fmt: skip
        self.copy(
            SurveyResponse,
            (
                "created_at", "updated_at", "source_system", "external_id", "account",
                "contact", "kind", "score", "moment", "comment", "responded_at",
            ),
            (
                (
                    now, now, "surveys", s.external_id, account_ids[p.index],
                    contact(p, s.contact), s.kind, s.score, s.moment, s.comment, s.responded_at,
                )
                for p in plans
                for s in p.surveys
            ),
        )  # fmt: skip
        self.copy(
            Touchpoint,
            (
                "created_at", "updated_at", "source_system", "external_id", "account",
                "contact", "kind", "occurred_at", "author", "effort_minutes", "notes",
            ),
            (
                (
                    now, now, "crm", t.external_id, account_ids[p.index], contact(p, t.contact),
                    t.kind, t.occurred_at, self.owner(p), t.effort_minutes, t.notes,
                )
                for p in plans
                for t in p.touchpoints
            ),
        )  # fmt: skip
        self.copy(
            UsageEvent,
            (
                "account", "contact", "name", "occurred_at", "value", "properties",
                "idempotency_key", "received_at",
            ),
            self.usage_rows(plans, contacts_of, now),
        )  # fmt: skip

    def usage_rows(
        self, plans: list[AccountPlan], contacts_of: dict[int, list[int]], now: datetime
    ) -> Iterator[tuple[object, ...]]:
        for plan in plans:
            account_id = self.account_ids[plan.index]
            contact_ids = contacts_of[plan.index]
            for position, name, occurred_at, value, properties, key in plan.usage:
                contact_id = None if position is None else contact_ids[position]
                yield (account_id, contact_id, name, occurred_at, value, properties, key, now)
