from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations.models import ApiKey
from apps.integrations.services import api_key_create, api_key_revoke
from fullfield.api.pagination import CursorPagination
from fullfield.api.permissions import IsTenantAdmin


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    # The primary key is the prefix plus the key's hash: only the prefix leaves the database.
    id = serializers.CharField(
        source="prefix", read_only=True, help_text="The key's id: its public prefix."
    )

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scope", "revoked", "created", "last_used_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=50)
    scope = serializers.ChoiceField(choices=ApiKey.Scope.choices, default=ApiKey.Scope.READ)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key itself. Shown this once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyListCreateApi(APIView):
    permission_classes = [IsTenantAdmin]
    pagination_class = CursorPagination  # declares the list paginated in the schema

    @extend_schema(responses=ApiKeySerializer(many=True), operation_id="api_keys_list")
    def get(self, request: Request) -> Response:
        paginator = CursorPagination()
        paginator.ordering = "-created"
        page = paginator.paginate_queryset(ApiKey.objects.all(), request, view=self)
        return paginator.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request: Request) -> Response:
        payload = ApiKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        api_key, key = api_key_create(
            name=payload.validated_data["name"],
            scope=payload.validated_data["scope"],
            created_by=request.user,  # type: ignore[arg-type]
        )
        body = {**ApiKeySerializer(api_key).data, "key": key}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    permission_classes = [IsTenantAdmin]

    @extend_schema(request=None, responses=ApiKeySerializer, operation_id="api_keys_revoke")
    def post(self, request: Request, key_id: str) -> Response:
        return Response(ApiKeySerializer(api_key_revoke(prefix=key_id)).data)
