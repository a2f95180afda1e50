"""The field figures on the hand-built book of field_book.py, every step worked out by hand."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.accounts.field.selectors import (
    FieldParameters,
    GroupBy,
    StepFigures,
    field_cohort_account_ids,
    field_cohorts,
    field_funnel,
    field_leak_account_ids,
    field_leakage,
    field_moment_account_ids,
    field_moments,
    field_report,
    field_step_account_ids,
)
from apps.accounts.models import Account
from apps.accounts.revenue.periods import Period
from apps.accounts.tests.field_book import (
    ADOPTION_WAYS,
    AS_OF,
    END,
    START,
    Book,
    build_book,
    lead,
    noon,
    store_adoption,
    term,
)
from fullfield.errors import Conflict, DomainError
from fullfield.tenancy.models import Tenant


@pytest.fixture(params=ADOPTION_WAYS)
def book(request: pytest.FixtureRequest, tenant_a: Tenant) -> Book:
    built = build_book()
    store_adoption(request.param)
    return built


def parameters(**extra: Any) -> FieldParameters:
    return FieldParameters(period=Period(start=START, end=END), as_of=AS_OF, **extra)


def d(value: str) -> Decimal:
    return Decimal(value)


def figures(step: StepFigures) -> tuple[Any, ...]:
    return (
        step.count,
        step.accounts,
        step.conversion,
        step.median_days_in_step,
        step.mrr,
    )


@pytest.mark.usefixtures("book")
def test_every_step_of_the_funnel_matches_the_book() -> None:
    steps = {step.key: step for step in field_funnel(parameters=parameters()).steps}

    assert list(steps) == [
        "lead",
        "converted",
        "opportunity_created",
        "won",
        "onboarding_started",
        "live",
        "adopted",
        "renewed",
        "expanded",
        "contracted",
        "churned",
    ]
    # 4 leads created in Q1; the front half carries no MRR at the lead step.
    assert figures(steps["lead"]) == (4, 2, None, None, None)
    # Acme after 10 days, Bolt after 30; closing MRR 1,000 + 2,000.
    assert figures(steps["converted"]) == (2, 2, d("0.5000"), d("20.0"), d("3000.00"))
    # Acme's and Bolt's deals 5 and 1 days after conversion, Frost's (no lead) without days.
    assert figures(steps["opportunity_created"]) == (3, 3, d("1.5000"), d("3.0"), d("3000.00"))
    assert steps["opportunity_created"].amount == d("41000.00")
    # Won in 15 and 30 days; Frost's deal lost: win rate 2 / 3.
    assert figures(steps["won"]) == (2, 2, d("0.6667"), d("22.5"), d("3000.00"))
    assert steps["won"].amount == d("36000.00")
    assert steps["won"].win_rate == d("0.6667")
    # Kick-offs 6 and 3 days after the deals closed.
    assert figures(steps["onboarding_started"]) == (2, 2, d("1.0000"), d("4.5"), d("3000.00"))
    # Acme live in 23 days (on time), Halo in 40 (late).
    assert figures(steps["live"]) == (2, 2, d("1.0000"), d("31.5"), d("1300.00"))
    assert steps["live"].on_time_rate == d("0.5000")
    # Acme reaches 10 events two days after going live; Halo never does.
    assert figures(steps["adopted"]) == (1, 1, d("0.5000"), d("2.0"), d("1000.00"))
    # Echo renewed at 600 after 365 days, and expanded 500 -> 600.
    assert figures(steps["renewed"]) == (1, 1, d("1.0000"), d("365.0"), d("600.00"))
    assert figures(steps["expanded"]) == (1, 1, d("1.0000"), d("454.0"), d("100.00"))
    # Glade 400 -> 300; Frost's 800 churned on 02-15 after 259 days.
    assert figures(steps["contracted"]) == (1, 1, d("1.0000"), d("395.0"), d("100.00"))
    assert figures(steps["churned"]) == (1, 1, d("1.0000"), d("259.0"), d("800.00"))
    assert [step.half for step in steps.values()] == ["front"] * 4 + ["back"] * 7


@pytest.mark.usefixtures("book")
def test_the_funnel_breaks_down_by_lead_source_and_by_squad() -> None:
    by_source = field_funnel(parameters=parameters(group_by=GroupBy.SOURCE)).groups
    leads = {group.key: group.steps[0].count for group in by_source}
    converted = {group.key: group.steps[1].count for group in by_source}
    # Leads by their own source; accounts by the source of the lead they came from.
    assert leads == {"": 0, "event": 2, "webinar": 2}
    assert converted == {"": 0, "event": 1, "webinar": 1}

    by_squad = field_funnel(parameters=parameters(group_by=GroupBy.SQUAD)).groups
    churned = {group.key: group.steps[-1].mrr for group in by_squad}
    assert churned == {None: d("0.00"), 7: d("0.00"), 9: d("800.00")}


def test_a_lead_recorded_after_its_conversion_has_no_time_in_step(book: Book) -> None:
    # Imported on 06-01, converted into Kite on 02-01 in the system it came from.
    lead("import", "2026-06-01", account=book.accounts["kite"], converted="2026-02-01")

    converted = field_funnel(parameters=parameters()).steps[1]

    # Counted, but the median stays Acme's 10 and Bolt's 30 days: no -120 days among them.
    assert (converted.count, converted.median_days_in_step) == (3, d("20.0"))


@pytest.mark.usefixtures("book")
def test_a_segment_limits_every_figure_to_its_accounts() -> None:
    steps = {step.key: step for step in field_funnel(parameters=parameters(segment="smb")).steps}

    # Leads never converted have no segment; only Acme's lead is an smb account's.
    assert steps["lead"].count == 1
    assert steps["churned"].count == 0  # Frost is enterprise
    assert steps["contracted"].count == 1  # Glade


def test_a_step_names_the_accounts_behind_its_number(book: Book) -> None:
    accounts = book.accounts

    won = field_step_account_ids(parameters=parameters(), step="won")
    assert won == sorted([accounts["acme"].id, accounts["bolt"].id])
    by_squad = parameters(group_by=GroupBy.SQUAD)
    assert field_step_account_ids(parameters=by_squad, step="churned", group_key=9) == [
        accounts["frost"].id
    ]
    assert field_step_account_ids(parameters=by_squad, step="churned", group_key=7) == []
    # Leads that were never converted have no account behind them.
    assert field_step_account_ids(parameters=parameters(), step="lead") == won
    with pytest.raises(DomainError):
        field_step_account_ids(parameters=parameters(), step="signed")


def value(accounts: Mapping[str, Account], clv: Mapping[str, int | None], as_of: str) -> None:
    """Scoring's current value of these accounts, written as scoring writes its table."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO scoring_accountvalue (account_id, arr, revenue_12m, expansion_12m, "
            "cost_to_serve_12m, clv, as_of) VALUES (%s, 0, 0, 0, 0, %s, %s)",
            [(accounts[name].id, amount, noon(as_of)) for name, amount in clv.items()],
        )


def test_each_step_carries_the_customer_equity_of_its_accounts(book: Book) -> None:
    clv = {"acme": 30000, "bolt": 50000, "echo": 10000, "frost": 2000, "glade": 4000}
    value(book.accounts, clv, "2026-06-29")
    value(book.accounts, {"kite": 6000, "halo": None}, "2026-06-28")

    steps = {step.key: step for step in field_funnel(parameters=parameters()).steps}

    equity = {key: step.equity for key, step in steps.items()}
    assert equity == {
        "lead": None,
        "converted": d("80000.00"),  # Acme, Bolt
        "opportunity_created": d("82000.00"),  # and Frost
        "won": d("80000.00"),
        "onboarding_started": d("80000.00"),
        "live": d("30000.00"),  # Acme; Halo has no CLV yet
        "adopted": d("30000.00"),
        "renewed": d("10000.00"),  # Echo
        "expanded": d("10000.00"),
        "contracted": d("4000.00"),  # Glade
        "churned": d("2000.00"),  # Frost
    }
    assert steps["converted"].equity_as_of == noon("2026-06-29")
    assert steps["live"].equity_as_of == noon("2026-06-29")
    assert steps["lead"].equity_as_of is None
    by_squad = field_funnel(parameters=parameters(group_by=GroupBy.SQUAD)).groups
    assert {group.key: group.steps[3].equity for group in by_squad} == {
        None: d("50000.00"),  # Bolt's deal
        7: d("30000.00"),  # Acme's
        9: d("0"),
    }


@pytest.mark.usefixtures("book")
def test_no_valuation_carries_no_equity() -> None:
    steps = field_funnel(parameters=parameters()).steps
    assert [step.equity for step in steps] == [None] + [d("0")] * 10
    assert {step.equity_as_of for step in steps} == {None}


@pytest.mark.usefixtures("book")
def test_adoption_follows_its_threshold_and_window() -> None:
    def adopted(**extra: Any) -> tuple[int, Decimal | None]:
        step = field_funnel(parameters=parameters(**extra)).steps[6]
        return step.count, step.median_days_in_step

    # Acme logs 4 events a day from going live: 20 events by day 4, never 21.
    assert adopted(adoption_threshold=20) == (1, d("4.0"))
    assert adopted(adoption_threshold=21) == (0, None)
    # Within 2 days of going live Acme logs only 8 events.
    assert adopted(adoption_days=2) == (0, None)
    assert adopted(adoption_event="report.viewed") == (1, d("2.0"))
    assert adopted(adoption_event="login") == (0, None)


@pytest.mark.usefixtures("book")
def test_cohorts_follow_the_accounts_acquired_each_month_to_as_of() -> None:
    cohorts = field_cohorts(parameters=parameters())

    # Nobody first paid in January: only February (Acme, Kite) and March (Bolt).
    assert [cohort.month.isoformat() for cohort in cohorts] == ["2026-02-01", "2026-03-01"]
    february, march = cohorts
    assert february.accounts == 2
    assert february.starting_mrr == d("1500.00")  # 1,000 + 500
    assert february.mrr_as_of == d("2000.00")  # Acme upgraded to 1,500
    assert february.net_revenue_retention == d("1.3333")
    assert february.logo_retention == d("1.0000")
    reached = {step.key: (step.count, step.share, step.mrr) for step in february.steps}
    assert reached == {
        "converted": (1, d("0.5000"), d("1500.00")),
        "won": (1, d("0.5000"), d("1500.00")),
        "onboarding_started": (1, d("0.5000"), d("1500.00")),
        "live": (1, d("0.5000"), d("1500.00")),
        "adopted": (1, d("0.5000"), d("1500.00")),
        "renewed": (0, d("0.0000"), d("0.00")),
        "expanded": (1, d("0.5000"), d("500.00")),
        "contracted": (0, d("0.0000"), d("0.00")),
        "churned": (0, d("0.0000"), d("0.00")),
    }
    assert march.accounts == 1
    assert (march.starting_mrr, march.mrr_as_of) == (d("2000.00"), d("0.00"))
    assert march.net_revenue_retention == d("0.0000")
    assert march.logo_retention == d("0.0000")
    march_reached = {step.key: step.count for step in march.steps}
    assert march_reached["onboarding_started"] == 1
    assert march_reached["live"] == 0
    assert march_reached["churned"] == 1


@pytest.mark.usefixtures("book")
def test_cohort_figures_add_up_across_their_groups() -> None:
    cohorts = field_cohorts(parameters=parameters(group_by=GroupBy.SEGMENT))
    totals = [cohort for cohort in cohorts if cohort.group_key is None]
    groups = [cohort for cohort in cohorts if cohort.group_key is not None]

    for total in totals:
        parts = [group for group in groups if group.month == total.month]
        assert sum(group.accounts for group in parts) == total.accounts
        assert sum(group.starting_mrr for group in parts) == total.starting_mrr
        assert sum(group.mrr_as_of for group in parts) == total.mrr_as_of
    assert [(group.month.month, group.group_key) for group in groups] == [
        (2, "smb"),
        (3, "enterprise"),
    ]


@pytest.mark.usefixtures("book")
def test_the_as_of_day_decides_what_a_cohort_has_reached() -> None:
    # On 2026-04-30 Acme had not upgraded and Bolt had not churned yet.
    february, march = field_cohorts(
        parameters=FieldParameters(period=Period(start=START, end=END), as_of=END.replace(day=30))
    )
    assert february.mrr_as_of == d("1500.00")
    assert march.mrr_as_of == d("2000.00")
    assert march.logo_retention == d("1.0000")


def test_leakage_names_what_was_lost_at_each_step(book: Book) -> None:
    leaks = {leak.step: leak for leak in field_leakage(parameters=parameters())}

    converted = leaks["converted"]
    assert (converted.count, converted.mrr) == (2, None)
    assert {(reason.reason, reason.count) for reason in converted.reasons} == {
        ("disqualified", 1),
        ("working", 1),
    }
    assert {row.id for row in converted.rows} == {
        book.leads["disqualified"].id,
        book.leads["working"].id,
    }
    assert leaks["opportunity_created"].count == 0
    won = leaks["won"]
    assert (won.count, won.amount) == (1, d("5000.00"))
    assert [(reason.reason, reason.count) for reason in won.reasons] == [("chose a competitor", 1)]
    assert [(row.kind, row.id, row.account_name) for row in won.rows] == [
        ("opportunity", book.deals["frost_new"].id, "Frost")
    ]
    assert leaks["onboarding_started"].count == 0
    live = leaks["live"]
    assert (live.count, live.mrr) == (1, d("2000.00"))
    assert [(row.kind, row.id, row.reason) for row in live.rows] == [
        ("onboarding_plan", book.plans["bolt"].id, "past target")
    ]
    adopted = leaks["adopted"]
    assert (adopted.count, adopted.mrr) == (1, d("300.00"))
    assert [row.account_id for row in adopted.rows] == [book.accounts["halo"].id]
    # No reason recorded: Halo's NPS of 3 names the moment, Glade's three tickets the load.
    assert [reason.reason for reason in adopted.reasons] == ["poor relationship response"]
    contracted = leaks["contracted"]
    assert (contracted.count, contracted.mrr) == (1, d("100.00"))
    assert [row.reason for row in contracted.rows] == ["ticket load: 3 tickets"]
    churned = leaks["churned"]
    assert (churned.count, churned.mrr) == (1, d("800.00"))
    assert [(row.account_name, row.reason) for row in churned.rows] == [("Frost", "price")]


def test_a_won_deal_never_onboarded_leaks_with_its_amount(book: Book) -> None:
    book.plans["bolt"].delete()

    onboarding = {leak.step: leak for leak in field_leakage(parameters=parameters())}[
        "onboarding_started"
    ]

    assert (onboarding.count, onboarding.amount, onboarding.mrr) == (
        1,
        d("24000.00"),
        d("2000.00"),
    )
    assert [row.id for row in onboarding.rows] == [book.deals["bolt"].id]


@pytest.mark.usefixtures("book")
def test_leak_rows_are_capped_largest_first() -> None:
    leaks = {leak.step: leak for leak in field_leakage(parameters=parameters(leak_limit=1))}

    assert leaks["converted"].count == 2
    assert len(leaks["converted"].rows) == 1


@pytest.mark.usefixtures("book")
def test_moments_compare_poor_responders_with_the_rest() -> None:
    moments = {moment.moment: moment for moment in field_moments(parameters=parameters())}

    assert list(moments) == ["relationship", "renewal", "onboarding"]
    renewal = moments["renewal"]
    assert (renewal.responses, renewal.poor_responses, renewal.csat) == (2, 1, d("3.00"))
    # Frost answered 1 and churned; Echo answered 5 and still pays 600.
    assert (renewal.poor.accounts, renewal.poor.churn_rate) == (1, d("1.0000"))
    assert renewal.poor.net_revenue_retention == d("0.0000")
    assert (renewal.rest.churn_rate, renewal.rest.net_revenue_retention) == (
        d("0.0000"),
        d("1.0000"),
    )
    relationship = moments["relationship"]
    # 9 and 10 promote, 3 detracts: (2 - 1) / 3.
    assert relationship.nps == d("33.3")
    assert relationship.nps_average == d("7.33")
    assert [(month.month.month, month.nps) for month in relationship.trend] == [
        (1, d("100.0")),
        (2, d("-100.0")),
        (3, d("100.0")),
    ]
    # Halo (poor) still pays 300; of Glade (400 -> 300) and Bolt (2,000 -> 0) one churned.
    assert (relationship.poor.churn_rate, relationship.poor.net_revenue_retention) == (
        d("0.0000"),
        d("1.0000"),
    )
    assert (relationship.rest.accounts, relationship.rest.churn_rate) == (2, d("0.5000"))
    assert relationship.rest.net_revenue_retention == d("0.1250")  # 300 / 2,400
    onboarding = moments["onboarding"]
    assert (onboarding.ces, onboarding.poor.accounts, onboarding.rest.accounts) == (
        d("2.00"),
        1,
        0,
    )
    assert onboarding.rest.churn_rate is None


@pytest.mark.usefixtures("book")
def test_the_report_assembles_every_part() -> None:
    report = field_report(parameters=parameters())

    assert report.currency == "USD"
    assert len(report.funnel.steps) == 11
    assert len(report.cohorts) == 2
    assert len(report.leakage) == 8
    assert len(report.moments) == 3


def test_money_in_another_currency_refuses_the_report(book: Book) -> None:
    term(book.accounts["kite"], 90, "2026-03-01", currency="EUR")

    with pytest.raises(Conflict) as refused:
        field_report(parameters=parameters())

    assert "EUR" in refused.value.message
    assert refused.value.fields == {"currency": ["1 in EUR"]}


@pytest.mark.usefixtures("book")
def test_a_period_longer_than_three_years_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        field_funnel(
            parameters=FieldParameters(
                period=Period(start=START, end=START.replace(year=2030)), as_of=AS_OF
            )
        )
    assert "end" in refused.value.fields


def test_cohorts_leaks_and_moments_name_the_accounts_behind_them(book: Book) -> None:
    ids = {name: account.id for name, account in book.accounts.items()}
    february = START.replace(month=2)

    def cohort(step: str = "accounts") -> list[int]:
        return field_cohort_account_ids(parameters=parameters(), month=february, step=step)

    assert cohort() == sorted([ids["acme"], ids["kite"]])
    assert cohort("expanded") == [ids["acme"]]
    assert cohort("won") == [ids["acme"]]
    assert field_cohort_account_ids(
        parameters=parameters(), month=START.replace(month=3), step="churned"
    ) == [ids["bolt"]]
    assert field_leak_account_ids(parameters=parameters(), step="adopted") == [ids["halo"]]
    assert field_leak_account_ids(parameters=parameters(), step="churned") == [ids["frost"]]
    assert field_leak_account_ids(parameters=parameters(), step="converted") == []

    def moment(poor: bool) -> list[int]:
        return field_moment_account_ids(parameters=parameters(), moment="relationship", poor=poor)

    assert moment(poor=True) == [ids["halo"]]
    assert moment(poor=False) == sorted([ids["glade"], ids["bolt"]])
    with pytest.raises(DomainError):
        field_leak_account_ids(parameters=parameters(), step="signed")
    with pytest.raises(DomainError):
        cohort("signed")
