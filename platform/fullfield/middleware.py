from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import remove_www

from fullfield.api.exceptions import SERVICE_UNAVAILABLE, service_unavailable_response
from fullfield.log_context import current_request_id, current_tenant
from fullfield.tenancy.context import current_schema

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Tags the request (and every log line it writes) with the tenant and a request id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Set, not reset afterwards: Django logs 4xx/5xx responses after the middleware chain.
        current_tenant.set(current_schema())
        current_request_id.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class HealthCheckMiddleware:
    """Answers /healthz before tenant routing, so probes by IP address (containers, load
    balancers) get the health of the process rather than a 404 for an unknown host."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            from fullfield.api.views import healthz

            return healthz(request)
        return self.get_response(request)


class TenantMiddleware(TenantMainMiddleware):  # type: ignore[misc]  # django-tenants ships no types
    """django-tenants' routing by host name, with host names compared as DNS does: without
    regard to case and to a trailing dot (ALPHA.example.com. is alpha.example.com); answering
    503 (not 500) when the database that holds the tenants cannot be reached: the request is
    fine and may be retried as it is."""

    @staticmethod
    def hostname_from_request(request: HttpRequest) -> str:
        domain, _port = split_domain_port(request.get_host())
        return str(remove_www(domain))

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            return super().process_request(request)  # type: ignore[no-any-return]
        except SERVICE_UNAVAILABLE as exc:
            return service_unavailable_response(request, exc)


class ServiceUnavailableMiddleware:
    """503 with Retry-After for a view that lost the database or Redis (pages; the API's own
    exception handler answers the same for API views)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, SERVICE_UNAVAILABLE):
            return service_unavailable_response(request, exception)
        return None
