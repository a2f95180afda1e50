from __future__ import annotations

import base64
import binascii
from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.integrations.authentication import ApiKeyAuthentication
from apps.integrations.models import ApiKey


class SegmentWriteKeyAuthentication(authentication.BaseAuthentication):
    """Segment's scheme: HTTP Basic with the write key (a Fullfield API key) as the username.

    The password is empty in Segment's libraries and is ignored here.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request)
        keyword, _, encoded = header.partition(b" ")
        if keyword.lower() != b"basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(
                "Invalid Basic credentials: expected base64 of '<write key>:'."
            ) from None
        write_key, _, _password = decoded.partition(":")
        return ApiKeyAuthentication().authenticate_key(write_key.strip(), request)

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="segment"'
