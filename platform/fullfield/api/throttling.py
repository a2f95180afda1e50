from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

# A sliding log in one atomic step: drop entries older than the window, count the rest, and
# admit (recording this request) only under the budget; refused requests are not recorded, so
# hammering does not extend the wait. Redis's own clock keeps several web servers in step.
# Returns {admitted (1/0), milliseconds until the oldest entry leaves the window}.
_SLIDING_LOG = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""


class PerCredentialRateThrottle(SimpleRateThrottle):
    """One budget per API key (or per user, or per client address when anonymous).

    An exact sliding window kept in Redis by one Lua script per request, so no more than the
    budget passes in any window, whatever the concurrency and wherever a burst falls: DRF's
    own throttle reads a list of timestamps and writes it back (concurrent requests overwrite
    each other's entries), and a fixed-window counter lets twice the budget through a burst
    that straddles a window's edge. The cache's key function prefixes every key with the
    tenant schema, so budgets are per tenant.
    """

    scope = "credential"
    num_requests: int | None
    duration: int | None
    retry_after_ms: int = 0

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
        key = cache.make_and_validate_key(self.get_cache_key(request, view))
        client = cast(Any, cache)._cache.get_client(key, write=True)
        admitted, wait_ms = client.eval(
            _SLIDING_LOG, 1, key, self.duration * 1000, self.num_requests, uuid.uuid4().hex
        )
        self.retry_after_ms = int(wait_ms)
        return bool(admitted)

    def wait(self) -> float | None:
        return max(0.0, self.retry_after_ms / 1000)
