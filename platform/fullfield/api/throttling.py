from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class PerCredentialRateThrottle(SimpleRateThrottle):
    """One budget per API key (or per user, or per client address when anonymous).

    The cache key function prefixes every key with the tenant schema, so budgets are per tenant.
    """

    scope = "credential"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        key_prefix = getattr(request.auth, "prefix", None)
        if key_prefix is not None:
            ident = f"key:{key_prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
