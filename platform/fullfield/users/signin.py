"""Throttling failed sign-ins on every credential surface: the sign-in form, HTTP Basic on the
operator API, and API keys (including Segment write keys).

Failures are counted per account and per client address in fixed windows (Redis INCR, atomic).
Once either count reaches its limit, attempts are refused before any password or key is hashed,
with a message saying when to retry (429 and Retry-After). A successful sign-in never counts
and clears its account's count, so users who get their password right are never slowed down.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

from fullfield.errors import DomainError

PASSWORD: Final = "password"  # noqa: S105  (a surface name) the sign-in form and operator Basic auth share one budget
API_KEY: Final = "api_key"


class SignInThrottled(DomainError):
    status_code = 429
    code = "throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many failed sign-in attempts for this account or from this address. "
            f"Try again in {retry_after} seconds."
        )
        self.retry_after = retry_after


def client_address(request: HttpRequest | Any) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _window() -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    length = settings.SIGNIN_THROTTLE_SECONDS
    now = time.time()
    number = int(now // length)
    return number, max(1, int((number + 1) * length - now) + 1)


def _counters(surface: str, identifier: str, address: str, window: int) -> list[tuple[str, int]]:
    account = identifier.strip().lower()[:200]
    return [
        (f"signin:{surface}:account:{account}:{window}", settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT),
        (f"signin:{surface}:address:{address}:{window}", settings.SIGNIN_MAX_FAILURES_PER_ADDRESS),
    ]


def signin_check(*, surface: str, identifier: str, address: str) -> None:
    """SignInThrottled (429) when this account or address has used up its failed attempts."""
    window, retry_after = _window()
    counters = _counters(surface, identifier, address, window)
    counts = cache.get_many([key for key, _ in counters])
    if any(int(counts.get(key) or 0) >= limit for key, limit in counters):
        raise SignInThrottled(retry_after)


def signin_failed(*, surface: str, identifier: str, address: str) -> None:
    window, retry_after = _window()
    for key, _ in _counters(surface, identifier, address, window):
        cache.add(key, 0, timeout=retry_after + 1)
        with contextlib.suppress(ValueError):  # the window ended between add() and incr()
            cache.incr(key)


def signin_succeeded(*, surface: str, identifier: str) -> None:
    window, _ = _window()
    cache.delete(_counters(surface, identifier, "-", window)[0][0])


class ThrottledAuthenticationForm(AuthenticationForm):
    """The sign-in form, refusing an account or address with too many failed attempts."""

    throttled: SignInThrottled | None = None

    def clean(self) -> dict[str, Any]:
        identifier = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        try:
            signin_check(surface=PASSWORD, identifier=identifier, address=address)
        except SignInThrottled as error:
            self.throttled = error
            raise ValidationError(error.message, code="throttled") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            signin_failed(surface=PASSWORD, identifier=identifier, address=address)
            raise
        signin_succeeded(surface=PASSWORD, identifier=identifier)
        return cleaned


class ThrottledLoginView(LoginView):
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        throttled = getattr(form, "throttled", None)
        if throttled is not None:
            response.status_code = 429
            response["Retry-After"] = str(throttled.retry_after)
        return response


class ThrottledBasicAuthentication(BasicAuthentication):
    """HTTP Basic (the operator API) with failed attempts throttled like the sign-in form."""

    def authenticate_credentials(
        self, userid: str, password: str, request: Any = None
    ) -> tuple[Any, None]:
        address = client_address(request) if request is not None else "unknown"
        throttle_or_raise(surface=PASSWORD, identifier=userid, address=address)
        try:
            result = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            signin_failed(surface=PASSWORD, identifier=userid, address=address)
            raise
        signin_succeeded(surface=PASSWORD, identifier=userid)
        return result


def throttle_or_raise(*, surface: str, identifier: str, address: str) -> None:
    """signin_check for DRF authentication classes: a Throttled (429 with Retry-After)."""
    try:
        signin_check(surface=surface, identifier=identifier, address=address)
    except SignInThrottled as error:
        throttled = exceptions.Throttled(wait=error.retry_after)
        throttled.detail = exceptions.ErrorDetail(error.message, code="throttled")
        raise throttled from None
