"""Writes of single account records (the REST API's create, update and delete).

Every write that adds or changes data about an account marks the account for rescoring
(`Account.rescore_requested_at`) and publishes `AccountsTouched` once the transaction commits;
a change of lifecycle stage publishes `LifecycleStageChanged`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import IntegrityError, connection, models, transaction

from apps.accounts.events import AccountsTouched, LifecycleStageChanged
from apps.accounts.models import (
    Account,
    Contact,
    Lead,
    Milestone,
    OnboardingPlan,
    Subscription,
)
from apps.accounts.services import rules
from apps.accounts.services.revenue import revenue_terms_changed
from fullfield import events
from fullfield.errors import Conflict, DomainError

RecordT = TypeVar("RecordT", bound=models.Model)


def accounts_touch(*, account_ids: Iterable[int | None]) -> list[int]:
    """Mark accounts as needing a new score and tell subscribers (after commit).

    The protocol with the scorer: it claims marks (sets them back to NULL) before it reads an
    account's data. So a mark already pending covers any newer data and is not rewritten, which
    keeps hot ingest paths from rewriting the same account rows batch after batch. Every touched
    row is still locked (in id order, so writers never deadlock): a scorer claiming it waits for
    this transaction and then reads its data.
    """
    ids = sorted({account_id for account_id in account_ids if account_id is not None})
    if ids:
        table = Account._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH touched AS (SELECT id, rescore_requested_at FROM {table}"  # noqa: S608
                " WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE)"
                f" UPDATE {table} AS account SET rescore_requested_at = now() FROM touched"
                " WHERE account.id = touched.id AND touched.rescore_requested_at IS NULL",
                [ids],
            )
        events.publish(AccountsTouched(account_ids=ids))
    return ids


def lifecycle_stage_changed(*, account_id: int, previous_stage: str, stage: str) -> None:
    """The one place a lifecycle change is announced (single writes, bulk upserts, billing)."""
    events.publish(
        LifecycleStageChanged(account_id=account_id, previous_stage=previous_stage, stage=stage)
    )


def integrity_error_as_domain_error(error: IntegrityError) -> DomainError:
    """A constraint that fired despite validation (a concurrent write): name the field."""
    diag = getattr(error.__cause__, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or "a database constraint"
    if constraint.endswith("_external_id_unique"):
        return Conflict(
            "Another record already has this source_system and external_id.",
            fields={"external_id": ["Already used by another record of this source system."]},
        )
    return DomainError(f"The record violates {constraint}.")


def _save(instance: models.Model) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:
        raise integrity_error_as_domain_error(error) from error


def _apply(instance: RecordT, data: Mapping[str, Any]) -> RecordT:
    for field, value in data.items():
        setattr(instance, field, value)
    if isinstance(instance, Lead):
        instance.converted_at = rules.lead_converted_at(instance.status, instance.converted_at)
    return instance


def scored_account_ids(instance: models.Model) -> set[int]:
    """The accounts whose scores a record feeds (contacts and the account itself feed none)."""
    if isinstance(instance, Account | Contact):
        return set()
    if isinstance(instance, Milestone):
        return {instance.plan.account_id}
    if isinstance(instance, Lead):
        return {instance.converted_account_id} if instance.converted_account_id else set()
    account_id = getattr(instance, "account_id", None)
    return {account_id} if isinstance(account_id, int) else set()


# --- accounts ---------------------------------------------------------------------------


@transaction.atomic
def account_create(*, data: Mapping[str, Any]) -> Account:
    account = _apply(Account(), rules.record_checked(model=Account, instance=None, data=data))
    _save(account)
    # A new account has no score yet: it is due for its first one.
    accounts_touch(account_ids=[account.pk])
    account.refresh_from_db(fields=["rescore_requested_at"])
    return account


@transaction.atomic
def account_update(*, account: Account, data: Mapping[str, Any]) -> Account:
    """Change an account. Its scores are computed from the records below it, so editing the
    account itself requests no rescore; a new lifecycle stage is published as its own event."""
    previous_stage = (
        Account.objects.select_for_update()
        .values_list("lifecycle_stage", flat=True)
        .get(pk=account.pk)
    )
    _apply(account, rules.record_checked(model=Account, instance=account, data=data))
    _save(account)
    if account.lifecycle_stage != previous_stage:
        lifecycle_stage_changed(
            account_id=account.pk, previous_stage=previous_stage, stage=account.lifecycle_stage
        )
    return account


@transaction.atomic
def account_delete(*, account: Account) -> None:
    """Delete an account and everything recorded about it.

    Refused while it has subscription terms: revenue already reported (MRR, retention) would
    change after the fact. Mark such an account churned instead.
    """
    if account.subscriptions.exists():
        raise Conflict(
            "This account has subscription history that revenue metrics are built on; "
            "set its lifecycle_stage to churned instead of deleting it.",
        )
    account.delete()


def account_from_source_get_or_create(
    *, source_system: str, external_id: str, defaults: Mapping[str, Any]
) -> tuple[Account, bool]:
    """The account a source system knows by this id, created from `defaults` if it is new.

    The caller marks the account for rescoring with the rest of what it wrote."""
    return Account.objects.get_or_create(
        source_system=source_system, external_id=external_id, defaults=dict(defaults)
    )


def account_fields_set(*, account: Account, fields: Mapping[str, Any]) -> Account:
    """Change some fields of an account as a source system reported them (no stage change)."""
    _apply(account, fields)
    account.save(update_fields=[*fields, "updated_at"])
    return account


# --- records that belong to an account -------------------------------------------------


@transaction.atomic
def record_create(*, model: type[RecordT], data: Mapping[str, Any]) -> RecordT:
    record = _apply(model(), rules.record_checked(model=model, instance=None, data=data))
    _save(record)
    accounts_touch(account_ids=scored_account_ids(record))
    if isinstance(record, Subscription):
        revenue_terms_changed(account_ids={record.account_id})
    return record


@transaction.atomic
def record_update(*, instance: RecordT, data: Mapping[str, Any]) -> RecordT:
    before = scored_account_ids(instance)
    _apply(instance, rules.record_checked(model=type(instance), instance=instance, data=data))
    _save(instance)
    # A record moved to another account changes the scores of both.
    accounts_touch(account_ids=before | scored_account_ids(instance))
    if isinstance(instance, Subscription):
        revenue_terms_changed(account_ids=before | {instance.account_id})
    return instance


@transaction.atomic
def record_delete(*, instance: models.Model) -> None:
    touched = scored_account_ids(instance)
    instance.delete()
    accounts_touch(account_ids=touched)
    if isinstance(instance, Subscription):
        revenue_terms_changed(account_ids=touched)


@transaction.atomic
def onboarding_plan_create(
    *, data: Mapping[str, Any], milestones: Sequence[Mapping[str, Any]] = ()
) -> OnboardingPlan:
    plan = _apply(
        OnboardingPlan(), rules.record_checked(model=OnboardingPlan, instance=None, data=data)
    )
    _save(plan)
    Milestone.objects.bulk_create(
        [
            Milestone(plan=plan, **{"position": position, **milestone})
            for position, milestone in enumerate(milestones)
        ]
    )
    accounts_touch(account_ids=[plan.account_id])
    return plan
