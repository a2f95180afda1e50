from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.models import WebhookDelivery, WebhookEndpoint
from apps.integrations.webhooks.event_types import EVENT_TYPES
from apps.integrations.webhooks.selectors import (
    webhook_delivery_get,
    webhook_delivery_list,
    webhook_endpoint_get,
    webhook_endpoint_list,
)
from apps.integrations.webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_send_test,
    webhook_endpoint_update,
)
from fullfield.api.pagination import CursorPagination
from fullfield.api.permissions import IsTenantAdmin

DELIVERY_DOC = """
Each event is POSTed as JSON `{"id", "type", "created_at", "tenant", "data"}` with the headers
`Fullfield-Event-Id`, `Fullfield-Event-Type`, `Fullfield-Delivery-Id`,
`Fullfield-Delivery-Attempt` and `Fullfield-Signature: t=<unix seconds>,v1=<hex>`.

**Verifying a delivery.** `<hex>` is HMAC-SHA256, keyed with the endpoint's secret, of the bytes
`<t>.<raw body>` (the timestamp, a dot, then the request body exactly as received). Recompute it,
compare in constant time, and reject a `t` more than 5 minutes from your clock. In Python:

    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) <= 300

**Retries.** Any answer but 2xx (redirects are not followed; timeouts: 3 s to connect, 10 s to
answer) is retried after 1 min, 5 min, 25 min, ~2 h, then every 6 h, up to 8 attempts. Delivery
is at least once: deduplicate by `Fullfield-Event-Id`. After 5 failed deliveries in a row the
endpoint is disabled (`disabled_reason` says why); re-enable it with `PATCH {"enabled": true}`.
(Attempts and the disabling threshold are the deployment's defaults.)

**Targets.** Only http(s) URLs whose host resolves to public addresses are accepted (private,
loopback, link-local, multicast and reserved addresses are refused, when saving and before each
attempt).
"""


def _event_types_text() -> str:
    return "; ".join(f"`{name}`: {meaning}" for name, meaning in EVENT_TYPES.items())


class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "enabled",
            "consecutive_failures",
            "disabled_reason",
            "disabled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret. Shown this once; store it now to verify signatures."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointInputSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=len(EVENT_TYPES),
        help_text=f"Event types to receive. {_event_types_text()}.",
    )


class WebhookEndpointUpdateSerializer(WebhookEndpointInputSerializer):
    url = serializers.URLField(max_length=500, required=False)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=len(EVENT_TYPES), required=False
    )
    enabled = serializers.BooleanField(
        required=False,
        help_text="false disables the endpoint; true re-enables it and resets its failure count.",
    )


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_type",
            "event_id",
            "is_test",
            "status",
            "attempts",
            "response_code",
            "response_excerpt",
            "last_error",
            "duration_ms",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields


class WebhookEventTypeSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    description = serializers.CharField()


class WebhookEventTypeListApi(APIView):
    permission_classes = [IsTenantAdmin]
    pagination_class = None

    @extend_schema(
        responses=WebhookEventTypeSerializer(many=True),
        operation_id="webhook_event_types_list",
        description="The event types an endpoint can subscribe to." + DELIVERY_DOC,
    )
    def get(self, request: Request) -> Response:
        rows = [{"name": name, "description": text} for name, text in EVENT_TYPES.items()]
        return Response(WebhookEventTypeSerializer(rows, many=True).data)


class WebhookEndpointListCreateApi(APIView):
    permission_classes = [IsTenantAdmin]
    pagination_class = CursorPagination  # declares the list paginated in the schema

    @extend_schema(
        responses=WebhookEndpointSerializer(many=True), operation_id="webhook_endpoints_list"
    )
    def get(self, request: Request) -> Response:
        paginator = CursorPagination()
        page = paginator.paginate_queryset(webhook_endpoint_list(), request, view=self)
        return paginator.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        request=WebhookEndpointInputSerializer,
        responses={
            201: WebhookEndpointCreatedSerializer,
            400: OpenApiResponse(
                description="`error.fields.url` (unsafe or unresolvable target) or "
                "`error.fields.event_types` (unknown types, by index)."
            ),
        },
        operation_id="webhook_endpoints_create",
        description="Subscribe a URL to event types. The response carries the signing secret, "
        "shown only this once." + DELIVERY_DOC,
    )
    def post(self, request: Request) -> Response:
        payload = WebhookEndpointInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        endpoint, secret = webhook_endpoint_create(**payload.validated_data)
        body = {**WebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(responses=WebhookEndpointSerializer, operation_id="webhook_endpoints_get")
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        request=WebhookEndpointUpdateSerializer,
        responses=WebhookEndpointSerializer,
        operation_id="webhook_endpoints_update",
    )
    def patch(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        payload = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **payload.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None}, operation_id="webhook_endpoints_delete")
    def delete(self, request: Request, endpoint_id: int) -> Response:
        webhook_endpoint_delete(endpoint=webhook_endpoint_get(endpoint_id=endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointTestApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(
        request=None,
        responses=WebhookDeliverySerializer,
        operation_id="webhook_endpoints_send_test",
        description="Send a `webhook.test` event to the endpoint now (one attempt, no retries, "
        "also when the endpoint is disabled) and return the delivery with the response code.",
    )
    def post(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        delivery = webhook_endpoint_send_test(endpoint=endpoint)
        return Response(WebhookDeliverySerializer(delivery).data)


class DeliveryQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)


class WebhookDeliveryListApi(APIView):
    permission_classes = [IsTenantAdmin]
    pagination_class = CursorPagination  # declares the list paginated in the schema

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=WebhookDelivery.Status.values, required=False)],
        responses=WebhookDeliverySerializer(many=True),
        operation_id="webhook_deliveries_list",
        description="The endpoint's delivery log, newest first.",
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = webhook_delivery_list(
            endpoint=endpoint, status=query.validated_data.get("status")
        )
        paginator = CursorPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)


class WebhookDeliveryDetailApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(responses=WebhookDeliverySerializer, operation_id="webhook_deliveries_get")
    def get(self, request: Request, endpoint_id: int, delivery_id: int) -> Response:
        endpoint = webhook_endpoint_get(endpoint_id=endpoint_id)
        delivery = webhook_delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        return Response(WebhookDeliverySerializer(delivery).data)
