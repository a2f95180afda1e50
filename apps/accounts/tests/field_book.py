"""A small hand-built tenant whose field figures are worked out by hand.

Period 2026-01-01 .. 2026-04-01 (opening MRR on 2025-12-31, closing on 2026-03-31), followed
to as_of 2026-06-30. Times of day are noon UTC, so day differences are whole.

    account  segment     squad  story
    Acme     smb         7      lead 01-05 (webinar, "Q1 webinar") converted 01-15; deal created
                                01-20, won 02-04 (12,000); pays 1,000 from 02-10, 1,500 from
                                05-01 (upgrade); onboarding 02-10 -> live 03-05 (target 03-10);
                                4 events a day 03-05..03-09 (adopts on 03-07 at threshold 10);
                                CES 2 at "onboarding" on 03-06
    Bolt     enterprise  -      lead 01-10 (event) converted 02-09; deal created 02-10, won
                                03-12 (24,000); pays 2,000 from 03-15 to 05-15; onboarding
                                03-15 (target 04-15), never completed; NPS 10 on 03-20
    Echo     smb         7      paid 500 in 2025, renewal term of 600 from 2026-01-01;
                                CSAT 5 at "renewal" on 01-05
    Frost    enterprise  9      paid 800 from 2025-06-01 to 2026-02-15 (churned); renewal lost
                                02-10 ("price"); new deal created 01-25 lost 02-20 ("chose a
                                competitor", 5,000); CSAT 1 at "renewal" on 01-20
    Glade    smb         -      400 from 2025-03-01, downgraded to 300 on 2026-03-01; NPS 9 on
                                01-10; 3 tickets in February
    Halo     smb         -      300 from 2025-12-01; onboarding 2025-12-01 -> live 01-10 (target
                                01-01, late); 1 event a day 01-10..01-14 (never adopts); NPS 3
                                on 02-15
    Kite     smb         -      500 from 2026-02-20, nothing else
    leads    -           -      01-02 "webinar" disqualified; 03-01 "event" working
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from apps.accounts.models import (
    Account,
    Lead,
    OnboardingPlan,
    Opportunity,
    Subscription,
    SurveyResponse,
    Ticket,
    UsageEvent,
)
from apps.accounts.services.usage import usage_rollup_rebuild
from apps.accounts.tests.factories import existing_squad

START = date(2026, 1, 1)
END = date(2026, 4, 1)
AS_OF = date(2026, 6, 30)


def noon(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(12), UTC)


def term(owner: Account, mrr: int, start: str, end: str | None = None, **extra: Any) -> None:
    Subscription.objects.create(
        account=owner,
        plan="pro",
        mrr=Decimal(mrr),
        period_start=date.fromisoformat(start),
        period_end=date.fromisoformat(end) if end else None,
        **extra,
    )


def lead(
    source: str,
    created: str,
    *,
    campaign: str = "",
    account: Account | None = None,
    converted: str | None = None,
    status: str = Lead.Status.NEW,
) -> Lead:
    record = Lead.objects.create(
        name=f"Lead {source} {created}",
        lead_source=source,
        campaign=campaign,
        status=Lead.Status.CONVERTED if account else status,
        converted_account=account,
        converted_at=noon(converted) if converted else None,
    )
    # created_at is set on insert; the book needs it in the past.
    Lead.objects.filter(id=record.id).update(created_at=noon(created))
    return record


def deal(
    owner: Account,
    created: str,
    *,
    status: str,
    close: str,
    amount: int,
    kind: str = Opportunity.Kind.NEW,
    loss_reason: str = "",
) -> Opportunity:
    record = Opportunity.objects.create(
        account=owner,
        name=f"{owner.name} {kind}",
        kind=kind,
        status=status,
        amount=Decimal(amount),
        close_date=date.fromisoformat(close),
        loss_reason=loss_reason,
    )
    Opportunity.objects.filter(id=record.id).update(created_at=noon(created))
    return record


def events(owner: Account, first_day: str, days: int, per_day: int) -> None:
    start = date.fromisoformat(first_day)
    UsageEvent.objects.bulk_create(
        UsageEvent(
            account=owner,
            name="report.viewed",
            occurred_at=noon((start.fromordinal(start.toordinal() + offset)).isoformat()),
            idempotency_key=f"{owner.id}-{start}-{offset}-{number}",
        )
        for offset in range(days)
        for number in range(per_day)
    )


def survey(owner: Account, kind: str, score: int, day: str, moment: str) -> None:
    SurveyResponse.objects.create(
        account=owner, kind=kind, score=score, moment=moment, responded_at=noon(day)
    )


@dataclass(frozen=True)
class Book:
    accounts: dict[str, Account]
    leads: dict[str, Lead]
    deals: dict[str, Opportunity]
    plans: dict[str, OnboardingPlan]


def build_book() -> Book:
    acme = Account.objects.create(name="Acme", segment="smb", squad_id=existing_squad(7))
    bolt = Account.objects.create(name="Bolt", segment="enterprise")
    echo = Account.objects.create(name="Echo", segment="smb", squad_id=existing_squad(7))
    frost = Account.objects.create(name="Frost", segment="enterprise", squad_id=existing_squad(9))
    glade = Account.objects.create(name="Glade", segment="smb")
    halo = Account.objects.create(name="Halo", segment="smb")
    kite = Account.objects.create(name="Kite", segment="smb")

    leads = {
        "acme": lead(
            "webinar", "2026-01-05", campaign="Q1 webinar", account=acme, converted="2026-01-15"
        ),
        "bolt": lead("event", "2026-01-10", account=bolt, converted="2026-02-09"),
        "disqualified": lead("webinar", "2026-01-02", status=Lead.Status.DISQUALIFIED),
        "working": lead("event", "2026-03-01", status=Lead.Status.WORKING),
    }
    deals = {
        "acme": deal(acme, "2026-01-20", status="won", close="2026-02-04", amount=12000),
        "bolt": deal(bolt, "2026-02-10", status="won", close="2026-03-12", amount=24000),
        "frost_new": deal(
            frost,
            "2026-01-25",
            status="lost",
            close="2026-02-20",
            amount=5000,
            loss_reason="chose a competitor",
        ),
        "frost_renewal": deal(
            frost,
            "2025-12-01",
            status="lost",
            close="2026-02-10",
            amount=9600,
            kind=Opportunity.Kind.RENEWAL,
            loss_reason="price",
        ),
    }

    term(acme, 1000, "2026-02-10", "2026-05-01")
    term(acme, 1500, "2026-05-01", change_kind="upgrade")
    term(bolt, 2000, "2026-03-15", "2026-05-15")
    term(echo, 500, "2025-01-01", "2026-01-01")
    term(echo, 600, "2026-01-01", change_kind="renewal")
    term(frost, 800, "2025-06-01", "2026-02-15")
    term(glade, 400, "2025-03-01", "2026-03-01")
    term(glade, 300, "2026-03-01", change_kind="downgrade")
    term(halo, 300, "2025-12-01")
    term(kite, 500, "2026-02-20")

    plans = {
        "acme": OnboardingPlan.objects.create(
            account=acme,
            started_on=date(2026, 2, 10),
            target_live_on=date(2026, 3, 10),
            completed_on=date(2026, 3, 5),
        ),
        "bolt": OnboardingPlan.objects.create(
            account=bolt, started_on=date(2026, 3, 15), target_live_on=date(2026, 4, 15)
        ),
        "halo": OnboardingPlan.objects.create(
            account=halo,
            started_on=date(2025, 12, 1),
            target_live_on=date(2026, 1, 1),
            completed_on=date(2026, 1, 10),
        ),
    }

    events(acme, "2026-03-05", days=5, per_day=4)
    events(halo, "2026-01-10", days=5, per_day=1)
    usage_rollup_rebuild()

    for day in ("2026-02-02", "2026-02-09", "2026-02-16"):
        Ticket.objects.create(account=glade, subject=f"Export broken {day}", opened_at=noon(day))

    survey(acme, "ces", 2, "2026-03-06", "onboarding")
    survey(echo, "csat", 5, "2026-01-05", "renewal")
    survey(frost, "csat", 1, "2026-01-20", "renewal")
    survey(glade, "nps", 9, "2026-01-10", "relationship")
    survey(halo, "nps", 3, "2026-02-15", "relationship")
    survey(bolt, "nps", 10, "2026-03-20", "relationship")

    accounts = {
        "acme": acme,
        "bolt": bolt,
        "echo": echo,
        "frost": frost,
        "glade": glade,
        "halo": halo,
        "kite": kite,
    }
    return Book(accounts=accounts, leads=leads, deals=deals, plans=plans)


# How the report finds the adoption days: scanning usage (no stored build), reading the stored
# days built long after the book (every plan settled), or built on 2026-03-06 (Acme, live on
# 03-05, has not adopted yet and its window is open, so it is scanned; Halo's window has
# closed unadopted, so it is read). The figures must be the same every way.
ADOPTION_WAYS = ("scanned", "stored", "stored midway")


def store_adoption(way: str) -> None:
    from apps.accounts.field.adoption import plan_adoption_rebuild

    if way == "stored":
        plan_adoption_rebuild()
    elif way == "stored midway":
        plan_adoption_rebuild(built_on=date(2026, 3, 6))
    else:
        assert way == "scanned", way
