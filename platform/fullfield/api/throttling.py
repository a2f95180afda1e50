from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class PerCredentialRateThrottle(SimpleRateThrottle):
    """One budget per API key (or per user, or per client address when anonymous).

    A fixed window counted with Redis INCR (Django's cache.incr), one atomic step per request:
    DRF's own throttle reads a list of timestamps and writes it back, so concurrent requests
    of one key overwrite each other's entries and the budget leaks. The cache key function
    prefixes every key with the tenant schema, so budgets are per tenant.
    """

    scope = "credential"
    num_requests: int | None
    duration: int | None
    now: float
    window_ends_at: float = 0.0

    def get_cache_key(self, request: Request, view: APIView) -> str:
        key_prefix = getattr(request.auth, "prefix", None)
        if key_prefix is not None:
            ident = f"key:{key_prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.num_requests is None or self.duration is None:
            return True
        base = self.get_cache_key(request, view)
        if base is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        key = f"{base}:{window}"
        # add() is SET NX with the window's lifetime; incr() is INCRBY: no read-modify-write.
        cache.add(key, 0, timeout=self.duration + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 0, timeout=self.duration + 1)
            count = cache.incr(key)
        self.now = now
        return bool(count <= self.num_requests)

    def wait(self) -> float | None:
        return max(0.0, self.window_ends_at - self.now)
