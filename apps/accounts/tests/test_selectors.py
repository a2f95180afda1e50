from __future__ import annotations

import datetime as dt

import pytest

from apps.accounts import selectors
from apps.accounts.models import Account
from apps.accounts.tests.factories import AccountFactory, TicketFactory
from fullfield.errors import NotFound

pytestmark = pytest.mark.usefixtures("tenant_a")


def test_a_full_last_page_has_no_next_page() -> None:
    account = AccountFactory.create()
    for day in (1, 2, 3, 4):
        TicketFactory.create(account=account, opened_at=dt.datetime(2025, 1, day, tzinfo=dt.UTC))
    first = selectors.account_timeline(account_id=account.id, page_size=2)
    assert first.next is not None
    second = selectors.account_timeline(account_id=account.id, page_size=2, after=first.next)
    assert [entry.at.day for entry in first.entries + second.entries] == [4, 3, 2, 1]
    assert second.next is None


def test_a_cursor_survives_its_round_trip_through_text() -> None:
    position = selectors.TimelinePosition(dt.datetime(2025, 1, 2, 3, 4, 5, 6, dt.UTC), "ticket", 9)
    assert selectors.TimelinePosition.decode(position.encode()) == position


def test_the_timeline_of_a_missing_account_is_not_found() -> None:
    with pytest.raises(NotFound):
        selectors.account_timeline(account_id=123456789, page_size=10)


def test_ancestors_are_the_whole_chain_and_stop_even_on_a_stored_loop() -> None:
    top = AccountFactory.create()
    middle = AccountFactory.create(parent=top)
    bottom = AccountFactory.create(parent=middle)
    assert selectors.account_ancestor_ids(account_id=bottom.id) == {bottom.id, middle.id, top.id}
    # The API refuses loops; one written behind its back must still not hang the query.
    Account.objects.filter(pk=top.id).update(parent=bottom)
    assert selectors.account_ancestor_ids(account_id=bottom.id) == {bottom.id, middle.id, top.id}
