"""Subscription terms as chains: close a term, open the next (the revenue metrics' input).

A source system's subscription (Stripe's, so far) is a chain of terms with external_id
"<subscription id>:<start day>". Its open term carries the current MRR; a change of MRR on day
D closes it (period_end = D) and opens a new term at D (upgrade or downgrade). A change on the
day the term began rewrites that term instead (terms are whole days), merging back into the
previous term when the MRR returns to it. An end closes the open term and opens a zero-MRR
cancellation row, so the churn date is on record. A term opened when the account has no other
term in force is `new` for a first customer and `reactivation` after a churn; one opened while
another subscription is in force is `upgrade`.

The integration that reads the source (apps.integrations.stripe) decides what a snapshot means
and when it applies; the writes of terms and of the account's lifecycle stage are made here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Account, LifecycleStage, Subscription
from apps.accounts.services.records import lifecycle_stage_changed
from apps.accounts.services.revenue import revenue_terms_changed

P = ParamSpec("P")
R = TypeVar("R")


def _changes_revenue(write: Callable[P, R]) -> Callable[P, R]:
    """After a write of an account's terms, its revenue columns and the snapshot follow."""

    @wraps(write)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        result = write(*args, **kwargs)
        account = kwargs.get("account")
        term = kwargs.get("term")
        account_id = account.pk if isinstance(account, Account) else None
        if account_id is None and isinstance(term, Subscription):
            account_id = term.account_id
        revenue_terms_changed(account_ids=[account_id])
        return result

    return wrapper


class TermSnapshot(Protocol):
    """What a source says a subscription is now."""

    @property
    def subscription_id(self) -> str: ...
    @property
    def mrr(self) -> Decimal: ...
    @property
    def plan(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def start_date(self) -> dt.date: ...
    @property
    def ended_on(self) -> dt.date | None: ...


@_changes_revenue
def subscription_term_status_set(*, term: Subscription, status: str) -> None:
    """A payment result: the open term becomes past_due or active again."""
    if term.status != status:
        term.status = status
        term.save(update_fields=["status", "updated_at"])


def subscription_terms_exist(*, account: Account, source_system: str, subscription_id: str) -> bool:
    return _terms_of(account, source_system, subscription_id).exists()


def term_external_id(subscription_id: str, start: dt.date) -> str:
    return f"{subscription_id}:{start.isoformat()}"


def _terms_of(account: Account, source_system: str, subscription_id: str) -> QuerySet[Subscription]:
    return Subscription.objects.filter(
        account=account,
        source_system=source_system,
        external_id__startswith=f"{subscription_id}:",
    )


def _counts(status: str | None) -> bool:
    return status in Subscription.IN_FORCE_STATUSES


def _kind_for_new_money(
    account: Account, source_system: str, subscription_id: str, on: dt.date
) -> str:
    """How a counting term that follows no counting term of the same subscription began."""
    others = Subscription.objects.filter(account=account).exclude(
        source_system=source_system, external_id__startswith=f"{subscription_id}:"
    )
    if others.filter(Subscription.in_force_on(on)).exists():
        return Subscription.ChangeKind.UPGRADE
    earlier = Subscription.objects.filter(
        account=account, status__in=Subscription.IN_FORCE_STATUSES, period_start__lt=on
    )
    if earlier.exists():
        return Subscription.ChangeKind.REACTIVATION
    return Subscription.ChangeKind.NEW


def _open_term(
    *,
    account: Account,
    source_system: str,
    snapshot: TermSnapshot,
    start: dt.date,
    status: str,
    kind: str,
    mrr: Any = None,
) -> Subscription:
    return Subscription.objects.create(
        account=account,
        source_system=source_system,
        external_id=term_external_id(snapshot.subscription_id, start),
        plan=snapshot.plan,
        mrr=snapshot.mrr if mrr is None else mrr,
        quantity=snapshot.quantity,
        currency=snapshot.currency,
        period_start=start,
        status=status,
        change_kind=kind,
    )


def _previous_term(
    account: Account, source_system: str, subscription_id: str, term: Subscription
) -> Subscription | None:
    return (
        _terms_of(account, source_system, subscription_id)
        .filter(period_end=term.period_start)
        .exclude(pk=term.pk)
        .first()
    )


@_changes_revenue
def subscription_term_historical(
    *, account: Account, source_system: str, snapshot: TermSnapshot
) -> Subscription | None:
    """A subscription first seen already ended: its term ran from its start to its end."""
    end = snapshot.ended_on
    if end is None or end <= snapshot.start_date:
        return None
    kind = _kind_for_new_money(
        account, source_system, snapshot.subscription_id, snapshot.start_date
    )
    return _open_term(
        account=account,
        source_system=source_system,
        snapshot=snapshot,
        start=snapshot.start_date,
        status=Subscription.Status.ACTIVE,
        kind=kind,
    )


@_changes_revenue
def subscription_term_end(
    *,
    account: Account,
    source_system: str,
    snapshot: TermSnapshot,
    current: Subscription | None,
    end: dt.date,
) -> Subscription | None:
    """The subscription ended on `end`: close its open term and record the cancellation."""
    if current is None or current.change_kind == Subscription.ChangeKind.CANCELLATION:
        return current
    end = max(end, current.period_start)
    if end == current.period_start:
        # Ended on the day the term began: that term never covered a whole day.
        previous = _previous_term(account, source_system, snapshot.subscription_id, current)
        current.delete()
        if previous is None:
            return None
    else:
        current.period_end = end
        current.save(update_fields=["period_end", "updated_at"])
    return _open_term(
        account=account,
        source_system=source_system,
        snapshot=snapshot,
        start=end,
        status=Subscription.Status.CANCELED,
        kind=Subscription.ChangeKind.CANCELLATION,
        mrr=0,
    )


@_changes_revenue
def subscription_term_continue(
    *,
    account: Account,
    source_system: str,
    snapshot: TermSnapshot,
    current: Subscription | None,
    status: str,
    on: dt.date,
) -> Subscription:
    """Make the subscription's open term say `snapshot` from day `on`."""
    if current is None:
        kind = _kind_for_new_money(account, source_system, snapshot.subscription_id, on)
        return _open_term(
            account=account,
            source_system=source_system,
            snapshot=snapshot,
            start=on,
            status=status,
            kind=kind,
        )
    on = max(on, current.period_start)
    resumed = current.change_kind == Subscription.ChangeKind.CANCELLATION
    unchanged_money = current.mrr == snapshot.mrr and _counts(current.status) == _counts(status)
    if not resumed and unchanged_money:
        current.status = status
        current.plan = snapshot.plan
        current.quantity = snapshot.quantity
        current.save(update_fields=["status", "plan", "quantity", "updated_at"])
        return current
    if on == current.period_start:
        return _rewrite_same_day(account, source_system, snapshot, current, status=status)
    current.period_end = on
    current.save(update_fields=["period_end", "updated_at"])
    if resumed or not (_counts(current.status) and _counts(status)):
        kind = _kind_for_new_money(account, source_system, snapshot.subscription_id, on)
    elif snapshot.mrr > current.mrr:
        kind = Subscription.ChangeKind.UPGRADE
    else:
        kind = Subscription.ChangeKind.DOWNGRADE
    return _open_term(
        account=account,
        source_system=source_system,
        snapshot=snapshot,
        start=on,
        status=status,
        kind=kind,
    )


def _rewrite_same_day(
    account: Account,
    source_system: str,
    snapshot: TermSnapshot,
    current: Subscription,
    *,
    status: str,
) -> Subscription:
    """A second change on the day a term began: rewrite that term (terms are whole days)."""
    previous = _previous_term(account, source_system, snapshot.subscription_id, current)
    if (
        previous is not None
        and previous.mrr == snapshot.mrr
        and _counts(previous.status) == _counts(status)
        and previous.change_kind != Subscription.ChangeKind.CANCELLATION
    ):
        # Back to what the previous term said: it simply goes on.
        current.delete()
        previous.period_end = None
        previous.status = status
        previous.plan = snapshot.plan
        previous.quantity = snapshot.quantity
        previous.save(update_fields=["period_end", "status", "plan", "quantity", "updated_at"])
        return previous
    kind: str
    if previous is not None and _counts(previous.status) and _counts(status):
        kind = (
            Subscription.ChangeKind.UPGRADE
            if snapshot.mrr > previous.mrr
            else Subscription.ChangeKind.DOWNGRADE
        )
    elif current.change_kind == Subscription.ChangeKind.CANCELLATION:
        kind = _kind_for_new_money(
            account, source_system, snapshot.subscription_id, current.period_start
        )
    else:
        kind = current.change_kind
    current.mrr = snapshot.mrr
    current.status = status
    current.plan = snapshot.plan
    current.quantity = snapshot.quantity
    current.change_kind = kind
    current.save(update_fields=["mrr", "status", "plan", "quantity", "change_kind", "updated_at"])
    return current


def account_lifecycle_follow_terms(*, account: Account) -> None:
    """A paying account is at least onboarding; one whose paid terms all ended has churned."""
    today = timezone.now().date()
    terms = Subscription.objects.filter(account=account)
    paying = terms.filter(Subscription.in_force_on(today)).exists()
    previous = account.lifecycle_stage
    if paying and previous in (LifecycleStage.PROSPECT, LifecycleStage.CHURNED):
        stage = LifecycleStage.ONBOARDING
    elif (
        not paying
        and previous != LifecycleStage.CHURNED
        and terms.filter(status__in=Subscription.IN_FORCE_STATUSES).exists()
    ):
        stage = LifecycleStage.CHURNED
    else:
        return
    updated = Account.objects.filter(pk=account.pk, lifecycle_stage=previous).update(
        lifecycle_stage=stage
    )
    if updated:
        lifecycle_stage_changed(account_id=account.pk, previous_stage=previous, stage=stage)
