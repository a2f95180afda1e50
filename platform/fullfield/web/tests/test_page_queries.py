"""No page's query count grows with the rows it shows: every page of the page-speed benchmark
(benchmarks/pages.py) is read on a small and on a larger tenant, with the same number of
queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Account, SavedView
from apps.accounts.tests.factories import (
    AccountFactory,
    OpportunityFactory,
    SubscriptionFactory,
    SurveyResponseFactory,
    TicketFactory,
)
from apps.scoring.services import health_recompute
from apps.squads.models import Squad
from apps.squads.tests.factories import make_squad
from benchmarks.pages import PAGES, page_request, sample_of_tenant
from fullfield.users.models import User
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


def _grow_to(accounts: int) -> None:
    """`accounts` accounts, each with a term; the first with `accounts` of every record the
    360 lists; a squad covering all of them and as many shared saved views."""
    owner = User.objects.get(email="alice@alpha.test")
    squad = Squad.objects.filter(name="Coverage").first() or make_squad("Coverage")
    have = Account.objects.count()
    for index in range(have, accounts):
        account = AccountFactory.create(name=f"Measured {index:03}", segment="smb")
        SubscriptionFactory.create(account=account)
    first = Account.objects.order_by("id").first()
    assert first is not None
    for _ in range(accounts - have):
        TicketFactory.create(account=first)
        OpportunityFactory.create(account=first)
        SurveyResponseFactory.create(account=first)
    for index in range(have, accounts):
        SavedView.objects.create(owner=owner, name=f"View {index}", query="band=poor", shared=True)
    Account.objects.update(squad_id=squad.pk)
    health_recompute()


def _query_counts(client: TenantClient) -> dict[str, int]:
    sample = sample_of_tenant()
    counts: dict[str, int] = {}
    for name, path_of in PAGES:
        path = path_of(sample)
        if not path:
            continue
        schema = connection.tenant.schema_name  # type: ignore[attr-defined]
        # The first request warms what pages keep (snapshots, cached scorecards).
        assert page_request(client, path, schema_name=schema).status_code == 200, name
        with CaptureQueriesContext(connection) as captured:
            assert page_request(client, path, schema_name=schema).status_code == 200, name
        counts[name] = len(captured)
    return counts


def test_no_page_reads_more_queries_when_it_shows_more_rows(alice_client: TenantClient) -> None:
    _grow_to(2)
    small = _query_counts(alice_client)
    _grow_to(12)
    large = _query_counts(alice_client)
    grown = {name: (small[name], large[name]) for name in small if large[name] > small[name]}
    assert grown == {}, f"pages whose queries grow with their rows (2 vs 12): {grown}"
