from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.models import StripeConnection
from apps.integrations.stripe.selectors import secret_hint, stripe_connection_get
from apps.integrations.stripe.services import (
    HANDLERS,
    MAX_TOLERANCE_SECONDS,
    MIN_TOLERANCE_SECONDS,
    stripe_connection_delete,
    stripe_connection_set,
    stripe_webhook_receive,
)
from fullfield.api.permissions import IsTenantAdmin


class StripeConnectionSerializer(serializers.Serializer[Any]):
    connected = serializers.BooleanField()
    secret_hint = serializers.CharField(
        allow_null=True, help_text="The secret's last characters; the secret is never returned."
    )
    tolerance_seconds = serializers.IntegerField(allow_null=True)
    webhook_url = serializers.CharField(help_text="The URL to enter as the endpoint in Stripe.")
    created_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class StripeConnectionInputSerializer(serializers.Serializer[Any]):
    endpoint_secret = serializers.CharField(
        max_length=200,
        write_only=True,
        help_text="The endpoint's signing secret from the Stripe dashboard (whsec_...).",
    )
    tolerance_seconds = serializers.IntegerField(
        min_value=MIN_TOLERANCE_SECONDS,
        max_value=MAX_TOLERANCE_SECONDS,
        default=300,
        help_text="How old a signature may be, in seconds (Stripe's default is 300).",
    )


def _connection_body(request: Request, connection: StripeConnection | None) -> dict[str, Any]:
    return StripeConnectionSerializer(
        {
            "connected": connection is not None,
            "secret_hint": secret_hint(connection.endpoint_secret) if connection else None,
            "tolerance_seconds": connection.tolerance_seconds if connection else None,
            "webhook_url": request.build_absolute_uri(reverse("stripe-webhook")),
            "created_at": connection.created_at if connection else None,
            "updated_at": connection.updated_at if connection else None,
        }
    ).data


class StripeConnectionApi(APIView):
    """The tenant's Stripe connection (administrators only)."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(responses=StripeConnectionSerializer, operation_id="stripe_connection_get")
    def get(self, request: Request) -> Response:
        return Response(_connection_body(request, stripe_connection_get()))

    @extend_schema(
        request=StripeConnectionInputSerializer,
        responses=StripeConnectionSerializer,
        operation_id="stripe_connection_set",
        description="Store or replace the endpoint's signing secret.",
    )
    def put(self, request: Request) -> Response:
        payload = StripeConnectionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        connection = stripe_connection_set(**payload.validated_data)
        return Response(_connection_body(request, connection))

    @extend_schema(responses={204: None}, operation_id="stripe_connection_delete")
    def delete(self, request: Request) -> Response:
        stripe_connection_delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class StripeReceiptSerializer(serializers.Serializer[Any]):
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["applied", "duplicate", "superseded", "ignored"],
        help_text=(
            "applied; duplicate (this event id was already handled: nothing changed); "
            "superseded (an event created later was already applied to the same object); "
            "ignored (an event type Fullfield does not map)."
        ),
    )
    job_id = serializers.IntegerField(help_text="The job recording this delivery.")
    account_ids = serializers.ListField(child=serializers.IntegerField())
    notes = serializers.ListField(child=serializers.CharField())


class StripeWebhookApi(APIView):
    # Stripe authenticates by signature with the tenant's endpoint secret; the host names the
    # tenant. No session, so no CSRF check either.
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="stripe_webhook_receive",
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: StripeReceiptSerializer,
            400: OpenApiResponse(
                description="`invalid_signature` (the Stripe-Signature header does not verify), "
                "`signature_expired` (its timestamp is older than the tolerance)."
            ),
            404: OpenApiResponse(description="`stripe_not_connected`: no endpoint secret stored."),
            422: OpenApiResponse(
                description="`event_refused`: a signed event Fullfield will not apply (e.g. money "
                "in a currency other than the tenant's); recorded as a failed job."
            ),
        },
        description=(
            "Stripe's webhook endpoint for this tenant. Point a Stripe webhook endpoint here, "
            "store its signing secret with `PUT /api/v1/stripe/connection/`, and subscribe to: "
            + ", ".join(sorted(HANDLERS))
            + ". Each event is applied once (by event id); an event created before one already "
            "applied to the same customer or subscription is skipped. MRR is the list price of "
            "the subscription items per month (discounts and taxes are not applied)."
        ),
    )
    def post(self, request: Request) -> Response:
        receipt = stripe_webhook_receive(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature")
        )
        return Response(StripeReceiptSerializer(receipt).data)
