"""Operator API on the public host: provision, list and delete tenants."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fullfield.api.permissions import IsPlatformOperator
from fullfield.tenancy.models import Tenant
from fullfield.tenancy.selectors import tenant_list
from fullfield.tenancy.services import tenant_create, tenant_delete


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "ready", "created"]
        read_only_fields = fields


class TenantCreateSerializer(serializers.Serializer[Any]):
    slug = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200)
    admin_email = serializers.EmailField()
    admin_password = serializers.CharField(required=False, min_length=10, write_only=True)


class OperatorApi(APIView):
    authentication_classes = [BasicAuthentication, SessionAuthentication]
    permission_classes = [IsPlatformOperator]


class TenantListCreateApi(OperatorApi):
    @extend_schema(responses=TenantSerializer(many=True), operation_id="operator_tenants_list")
    def get(self, request: Request) -> Response:
        return Response({"results": TenantSerializer(tenant_list(), many=True).data})

    @extend_schema(request=TenantCreateSerializer, responses={201: TenantSerializer})
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
