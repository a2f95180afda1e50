"""Revenue metrics against hand-computed figures.

The period under test is March 2026, [2026-03-01, 2026-04-01): opening MRR is taken on
2026-02-28 and closing MRR on 2026-03-31. Every expected number is worked out by hand in a
comment next to it.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django_tenants.utils import schema_context

from apps.accounts.models import Account, Subscription
from apps.accounts.revenue.metrics import (
    GroupBy,
    GroupFigures,
    MixedCurrencyError,
    RevenueFigures,
    revenue_report,
)
from apps.accounts.revenue.periods import Interval, Period, month_period, periods_between
from apps.accounts.tests.factories import existing_squad
from fullfield.errors import NotFound
from fullfield.tenancy.models import Tenant
from tests.fixtures import World

pytestmark = pytest.mark.usefixtures("tenant_a")

MARCH = month_period(2026, 3)
FEBRUARY = month_period(2026, 2)


def day(text: str) -> date:
    return date.fromisoformat(text)


def account(
    name: str, *, segment: str = "", squad_id: int | None = None, parent: Account | None = None
) -> Account:
    return Account.objects.create(
        name=name, segment=segment, squad_id=existing_squad(squad_id), parent=parent
    )


def term(
    owner: Account,
    mrr: str,
    start: str,
    end: str | None = None,
    *,
    status: str = Subscription.Status.ACTIVE,
    change_kind: str = Subscription.ChangeKind.NEW,
    currency: str = "USD",
) -> Subscription:
    return Subscription.objects.create(
        account=owner,
        plan="pro",
        mrr=Decimal(mrr),
        period_start=day(start),
        period_end=day(end) if end else None,
        status=status,
        change_kind=change_kind,
        currency=currency,
    )


def totals(period: Period = MARCH, *, root_account_id: int | None = None) -> RevenueFigures:
    return revenue_report(periods=[period], root_account_id=root_account_id).periods[0].totals


def groups(group_by: GroupBy, *, root_account_id: int | None = None) -> list[GroupFigures]:
    report = revenue_report(periods=[MARCH], group_by=group_by, root_account_id=root_account_id)
    return report.periods[0].groups


def by_key(found: list[GroupFigures]) -> dict[str | int | None, RevenueFigures]:
    return {group.key: group.figures for group in found}


# --- one behaviour at a time --------------------------------------------------------------


def test_a_tenant_without_subscriptions_has_zero_mrr_and_null_ratios() -> None:
    assert totals() == RevenueFigures()  # zeros, and every ratio null rather than a crash


def test_an_unchanged_subscription_is_opening_and_closing_mrr_without_movement() -> None:
    term(account("Steady"), "100", "2025-01-01")

    figures = totals()

    assert figures.opening_mrr == Decimal("100")
    assert figures.closing_mrr == Decimal("100")
    assert figures.arr == Decimal("1200")  # 12 x 100
    assert figures.net_new_mrr == 0
    assert figures.gross_revenue_retention == Decimal("1.0000")  # (100 - 0 - 0) / 100
    assert figures.net_revenue_retention == Decimal("1.0000")
    assert (figures.opening_customers, figures.closing_customers) == (1, 1)


def test_a_mid_period_upgrade_is_expansion_of_the_difference() -> None:
    upgrader = account("Upgrader")
    term(upgrader, "200", "2025-06-01", "2026-03-15")
    term(upgrader, "300", "2026-03-15", change_kind=Subscription.ChangeKind.UPGRADE)

    figures = totals()

    assert figures.opening_mrr == Decimal("200")
    assert figures.closing_mrr == Decimal("300")
    assert figures.expansion_mrr == Decimal("100")  # 300 - 200
    assert figures.expanded_customers == 1
    assert figures.net_revenue_retention == Decimal("1.5000")  # (200 + 100) / 200
    assert figures.gross_revenue_retention == Decimal("1.0000")  # nothing lost


def test_a_mid_period_downgrade_is_contraction_of_the_difference() -> None:
    downgrader = account("Downgrader")
    term(downgrader, "500", "2025-01-01", "2026-03-10")
    term(downgrader, "350", "2026-03-10", change_kind=Subscription.ChangeKind.DOWNGRADE)

    figures = totals()

    assert figures.contraction_mrr == Decimal("150")  # 500 - 350
    assert figures.churned_mrr == 0
    assert figures.gross_revenue_retention == Decimal("0.7000")  # (500 - 150) / 500
    assert figures.net_revenue_retention == Decimal("0.7000")
    assert figures.mrr_churn_rate == Decimal("0.0000")  # contraction is not churn
    assert figures.logo_churn_rate == Decimal("0.0000")


def test_a_mid_period_cancellation_churns_the_whole_opening_mrr() -> None:
    canceller = account("Canceller")
    term(canceller, "400", "2025-04-01", "2026-03-20")
    # The source system records the cancellation as a canceled term: it counts 0.
    term(
        canceller,
        "400",
        "2026-03-20",
        status=Subscription.Status.CANCELED,
        change_kind=Subscription.ChangeKind.CANCELLATION,
    )
    term(account("Stayer"), "600", "2025-01-01")

    figures = totals()

    assert figures.churned_mrr == Decimal("400")
    assert figures.churned_customers == 1
    assert figures.closing_mrr == Decimal("600")  # only the stayer
    assert figures.logo_churn_rate == Decimal("0.5000")  # 1 churned / 2 opening customers
    assert figures.mrr_churn_rate == Decimal("0.4000")  # 400 / (400 + 600)
    assert figures.gross_revenue_retention == Decimal("0.6000")  # (1000 - 400) / 1000


def test_a_term_ending_on_the_period_start_churns_in_this_period_not_the_previous_one() -> None:
    # In force through 2026-02-28 (period_end is exclusive): February's closing day still has
    # it, March's closing day does not.
    term(account("Lapsed"), "120", "2025-03-01", "2026-03-01")

    assert totals(FEBRUARY).churned_mrr == 0
    assert totals(FEBRUARY).closing_mrr == Decimal("120")
    assert totals(MARCH).opening_mrr == Decimal("120")
    assert totals(MARCH).churned_mrr == Decimal("120")


def test_a_term_starting_on_the_period_start_is_new_in_this_period() -> None:
    term(account("First day"), "70", "2026-03-01")

    assert totals(FEBRUARY).new_mrr == 0
    assert totals(MARCH).new_mrr == Decimal("70")


def test_a_term_ending_on_the_period_end_still_counts_at_closing() -> None:
    term(account("Full month"), "90", "2026-01-01", "2026-04-01")  # last day in force: 03-31

    figures = totals()

    assert figures.closing_mrr == Decimal("90")
    assert figures.churned_mrr == 0


def test_an_account_starting_inside_the_period_is_new_mrr() -> None:
    term(account("Newcomer"), "150", "2026-03-05")

    figures = totals()

    assert figures.new_mrr == Decimal("150")
    assert figures.new_customers == 1
    assert figures.opening_mrr == 0
    # Nothing to retain: every ratio over a zero opening is null.
    assert figures.gross_revenue_retention is None
    assert figures.net_revenue_retention is None
    assert figures.logo_churn_rate is None
    assert figures.mrr_churn_rate is None


def test_an_account_paying_again_after_a_gap_is_reactivation_not_new() -> None:
    returner = account("Returner")
    term(returner, "250", "2025-01-01", "2025-07-01")
    term(returner, "275", "2026-03-12", change_kind=Subscription.ChangeKind.REACTIVATION)

    figures = totals()

    assert figures.reactivated_mrr == Decimal("275")
    assert figures.reactivated_customers == 1
    assert figures.new_mrr == 0


def test_reactivation_is_read_from_mrr_history_whatever_the_change_kind_says() -> None:
    # The source system calls the return "new"; the earlier paid term makes it a reactivation.
    returner = account("Returner")
    term(returner, "250", "2025-01-01", "2025-07-01")
    term(returner, "275", "2026-03-12", change_kind=Subscription.ChangeKind.NEW)
    # And an "upgrade" that lowers the MRR is a contraction.
    mislabelled = account("Mislabelled")
    term(mislabelled, "300", "2025-01-01", "2026-03-05")
    term(mislabelled, "200", "2026-03-05", change_kind=Subscription.ChangeKind.UPGRADE)

    figures = totals()

    assert figures.reactivated_mrr == Decimal("275")
    assert figures.new_mrr == 0
    assert figures.contraction_mrr == Decimal("100")  # 300 - 200
    assert figures.expansion_mrr == 0


def test_reactivated_mrr_is_not_part_of_net_revenue_retention() -> None:
    term(account("Stayer"), "1000", "2025-01-01")
    returner = account("Returner")
    term(returner, "250", "2025-01-01", "2025-07-01")
    term(returner, "500", "2026-03-12")

    figures = totals()

    assert figures.closing_mrr == Decimal("1500")
    assert figures.net_revenue_retention == Decimal("1.0000")  # (1000 + 0 - 0 - 0) / 1000


def test_past_due_terms_count_and_trialing_terms_do_not() -> None:
    term(account("Late payer"), "600", "2026-01-01", status=Subscription.Status.PAST_DUE)
    trialist = account("Trialist")
    term(trialist, "90", "2026-02-15", "2026-03-15", status=Subscription.Status.TRIALING)
    term(trialist, "90", "2026-03-15")

    figures = totals()

    assert figures.opening_mrr == Decimal("600")  # the past-due term; the trial counts 0
    # A trial is not paid history: the converted trialist is new, not reactivated.
    assert figures.new_mrr == Decimal("90")
    assert figures.reactivated_mrr == 0
    assert figures.closing_mrr == Decimal("690")  # 600 + 90


def test_an_account_starting_and_ending_inside_the_period_moves_nothing() -> None:
    term(account("Flash"), "80", "2026-03-03", "2026-03-25")

    assert totals() == RevenueFigures()


def test_concurrent_terms_of_one_account_are_summed_and_classified_as_one_account() -> None:
    multi = account("Multi")
    term(multi, "50", "2025-01-01")  # add-on, open-ended
    term(multi, "1000", "2025-01-01", "2026-03-31")
    term(multi, "1000", "2026-03-31", change_kind=Subscription.ChangeKind.RENEWAL)
    term(multi, "30", "2026-03-20", change_kind=Subscription.ChangeKind.UPGRADE)

    figures = totals()

    assert figures.opening_mrr == Decimal("1050")  # 50 + 1000
    assert figures.closing_mrr == Decimal("1080")  # 50 + 1000 (renewed) + 30
    assert figures.expansion_mrr == Decimal("30")
    assert (figures.opening_customers, figures.expanded_customers) == (1, 1)


def test_zero_mrr_terms_make_no_customer() -> None:
    term(account("Free plan"), "0", "2025-01-01")
    freebie = account("Free then paid")
    term(freebie, "0", "2025-01-01", "2026-03-10")
    term(freebie, "40", "2026-03-10")

    figures = totals()

    assert figures.opening_customers == 0
    assert figures.new_mrr == Decimal("40")  # free usage is not paid history


# --- a whole book of accounts -------------------------------------------------------------


@pytest.fixture
def book(tenant_a: Tenant) -> dict[str, Account]:
    """Eleven accounts covering every movement; hierarchy: Multi > Late payer > Returner and
    Multi > Downgrader.

    account         segment  squad  opening  closing  movement
    Steady          smb      11      100      100     -
    Upgrader        smb      11      200      300     expansion 100
    Downgrader      mid      12      500      350     contraction 150
    Canceller       mid      12      400        0     churn 400
    Newcomer        smb      -         0      150     new 150
    Returner        ent      11        0      275     reactivation 275
    Trialist        smb      -         0       90     new 90 (trial counts 0)
    Late payer      ent      12      600      600     - (past_due counts)
    Flash           smb      -         0        0     - (in and out inside March)
    Lapsed          mid      12      120        0     churn 120 (ended 2026-03-01)
    Multi           ent      11     1050     1080     expansion 30
    """
    multi = account("Multi", segment="ent", squad_id=11)
    late_payer = account("Late payer", segment="ent", squad_id=12, parent=multi)
    accounts = {
        "steady": account("Steady", segment="smb", squad_id=11),
        "upgrader": account("Upgrader", segment="smb", squad_id=11),
        "downgrader": account("Downgrader", segment="mid", squad_id=12, parent=multi),
        "canceller": account("Canceller", segment="mid", squad_id=12),
        "newcomer": account("Newcomer", segment="smb"),
        "returner": account("Returner", segment="ent", squad_id=11, parent=late_payer),
        "trialist": account("Trialist", segment="smb"),
        "late_payer": late_payer,
        "flash": account("Flash", segment="smb"),
        "lapsed": account("Lapsed", segment="mid", squad_id=12),
        "multi": multi,
    }
    term(accounts["steady"], "100", "2025-01-01")
    term(accounts["upgrader"], "200", "2025-06-01", "2026-03-15")
    term(accounts["upgrader"], "300", "2026-03-15")
    term(accounts["downgrader"], "500", "2025-01-01", "2026-03-10")
    term(accounts["downgrader"], "350", "2026-03-10")
    term(accounts["canceller"], "400", "2025-04-01", "2026-03-20")
    term(accounts["canceller"], "400", "2026-03-20", status=Subscription.Status.CANCELED)
    term(accounts["newcomer"], "150", "2026-03-05")
    term(accounts["returner"], "250", "2025-01-01", "2025-07-01")
    term(accounts["returner"], "275", "2026-03-12")
    term(
        accounts["trialist"], "90", "2026-02-15", "2026-03-15", status=Subscription.Status.TRIALING
    )
    term(accounts["trialist"], "90", "2026-03-15")
    term(accounts["late_payer"], "600", "2026-01-01", "2026-04-01", status="past_due")
    term(accounts["flash"], "80", "2026-03-03", "2026-03-25")
    term(accounts["lapsed"], "120", "2025-03-01", "2026-03-01")
    term(multi, "50", "2025-01-01")
    term(multi, "1000", "2025-01-01", "2026-03-31")
    term(multi, "1000", "2026-03-31")
    term(multi, "30", "2026-03-20")
    return accounts


@pytest.mark.usefixtures("book")
def test_the_whole_book_for_march() -> None:
    assert totals() == RevenueFigures(
        # 100 + 200 + 500 + 400 + 600 + 120 + 1050
        opening_mrr=Decimal("2970"),
        # 100 + 300 + 350 + 150 + 275 + 90 + 600 + 1080
        closing_mrr=Decimal("2945"),
        arr=Decimal("35340"),  # 12 x 2945
        new_mrr=Decimal("240"),  # 150 + 90
        expansion_mrr=Decimal("130"),  # 100 + 30
        contraction_mrr=Decimal("150"),
        churned_mrr=Decimal("520"),  # 400 + 120
        reactivated_mrr=Decimal("275"),
        # 2945 - 2970 = 240 + 275 + 130 - 150 - 520
        net_new_mrr=Decimal("-25"),
        gross_revenue_retention=Decimal("0.7744"),  # (2970 - 150 - 520) / 2970 = 0.77441
        net_revenue_retention=Decimal("0.8182"),  # (2970 + 130 - 670) / 2970 = 0.81818
        logo_churn_rate=Decimal("0.2857"),  # 2 churned / 7 opening customers = 0.28571
        mrr_churn_rate=Decimal("0.1751"),  # 520 / 2970 = 0.17508
        opening_customers=7,  # Steady, Upgrader, Downgrader, Canceller, Late payer, Lapsed, Multi
        closing_customers=8,  # minus Canceller, Lapsed; plus Newcomer, Returner, Trialist
        new_customers=2,
        reactivated_customers=1,
        expanded_customers=2,
        contracted_customers=1,
        churned_customers=2,
    )


@pytest.mark.usefixtures("book")
def test_per_segment_figures_sum_their_accounts_and_add_up_to_the_total() -> None:
    found = groups(GroupBy.SEGMENT)

    assert [group.key for group in found] == ["ent", "smb", "mid"]  # by closing MRR, largest first
    segments = by_key(found)
    # smb: Steady 100->100, Upgrader 200->300, Newcomer 0->150, Trialist 0->90, Flash 0->0
    assert segments["smb"].opening_mrr == Decimal("300")
    assert segments["smb"].closing_mrr == Decimal("640")
    assert segments["smb"].new_mrr == Decimal("240")
    assert segments["smb"].net_revenue_retention == Decimal("1.3333")  # (300 + 100) / 300
    # mid: Downgrader 500->350, Canceller 400->0, Lapsed 120->0
    assert segments["mid"].opening_mrr == Decimal("1020")
    assert segments["mid"].closing_mrr == Decimal("350")
    assert segments["mid"].gross_revenue_retention == Decimal("0.3431")  # 350 / 1020 = 0.34314
    assert segments["mid"].logo_churn_rate == Decimal("0.6667")  # 2 / 3
    assert segments["mid"].mrr_churn_rate == Decimal("0.5098")  # 520 / 1020 = 0.50980
    # ent: Returner 0->275, Late payer 600->600, Multi 1050->1080
    assert segments["ent"].opening_mrr == Decimal("1650")
    assert segments["ent"].closing_mrr == Decimal("1955")
    assert segments["ent"].reactivated_mrr == Decimal("275")
    assert segments["ent"].net_revenue_retention == Decimal("1.0182")  # 1680 / 1650 = 1.01818
    # 300 + 1020 + 1650 = 2970 and 640 + 350 + 1955 = 2945, the tenant's totals
    assert sum(figures.opening_mrr for figures in segments.values()) == Decimal("2970")
    assert sum(figures.closing_mrr for figures in segments.values()) == Decimal("2945")


@pytest.mark.usefixtures("book")
def test_one_squads_figures_are_its_group_of_the_whole_report() -> None:
    everyone = by_key(groups(GroupBy.SQUAD))

    one = revenue_report(periods=[MARCH], group_by=GroupBy.SQUAD, squad_id=12).periods[0]

    assert by_key(one.groups) == {12: everyone[12]}
    assert one.totals == everyone[12]


@pytest.mark.usefixtures("book")
def test_per_squad_figures_include_accounts_without_a_squad_as_a_null_group() -> None:
    squads = by_key(groups(GroupBy.SQUAD))

    assert list(squads) == [11, 12, None]  # closing 1755, 950, 240
    # squad 11: Steady 100->100, Upgrader 200->300, Returner 0->275, Multi 1050->1080
    assert squads[11].opening_mrr == Decimal("1350")
    assert squads[11].closing_mrr == Decimal("1755")
    assert squads[11].expansion_mrr == Decimal("130")
    assert squads[11].reactivated_mrr == Decimal("275")
    # squad 12: Downgrader 500->350, Canceller 400->0, Late payer 600->600, Lapsed 120->0
    assert squads[12].opening_mrr == Decimal("1620")
    assert squads[12].closing_mrr == Decimal("950")
    assert squads[12].gross_revenue_retention == Decimal("0.5864")  # 950 / 1620 = 0.58642
    assert squads[12].churned_customers == 2
    # no squad: Newcomer 0->150, Trialist 0->90, Flash 0->0; a zero opening has null ratios
    assert squads[None].opening_mrr == 0
    assert squads[None].new_mrr == Decimal("240")
    assert squads[None].gross_revenue_retention is None


def test_a_root_account_rolls_up_all_its_descendants(book: dict[str, Account]) -> None:
    found = groups(GroupBy.HIERARCHY)
    roots = by_key(found)

    multi = book["multi"].id
    # Multi heads the only tree; six more top-level accounts stand alone, and Flash, with
    # nothing in force on 02-28 or 03-31, has no row.
    assert len(found) == 7
    assert next(group.name for group in found if group.key == multi) == "Multi"
    # Multi 1050->1080, Late payer 600->600, Returner (grandchild) 0->275, Downgrader 500->350
    assert roots[multi].opening_mrr == Decimal("2150")  # 1050 + 600 + 0 + 500
    assert roots[multi].closing_mrr == Decimal("2305")  # 1080 + 600 + 275 + 350
    assert roots[multi].expansion_mrr == Decimal("30")
    assert roots[multi].contraction_mrr == Decimal("150")
    assert roots[multi].reactivated_mrr == Decimal("275")
    assert roots[multi].gross_revenue_retention == Decimal("0.9302")  # 2000 / 2150 = 0.93023
    assert roots[multi].net_revenue_retention == Decimal("0.9442")  # 2030 / 2150 = 0.94419
    assert roots[book["steady"].id].closing_mrr == Decimal("100")


def test_the_figures_of_one_account_cover_its_subtree_only(book: dict[str, Account]) -> None:
    # Late payer 600->600 and its child Returner 0->275; Multi above it is not included.
    figures = totals(root_account_id=book["late_payer"].id)

    assert figures.opening_mrr == Decimal("600")
    assert figures.closing_mrr == Decimal("875")  # 600 + 275
    assert figures.reactivated_mrr == Decimal("275")
    assert figures.net_revenue_retention == Decimal("1.0000")  # 600 / 600: reactivation excluded


def test_a_subtree_can_be_broken_down_by_segment(book: dict[str, Account]) -> None:
    # Multi's tree: Multi (ent), Late payer (ent), Returner (ent), Downgrader (mid)
    segments = by_key(groups(GroupBy.SEGMENT, root_account_id=book["multi"].id))

    assert segments["ent"].closing_mrr == Decimal("1955")  # 1080 + 600 + 275
    assert segments["mid"].closing_mrr == Decimal("350")
    assert set(segments) == {"ent", "mid"}


def test_hierarchy_for_one_account_is_that_account_alone(book: dict[str, Account]) -> None:
    found = groups(GroupBy.HIERARCHY, root_account_id=book["late_payer"].id)

    assert [(group.key, group.name) for group in found] == [(book["late_payer"].id, "Late payer")]
    assert found[0].figures.closing_mrr == Decimal("875")


def test_accounts_in_a_parent_cycle_still_count_and_do_not_hang_the_roll_up() -> None:
    first, second = account("Loop one"), account("Loop two")
    Account.objects.filter(id=first.id).update(parent=second)
    Account.objects.filter(id=second.id).update(parent=first)
    term(first, "10", "2025-01-01")
    term(second, "20", "2025-01-01")

    roots = by_key(groups(GroupBy.HIERARCHY))

    assert roots[None].closing_mrr == Decimal("30")  # no top-level account above them
    assert totals().closing_mrr == Decimal("30")
    assert totals(root_account_id=first.id).closing_mrr == Decimal("30")  # 10 + 20


def test_an_unknown_account_is_not_found() -> None:
    with pytest.raises(NotFound) as refused:
        totals(root_account_id=999_999)
    assert refused.value.fields == {"account": ["No account with id 999999."]}


# --- series --------------------------------------------------------------------------------


@pytest.mark.usefixtures("book")
def test_a_monthly_series_chains_closing_to_opening() -> None:
    report = revenue_report(
        periods=periods_between(
            start=day("2026-01-01"), end=day("2026-05-01"), interval=Interval.MONTH
        )
    )
    months = [figures.totals for figures in report.periods]

    assert [figures.period.start for figures in report.periods] == [
        day("2026-01-01"),
        day("2026-02-01"),
        day("2026-03-01"),
        day("2026-04-01"),
    ]
    assert [month.closing_mrr for month in months[:-1]] == [
        month.opening_mrr for month in months[1:]
    ]
    # January: Late payer's past-due term starts 2026-01-01, its first paid MRR: new 600.
    assert months[0].new_mrr == Decimal("600")
    # February: only the trial starts (0), nothing moves.
    assert months[1].net_new_mrr == 0
    assert months[2] == totals(MARCH)
    # April: Late payer's term ended on 2026-04-01: churn 600; 2945 - 600 = 2345.
    assert months[3].churned_mrr == Decimal("600")
    assert months[3].closing_mrr == Decimal("2345")


def test_a_period_longer_than_a_month_compares_only_its_two_ends() -> None:
    upgrader = account("Upgrader then gone")
    term(upgrader, "100", "2024-01-01", "2025-05-01")
    term(upgrader, "900", "2025-05-01", "2025-08-01")  # gone before the year ends
    term(account("Stayer"), "100", "2024-06-01")
    year = Period(start=day("2025-01-01"), end=day("2026-01-01"))

    figures = totals(year)

    assert figures.expansion_mrr == 0  # the upgrade happened, but so did the churn
    assert figures.churned_mrr == Decimal("100")  # its opening MRR on 2024-12-31
    assert figures.logo_churn_rate == Decimal("0.5000")  # 1 / 2


def test_series_periods_are_counted_from_the_start_and_cut_short_at_the_end() -> None:
    periods = periods_between(
        start=day("2026-01-31"), end=day("2026-05-15"), interval=Interval.MONTH
    )

    assert [(period.start, period.end) for period in periods] == [
        (day("2026-01-31"), day("2026-02-28")),
        (day("2026-02-28"), day("2026-03-31")),  # back to the 31st, not drifting to the 28th
        (day("2026-03-31"), day("2026-04-30")),
        (day("2026-04-30"), day("2026-05-15")),
    ]
    quarters = periods_between(
        start=day("2025-01-01"), end=day("2026-01-01"), interval=Interval.QUARTER
    )
    assert [period.start.month for period in quarters] == [1, 4, 7, 10]


# --- currency and tenants ------------------------------------------------------------------


def test_terms_in_another_currency_refuse_the_metrics_naming_count_and_currency() -> None:
    term(account("Dollars"), "100", "2025-01-01")
    euro = account("Euros")
    term(euro, "80", "2025-01-01", currency="EUR")
    term(euro, "20", "2026-03-10", currency="EUR")
    term(account("Pounds"), "50", "2026-02-28", "2026-03-01", currency="GBP")  # opening day only

    with pytest.raises(MixedCurrencyError) as refused:
        totals()

    assert refused.value.status_code == 409
    assert "3 subscription terms" in refused.value.message
    assert "2 in EUR, 1 in GBP" in refused.value.message
    assert refused.value.fields == {"currency": ["2 in EUR", "1 in GBP"]}


def test_foreign_currency_terms_outside_the_period_or_not_counting_do_not_block() -> None:
    term(account("Dollars"), "100", "2025-01-01")
    term(account("Old euros"), "80", "2024-01-01", "2026-02-28", currency="EUR")  # ended 02-27
    term(account("Euro trial"), "80", "2026-03-01", status="trialing", currency="EUR")

    assert totals().closing_mrr == Decimal("100")


def test_foreign_currency_outside_the_chosen_hierarchy_does_not_block_it() -> None:
    parent = account("Dollar parent")
    term(parent, "100", "2025-01-01")
    term(account("Euro stranger"), "80", "2025-01-01", currency="EUR")

    assert totals(root_account_id=parent.id).closing_mrr == Decimal("100")
    with pytest.raises(MixedCurrencyError):
        totals()


def test_the_tenants_own_currency_is_the_one_summed(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tenant_a, "currency", "EUR")
    term(account("Euros"), "80", "2025-01-01", currency="EUR")

    report = revenue_report(periods=[MARCH])

    assert report.currency == "EUR"
    assert report.periods[0].totals.closing_mrr == Decimal("80")


def test_another_tenants_subscriptions_never_count(world: World) -> None:
    term(account("Ours"), "100", "2025-01-01")
    with schema_context(world.tenant_b.schema_name):
        # An id far from tenant A's own, so "not found" cannot come from a gap in A's ids.
        theirs = Account.objects.create(id=900_000_001, name="Theirs")
        term(theirs, "5000", "2025-01-01")

    assert totals().closing_mrr == Decimal("100")
    with pytest.raises(NotFound):
        totals(root_account_id=theirs.id)


# --- invariants on a random book ------------------------------------------------------------


def test_on_a_random_book_movements_reconcile_months_chain_and_groups_add_up() -> None:
    generator = random.Random(20260301)
    for number in range(60):
        owner = account(
            f"Random {number}",
            segment=generator.choice(["smb", "mid", "ent"]),
            squad_id=generator.choice([None, 1, 2]),
        )
        start = day("2025-01-01") + timedelta(days=generator.randrange(0, 400))
        for _ in range(generator.randrange(1, 5)):
            length = generator.randrange(10, 200)
            end = start + timedelta(days=length)
            term(
                owner,
                str(generator.choice([0, 50, 100, 250, 400])),
                start.isoformat(),
                None if generator.random() < 0.2 else end.isoformat(),
                status=generator.choice(["active", "active", "past_due", "trialing", "canceled"]),
            )
            start = end + timedelta(days=generator.choice([0, 0, 0, 20, 90]))
    periods = periods_between(
        start=day("2025-01-01"), end=day("2026-07-01"), interval=Interval.MONTH
    )
    report = revenue_report(periods=periods, group_by=GroupBy.SEGMENT)

    months = [figures.totals for figures in report.periods]
    for month in months:
        assert month.closing_mrr == (
            month.opening_mrr
            + month.new_mrr
            + month.reactivated_mrr
            + month.expansion_mrr
            - month.contraction_mrr
            - month.churned_mrr
        )
        assert month.closing_customers == (
            month.opening_customers
            + month.new_customers
            + month.reactivated_customers
            - month.churned_customers
        )
    assert [month.closing_mrr for month in months[:-1]] == [
        month.opening_mrr for month in months[1:]
    ]
    assert any(month.churned_mrr for month in months)  # the book does exercise churn
    assert any(month.reactivated_mrr for month in months)  # and reactivation
    for figures in report.periods:
        assert (
            sum(group.figures.closing_mrr for group in figures.groups) == figures.totals.closing_mrr
        )
        assert (
            sum(group.figures.churned_mrr for group in figures.groups) == figures.totals.churned_mrr
        )
