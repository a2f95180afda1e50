"""Operator API on the public host: provision, list and delete tenants."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fullfield.api import schema  # noqa: F401  (registers the OpenAPI auth scheme)
from fullfield.api.permissions import IsPlatformOperator, IsTenantAdmin
from fullfield.errors import DomainError
from fullfield.tenancy.context import current_tenant
from fullfield.tenancy.models import Tenant
from fullfield.tenancy.selectors import tenant_list
from fullfield.tenancy.services import tenant_create, tenant_delete, tenant_settings_update
from fullfield.users.signin import ThrottledBasicAuthentication


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "currency", "ready", "created"]
        read_only_fields = fields


class TenantCreateSerializer(serializers.Serializer[Any]):
    slug = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    admin_email = serializers.EmailField()
    admin_password = serializers.CharField(required=False, min_length=10, write_only=True)
    currency = serializers.CharField(
        required=False, default="USD", help_text="ISO 4217 code; fixed for the tenant's life."
    )


class OperatorApi(APIView):
    authentication_classes = [ThrottledBasicAuthentication, SessionAuthentication]
    permission_classes = [IsPlatformOperator]


class TenantListSerializer(serializers.Serializer[Any]):
    results = TenantSerializer(many=True)


class TenantCreatedSerializer(TenantSerializer):
    url = serializers.CharField(help_text="Where the tenant is served.")
    admin_email = serializers.EmailField()
    admin_password = serializers.CharField(help_text="Shown this once.")

    class Meta(TenantSerializer.Meta):
        fields = [*TenantSerializer.Meta.fields, "url", "admin_email", "admin_password"]
        read_only_fields = fields


class TenantListCreateApi(OperatorApi):
    @extend_schema(responses=TenantListSerializer, operation_id="operator_tenants_list")
    def get(self, request: Request) -> Response:
        return Response({"results": TenantSerializer(tenant_list(), many=True).data})

    @extend_schema(request=TenantCreateSerializer, responses={201: TenantCreatedSerializer})
    def post(self, request: Request) -> Response:
        payload = TenantCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        provisioned = tenant_create(**payload.validated_data)
        body = {
            **TenantSerializer(provisioned.tenant).data,
            "url": provisioned.url,
            "admin_email": provisioned.admin_email,
            "admin_password": provisioned.admin_password,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class TenantDetailApi(OperatorApi):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        tenant_delete(slug=slug)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TenantSettingsSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "currency", "ingest_creates_unknown_accounts", "created"]
        read_only_fields = ["slug", "currency", "created"]


class TenantSettingsApi(APIView):
    """The current tenant's settings: anyone signed in reads them, tenant admins change them."""

    def get_permissions(self) -> Sequence[Any]:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return super().get_permissions()
        return [IsTenantAdmin()]

    @extend_schema(responses=TenantSettingsSerializer, operation_id="tenant_settings")
    def get(self, request: Request) -> Response:
        return Response(TenantSettingsSerializer(current_tenant()).data)

    @extend_schema(
        request=TenantSettingsSerializer,
        responses=TenantSettingsSerializer,
        operation_id="tenant_settings_update",
    )
    def patch(self, request: Request) -> Response:
        writable = {"name", "ingest_creates_unknown_accounts"}
        refused = {
            field: [
                "This field is read-only."
                if field in {"slug", "currency", "created"}
                else "Unknown field."
            ]
            for field in request.data
            if field not in writable
        }
        if refused:
            raise DomainError("The request has fields that cannot be changed.", fields=refused)
        payload = TenantSettingsSerializer(current_tenant(), data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        tenant = tenant_settings_update(tenant=current_tenant(), **payload.validated_data)
        return Response(TenantSettingsSerializer(tenant).data)
