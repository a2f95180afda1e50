"""Stripe webhooks: the tenant's endpoint secret, signature checks, and events applied to
accounts and subscription terms.

How events become terms (see apps.accounts.models.Subscription and the revenue metrics; the
term chain itself is written by apps.accounts.services.subscriptions):

- A Stripe customer is an Account (source_system "stripe", external_id = the customer id).
- Each Stripe subscription is a chain of terms with external_id "<subscription id>:<start>".
  Its open term carries the current MRR; a change of MRR on day D closes it (period_end = D)
  and opens a new term at D (upgrade or downgrade). A change on the day the term began
  rewrites that term instead (terms are whole days), merging back into the previous term when
  the MRR returns to it.
- Cancellation (status canceled, incomplete_expired or paused) ends the open term and opens a
  zero-MRR row with status canceled and change_kind cancellation, so the churn date is on
  record; MRR, which counts only active and past_due terms, is unaffected by that row. A
  subscription that starts and ends on the same day leaves no term.
- A term opened when the account has no other term in force is `new` for a first customer and
  `reactivation` after a churn; one opened while another subscription is in force is `upgrade`.
- invoice.payment_failed marks the open term past_due, invoice.paid active.

Ordering and replays: each event id is stored once (StripeEvent), so a replay changes nothing.
Stripe sends whole snapshots, possibly out of order, so each customer and subscription keeps the
`created` time of the newest event applied (StripeObjectState); an older event is skipped as
superseded. Events created in the same second are applied in arrival order. Invoice events keep
their own watermark, so a payment result newer than the last subscription snapshot survives a
snapshot that arrives later but was created earlier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Account, Subscription
from apps.accounts.services.records import (
    account_fields_set,
    account_from_source_get_or_create,
    accounts_touch,
)
from apps.accounts.services.subscriptions import (
    account_lifecycle_follow_terms,
    subscription_term_continue,
    subscription_term_end,
    subscription_term_historical,
    subscription_term_status_set,
    subscription_terms_exist,
)
from apps.integrations.models import Job, StripeConnection, StripeEvent, StripeObjectState
from apps.integrations.stripe.mapping import (
    StripeEventRefused,
    check_currency,
    customer_fields,
    invoice_subscription_id,
    subscription_snapshot,
    timestamp_to_datetime,
)
from apps.integrations.stripe.selectors import stripe_connection_get
from fullfield.errors import DomainError, NotFound
from fullfield.tenancy.context import current_tenant

SOURCE_SYSTEM = "stripe"
MIN_TOLERANCE_SECONDS = 10
MAX_TOLERANCE_SECONDS = 3600


class StripeNotConnected(NotFound):
    code = "stripe_not_connected"


class InvalidStripeSignature(DomainError):
    code = "invalid_signature"


class StaleStripeSignature(DomainError):
    code = "signature_expired"


# --- the connection ----------------------------------------------------------------------


@transaction.atomic
def stripe_connection_set(*, endpoint_secret: str, tolerance_seconds: int) -> StripeConnection:
    """Store (or replace) the tenant's Stripe endpoint secret."""
    errors: dict[str, list[str]] = {}
    secret = endpoint_secret.strip()
    if not secret.startswith("whsec_") or len(secret) < 20 or any(c.isspace() for c in secret):
        errors["endpoint_secret"] = [
            "Paste the endpoint's signing secret from the Stripe dashboard (it starts with whsec_)."
        ]
    if not MIN_TOLERANCE_SECONDS <= tolerance_seconds <= MAX_TOLERANCE_SECONDS:
        errors["tolerance_seconds"] = [
            f"Choose between {MIN_TOLERANCE_SECONDS} and {MAX_TOLERANCE_SECONDS} seconds."
        ]
    if errors:
        raise DomainError("The Stripe connection is invalid.", fields=errors)
    connection, _ = StripeConnection.objects.update_or_create(
        pk=StripeConnection.SINGLETON_ID,
        defaults={"endpoint_secret": secret, "tolerance_seconds": tolerance_seconds},
    )
    return connection


def stripe_connection_delete() -> None:
    deleted, _ = StripeConnection.objects.filter(pk=StripeConnection.SINGLETON_ID).delete()
    if not deleted:
        raise StripeNotConnected("Stripe is not connected for this tenant.")


def stripe_signature_verify(
    *, payload: bytes, header: str | None, secret: str, tolerance: int
) -> None:
    """Check `Stripe-Signature` with Stripe's own code; a stale timestamp gets its own error."""
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except stripe.SignatureVerificationError as error:
        raise InvalidStripeSignature(
            "The Stripe-Signature header does not verify with this tenant's endpoint secret: "
            f"{error.user_message}"
        ) from error
    except UnicodeDecodeError as error:
        raise InvalidStripeSignature("The request body is not UTF-8 text.") from error
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as error:
        raise StaleStripeSignature(
            f"The Stripe-Signature timestamp is more than {tolerance} seconds old. Stripe signs "
            "every attempt afresh, so this is a replayed request or a clock far off."
        ) from error


# --- receiving an event --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StripeReceipt:
    event_id: str
    event_type: str
    outcome: str
    job_id: int
    account_ids: list[int]
    notes: list[str]


@dataclasses.dataclass(frozen=True)
class StripeEventEnvelope:
    event_id: str
    event_type: str
    created: dt.datetime
    object: Mapping[str, Any]


@dataclasses.dataclass
class _Effects:
    outcome: str = StripeEvent.Outcome.APPLIED
    account_ids: set[int] = dataclasses.field(default_factory=set)
    notes: list[str] = dataclasses.field(default_factory=list)


def stripe_webhook_receive(*, payload: bytes, signature_header: str | None) -> StripeReceipt:
    """Verify, then apply one Stripe event exactly once; every delivery is recorded as a Job."""
    connection = stripe_connection_get()
    if connection is None:
        raise StripeNotConnected(
            "Stripe is not connected for this tenant: an administrator stores the endpoint's "
            "signing secret at /api/v1/stripe/connection/ first."
        )
    stripe_signature_verify(
        payload=payload,
        header=signature_header,
        secret=connection.endpoint_secret,
        tolerance=connection.tolerance_seconds,
    )
    started_at = timezone.now()
    parameters: dict[str, Any] = {}
    try:
        envelope = _parse_event(payload, parameters)
        with transaction.atomic():
            effects = _apply_event(envelope)
            job = _record_job(parameters, effects=effects, started_at=started_at)
    except StripeEventRefused as refusal:
        job = _record_job(parameters, refusal=refusal, started_at=started_at)
        raise StripeEventRefused(
            f"{refusal.message} Recorded as job {job.pk}.", fields=refusal.fields
        ) from refusal
    return StripeReceipt(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        outcome=effects.outcome,
        job_id=job.pk,
        account_ids=sorted(effects.account_ids),
        notes=effects.notes,
    )


def _parse_event(payload: bytes, parameters: dict[str, Any]) -> StripeEventEnvelope:
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise StripeEventRefused("The body is not JSON.") from error
    if not isinstance(event, dict):
        raise StripeEventRefused("The body is not a Stripe event object.")
    event_id, event_type = event.get("id"), event.get("type")
    parameters.update(event_id=event_id, event_type=event_type)
    errors: dict[str, list[str]] = {}
    if not isinstance(event_id, str) or not event_id:
        errors["id"] = ["Missing."]
    if not isinstance(event_type, str) or not event_type:
        errors["type"] = ["Missing."]
    data_object = (
        (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    )
    if not isinstance(data_object, dict):
        errors["data.object"] = ["Missing."]
    if errors:
        raise StripeEventRefused("The body is not a Stripe event object.", fields=errors)
    created = timestamp_to_datetime(event.get("created"), field="created")
    return StripeEventEnvelope(
        event_id=str(event_id),
        event_type=str(event_type),
        created=created,
        object=data_object or {},
    )


def _record_job(
    parameters: dict[str, Any],
    *,
    started_at: dt.datetime,
    effects: _Effects | None = None,
    refusal: StripeEventRefused | None = None,
) -> Job:
    if refusal is not None:
        errors: list[dict[str, str | None]] = [
            {"field": field, "message": message}
            for field, messages in refusal.fields.items()
            for message in messages
        ] or [{"field": None, "message": refusal.message}]
        return Job.objects.create(
            kind=Job.Kind.STRIPE,
            status=Job.Status.FAILED,
            total=1,
            processed=1,
            rejected=1,
            errors=errors,
            parameters={**parameters, "outcome": "refused", "reason": refusal.message},
            started_at=started_at,
            finished_at=timezone.now(),
        )
    assert effects is not None
    return Job.objects.create(
        kind=Job.Kind.STRIPE,
        status=Job.Status.SUCCEEDED,
        total=1,
        processed=1,
        accepted=int(effects.outcome == StripeEvent.Outcome.APPLIED),
        duplicates=int(effects.outcome == "duplicate"),
        parameters={
            **parameters,
            "outcome": effects.outcome,
            "account_ids": sorted(effects.account_ids),
            "notes": effects.notes,
        },
        started_at=started_at,
        finished_at=timezone.now(),
    )


Handler = Callable[[StripeEventEnvelope, _Effects], None]


def _apply_event(envelope: StripeEventEnvelope) -> _Effects:
    effects = _Effects()
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                event_id=envelope.event_id,
                event_type=envelope.event_type,
                created=envelope.created,
                outcome=StripeEvent.Outcome.APPLIED,
            )
    except IntegrityError:
        # Another delivery of this event committed first (or is committing: the insert waited).
        effects.outcome = "duplicate"
        return effects
    handler = HANDLERS.get(envelope.event_type)
    if handler is None:
        effects.outcome = StripeEvent.Outcome.IGNORED
        effects.notes.append(f"Fullfield does not map {envelope.event_type} events.")
    else:
        handler(envelope, effects)
    if effects.outcome != StripeEvent.Outcome.APPLIED:
        StripeEvent.objects.filter(pk=record.pk).update(outcome=effects.outcome)
    accounts_touch(account_ids=effects.account_ids)
    return effects


def _lock_state(object_type: str, stripe_id: str) -> StripeObjectState:
    StripeObjectState.objects.bulk_create(
        [StripeObjectState(object_type=object_type, stripe_id=stripe_id)], ignore_conflicts=True
    )
    return StripeObjectState.objects.select_for_update().get(
        object_type=object_type, stripe_id=stripe_id
    )


def _is_superseded(state: StripeObjectState, created: dt.datetime, effects: _Effects) -> bool:
    if state.last_event_created is not None and created < state.last_event_created:
        effects.outcome = StripeEvent.Outcome.SUPERSEDED
        effects.notes.append(
            f"A newer event ({state.last_event_id}) was already applied to {state.stripe_id}."
        )
        return True
    return False


def _mark_applied(state: StripeObjectState, envelope: StripeEventEnvelope) -> None:
    state.last_event_created = envelope.created
    state.last_event_id = envelope.event_id
    state.save()


# --- customers -----------------------------------------------------------------------------


def _customer_id(envelope: StripeEventEnvelope) -> str:
    customer_id = envelope.object.get("id")
    if not isinstance(customer_id, str) or not customer_id:
        raise StripeEventRefused("The customer has no id.", fields={"data.object.id": ["Missing."]})
    return customer_id


def _customer_upsert(envelope: StripeEventEnvelope, effects: _Effects) -> None:
    customer_id = _customer_id(envelope)
    fields = customer_fields(envelope.object, tenant_currency=current_tenant().currency)
    state = _lock_state(StripeObjectState.ObjectType.CUSTOMER, customer_id)
    if _is_superseded(state, envelope.created, effects):
        return
    account, created = account_from_source_get_or_create(
        source_system=SOURCE_SYSTEM,
        external_id=customer_id,
        defaults={"name": fields.name, "domain": fields.domain, "currency": fields.currency},
    )
    if not created:
        account_fields_set(
            account=account,
            fields={
                "name": fields.name,
                "domain": fields.domain or account.domain,
                "currency": fields.currency,
            },
        )
    state.account = account
    _mark_applied(state, envelope)
    effects.account_ids.add(account.pk)


def _customer_deleted(envelope: StripeEventEnvelope, effects: _Effects) -> None:
    """The account and its history stay; Stripe ends the subscriptions with their own events."""
    customer_id = _customer_id(envelope)
    state = _lock_state(StripeObjectState.ObjectType.CUSTOMER, customer_id)
    if _is_superseded(state, envelope.created, effects):
        return
    account = Account.objects.filter(source_system=SOURCE_SYSTEM, external_id=customer_id).first()
    if account is None:
        effects.notes.append(f"No account for customer {customer_id}; nothing to mark deleted.")
    else:
        account_fields_set(
            account=account,
            fields={
                "attributes": {
                    **account.attributes,
                    "stripe_customer_deleted_at": envelope.created.isoformat(),
                }
            },
        )
        state.account = account
        effects.account_ids.add(account.pk)
    _mark_applied(state, envelope)


def _account_for_customer(customer_id: str) -> Account:
    account = Account.objects.filter(source_system=SOURCE_SYSTEM, external_id=customer_id).first()
    if account is not None:
        return account
    tenant = current_tenant()
    if not tenant.ingest_creates_unknown_accounts:
        raise StripeEventRefused(
            f"Customer {customer_id} is not an account yet, and this tenant does not create "
            "accounts from records naming unknown ones; Stripe will retry after the "
            "customer.created event.",
            fields={"data.object.customer": [f"Unknown customer {customer_id}."]},
        )
    # A subscription event may arrive before its customer's: the customer event fills in the name.
    account, _ = account_from_source_get_or_create(
        source_system=SOURCE_SYSTEM,
        external_id=customer_id,
        defaults={"name": customer_id, "currency": tenant.currency},
    )
    return account


# --- subscriptions -------------------------------------------------------------------------


def _subscription_changed(envelope: StripeEventEnvelope, effects: _Effects) -> None:
    snapshot = subscription_snapshot(envelope.object, tenant_currency=current_tenant().currency)
    effects.notes.extend(snapshot.notes)
    state = _lock_state(StripeObjectState.ObjectType.SUBSCRIPTION, snapshot.subscription_id)
    if _is_superseded(state, envelope.created, effects):
        return
    account = _account_for_customer(snapshot.customer_id)
    current = (
        Subscription.objects.select_for_update().filter(pk=state.current_term_id).first()
        if state.current_term_id
        else None
    )
    first_seen = current is None and not subscription_terms_exist(
        account=account, source_system=SOURCE_SYSTEM, subscription_id=snapshot.subscription_id
    )
    event_day = envelope.created.date()

    if snapshot.ended:
        if first_seen:
            current = subscription_term_historical(
                account=account, source_system=SOURCE_SYSTEM, snapshot=snapshot
            )
        end = snapshot.ended_on or event_day
        current = subscription_term_end(
            account=account,
            source_system=SOURCE_SYSTEM,
            snapshot=snapshot,
            current=current,
            end=end,
        )
    elif snapshot.term_status is None:
        effects.notes.append(
            f"{snapshot.subscription_id} is {snapshot.stripe_status}: no term until it is paid."
        )
    else:
        status = snapshot.term_status
        newer_payment = state.last_payment_event_created
        if (
            current is not None
            and current.status in Subscription.IN_FORCE_STATUSES
            and status in Subscription.IN_FORCE_STATUSES
            and newer_payment is not None
            and newer_payment > envelope.created
        ):
            status = current.status  # a newer invoice event already set the payment state
        start = snapshot.start_date if first_seen else event_day
        current = subscription_term_continue(
            account=account,
            source_system=SOURCE_SYSTEM,
            snapshot=snapshot,
            current=current,
            status=status,
            on=start,
        )

    state.account = account
    state.current_term = current
    _mark_applied(state, envelope)
    effects.account_ids.add(account.pk)
    account_lifecycle_follow_terms(account=account)


# --- invoices ------------------------------------------------------------------------------


def _invoice_payment(status: str) -> Handler:
    def apply(envelope: StripeEventEnvelope, effects: _Effects) -> None:
        invoice = envelope.object
        check_currency(
            invoice.get("currency"),
            field="data.object.currency",
            tenant_currency=current_tenant().currency,
        )
        subscription_id = invoice_subscription_id(invoice)
        if subscription_id is None:
            effects.outcome = StripeEvent.Outcome.IGNORED
            effects.notes.append("The invoice bills no subscription.")
            return
        state = (
            StripeObjectState.objects.select_for_update()
            .filter(
                object_type=StripeObjectState.ObjectType.SUBSCRIPTION, stripe_id=subscription_id
            )
            .first()
        )
        term = (
            Subscription.objects.select_for_update().filter(pk=state.current_term_id).first()
            if state is not None and state.current_term_id
            else None
        )
        if state is None or term is None:
            # The subscription's own events carry its status too; nothing is lost.
            effects.outcome = StripeEvent.Outcome.IGNORED
            effects.notes.append(f"No term for subscription {subscription_id} yet.")
            return
        watermarks = [t for t in (state.last_event_created, state.last_payment_event_created) if t]
        if watermarks and envelope.created < max(watermarks):
            effects.outcome = StripeEvent.Outcome.SUPERSEDED
            effects.notes.append(f"A newer event already set the state of {subscription_id}.")
            return
        if term.status not in Subscription.IN_FORCE_STATUSES:
            effects.outcome = StripeEvent.Outcome.IGNORED
            effects.notes.append(f"The term of {subscription_id} is {term.status}, not billed.")
            return
        subscription_term_status_set(term=term, status=status)
        state.last_payment_event_created = envelope.created
        state.save(update_fields=["last_payment_event_created"])
        effects.account_ids.add(term.account_id)

    return apply


HANDLERS: dict[str, Handler] = {
    "customer.created": _customer_upsert,
    "customer.updated": _customer_upsert,
    "customer.deleted": _customer_deleted,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "customer.subscription.paused": _subscription_changed,
    "customer.subscription.resumed": _subscription_changed,
    "invoice.payment_failed": _invoice_payment(Subscription.Status.PAST_DUE),
    "invoice.paid": _invoice_payment(Subscription.Status.ACTIVE),
    "invoice.payment_succeeded": _invoice_payment(Subscription.Status.ACTIVE),
}
"""The event types Fullfield maps; any other type is acknowledged and recorded as ignored."""
