from __future__ import annotations

from typing import Any, cast

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.integrations.models import ApiKey
from fullfield.users.signin import API_KEY, client_address, signin_failed, throttle_or_raise


class ApiKeyPrincipal:
    """request.user for a call made with an API key: authenticated, but not a person."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"api-key:{self.api_key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>` (or `Bearer <key>`), looked up by prefix in this tenant."""

    keywords = ("api-key", "bearer")

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, key = header.partition(" ")
        if keyword.lower() not in self.keywords:
            return None
        return self.authenticate_key(key.strip(), request)

    def authenticate_key(self, key: str, request: Request) -> tuple[Any, ApiKey]:
        if not key:
            raise exceptions.AuthenticationFailed("The API key is missing.")
        # Guessing keys is throttled like guessing passwords: by prefix and by client address.
        prefix = key.partition(".")[0][:8]
        address = client_address(request)
        throttle_or_raise(surface=API_KEY, identifier=prefix, address=address)
        try:
            api_key = cast(ApiKey, ApiKey.objects.get_from_key(key))
        except ApiKey.DoesNotExist:
            signin_failed(surface=API_KEY, identifier=prefix, address=address)
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.") from None
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Api-Key realm="api"'
