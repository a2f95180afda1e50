from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction

from apps.accounts.models import UsageDay
from apps.accounts.services import account_delete
from apps.accounts.services.usage import (
    UsageEventsStored,
    usage_event_record,
    usage_events_store,
    usage_rollup_rebuild,
)
from apps.accounts.tests.factories import AccountFactory, UsageEventFactory
from apps.accounts.tests.rollup import assert_rollup_matches_events

pytestmark = pytest.mark.usefixtures("tenant_a")


def _rollup() -> set[tuple[int, dt.date, str, int, float]]:
    return set(
        UsageDay.objects.values_list("account_id", "day", "name", "event_count", "value_sum")
    )


def test_the_rollup_counts_and_sums_events_per_account_utc_day_and_name() -> None:
    account, other = AccountFactory.create(), AccountFactory.create()
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))  # 2nd UTC
    for when, name, value in [
        (dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC), "login", 1.0),
        (dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), "login", 1.0),
        (dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), "export", 5.5),
        (late, "login", 2.0),
    ]:
        UsageEventFactory.create(account=account, occurred_at=when, name=name, value=value)
    UsageEventFactory.create(account=other, occurred_at=late, name="login", value=1.0)

    assert usage_rollup_rebuild() == 4
    assert _rollup() == {
        (account.id, dt.date(2026, 3, 1), "login", 2, 2.0),
        (account.id, dt.date(2026, 3, 1), "export", 1, 5.5),
        (account.id, dt.date(2026, 3, 2), "login", 1, 2.0),
        (other.id, dt.date(2026, 3, 2), "login", 1, 1.0),
    }


def test_rebuilding_some_accounts_replaces_only_their_rows() -> None:
    account, other = AccountFactory.create(), AccountFactory.create()
    day = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    UsageEventFactory.create(account=account, occurred_at=day, name="login")
    UsageEventFactory.create(account=other, occurred_at=day, name="login")
    UsageDay.objects.create(
        account=account, day=day.date(), name="stale", event_count=9, value_sum=9
    )
    UsageDay.objects.create(account=other, day=day.date(), name="kept", event_count=3, value_sum=3)

    usage_rollup_rebuild(account_ids=[account.id])

    assert _rollup() == {
        (account.id, dt.date(2026, 3, 1), "login", 1, 1.0),
        (other.id, dt.date(2026, 3, 1), "kept", 3, 3.0),
    }


@dataclass(frozen=True)
class Event:
    id: str
    account_external_id: str | None
    name: str
    occurred_at: dt.datetime
    value: float = 1.0
    contact_external_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


DAY = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def _store(*events: Event) -> UsageEventsStored:
    with transaction.atomic():
        return usage_events_store(
            events=events, positions=list(range(len(events))), source_system="crm"
        )


def test_storing_events_adds_exactly_the_inserted_ones_to_the_rollup() -> None:
    account = AccountFactory.create(source_system="crm", external_id="acc-1")
    _store(
        Event("e1", "acc-1", "login", DAY),
        Event("e2", "acc-1", "login", DAY + dt.timedelta(hours=1), value=2.5),
        Event("e3", "acc-1", "export", DAY + dt.timedelta(days=1)),
    )
    again = _store(
        Event("e1", "acc-1", "login", DAY),  # a duplicate: adds nothing
        Event("e4", "acc-1", "login", DAY),
    )

    assert (again.accepted, again.duplicates) == (1, 1)
    assert assert_rollup_matches_events() == {
        (account.id, dt.date(2026, 3, 1), "login", 3, 4.5),
        (account.id, dt.date(2026, 3, 2), "export", 1, 1.0),
    }


def test_a_batch_whose_stored_id_comes_after_new_ones_stores_each_new_event_once() -> None:
    # The batch is written in id order: e1 and e2 are new, e3 is stored already, so the single
    # COPY of the common case writes e1 and e2 before it meets e3, and must leave no trace.
    account = AccountFactory.create(source_system="crm", external_id="acc-1")
    _store(Event("e3", "acc-1", "login", DAY))
    again = _store(
        Event("e3", "acc-1", "login", DAY),
        Event("e2", "acc-1", "login", DAY, value=2.0),
        Event("e1", "acc-1", "export", DAY),
    )

    assert (again.accepted, again.duplicates, again.conflicts) == (2, 1, [])
    assert assert_rollup_matches_events() == {
        (account.id, dt.date(2026, 3, 1), "login", 2, 3.0),
        (account.id, dt.date(2026, 3, 1), "export", 1, 1.0),
    }


def test_an_id_stored_before_with_another_body_is_a_conflict_that_adds_nothing() -> None:
    account = AccountFactory.create(source_system="crm", external_id="acc-1")
    _store(Event("e1", "acc-1", "login", DAY, properties={"a": 1, "b": 2}))

    again = _store(
        Event("e1", "acc-1", "login", DAY, properties={"b": 2, "a": 1}),  # same content
        Event("e1", "acc-1", "login", DAY, value=5.0),
    )

    assert (again.accepted, again.duplicates, again.conflicts) == (0, 1, [1])
    assert assert_rollup_matches_events() == {(account.id, dt.date(2026, 3, 1), "login", 1, 1.0)}


def test_the_accounts_and_contacts_created_for_unknown_ids_are_reported() -> None:
    AccountFactory.create(source_system="crm", external_id="acc-1")
    AccountFactory.create(source_system="api", external_id="acc-2")  # another source system

    stored = _store(
        Event("e1", "acc-1", "login", DAY, contact_external_id="u-1"),
        Event("e2", "acc-2", "login", DAY),
        Event("e3", "acc-2", "login", DAY),
    )

    assert stored.accounts_created == ["acc-2"]
    assert stored.contacts_created == ["u-1"]
    assert stored.accepted == 3
    again = _store(Event("e4", "acc-2", "login", DAY, contact_external_id="u-1"))
    assert (again.accounts_created, again.contacts_created) == ([], [])


def test_the_rest_create_updates_the_rollup_once_per_idempotency_key() -> None:
    account = AccountFactory.create()
    data = {"account": account, "name": "export", "occurred_at": DAY, "value": 3.0}

    _, created = usage_event_record(data={**data, "idempotency_key": "k1"})
    _, again = usage_event_record(data={**data, "idempotency_key": "k1"})
    usage_event_record(data=data)  # a generated key: a new event

    assert (created, again) == (True, False)
    assert assert_rollup_matches_events() == {(account.id, dt.date(2026, 3, 1), "export", 2, 6.0)}


def test_deleting_an_account_deletes_its_rollup_with_its_events() -> None:
    account = AccountFactory.create(source_system="crm", external_id="acc-1")
    _store(Event("e1", "acc-1", "login", DAY))
    account_delete(account=account)
    assert assert_rollup_matches_events() == set()
