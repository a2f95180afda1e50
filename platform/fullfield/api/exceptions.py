"""One error shape for every API error: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

import kombu.exceptions
import psycopg
import redis.exceptions
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import utils as db_utils
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fullfield.errors import INVALID_FIELDS, DomainError, PayloadTooLarge


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


# The database is down, restarting, refusing connections or dropped ours: the request may be
# retried as it is, so it gets a 503 with Retry-After rather than a 500. Django wraps the driver's
# errors in its own; a few paths (connection set-up, pools) raise psycopg's directly.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    db_utils.OperationalError,
    db_utils.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
# Redis (cache, throttling) or the Celery broker cannot be reached: the same answer. A request
# whose data was committed before the broker failed is safe to retry: ingest is idempotent.
BROKER_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
SERVICE_UNAVAILABLE = DATABASE_UNAVAILABLE + BROKER_UNAVAILABLE
RETRY_AFTER_SECONDS = 5


def _unavailable_message(exc: BaseException | None) -> str:
    if isinstance(exc, BROKER_UNAVAILABLE):
        return "The queue is unavailable for a moment; retry this request shortly."
    return "The database is unavailable for a moment; retry this request shortly."


def service_unavailable_response(
    request: HttpRequest, exc: BaseException | None = None
) -> HttpResponse:
    """503 in the one error shape for the API, a short plain page elsewhere; Retry-After."""
    message = _unavailable_message(exc)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body("service_unavailable", message), status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _flatten(detail: Any) -> Any:
    """DRF ErrorDetail trees -> plain lists of strings, keeping the nesting of fields."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def request_too_big() -> PayloadTooLarge:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return PayloadTooLarge(
        f"The request body is over the limit of {limit:,} bytes "
        f"({limit / (1024 * 1024):g} MB) a request."
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        exc = request_too_big()
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, SERVICE_UNAVAILABLE):
        message = _unavailable_message(exc)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return Response(error_body("service_unavailable", message), status=503, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = error_body("invalid", INVALID_FIELDS, fields)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        message = str(exc.detail)
        wait = getattr(exc, "wait", None)
        if (
            isinstance(exc, exceptions.Throttled)
            and wait is not None
            and (message.startswith("Request was throttled"))
        ):
            message = f"Request was throttled. Retry in {int(wait) + 1} seconds."
        response.data = error_body(code, message)
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(
        error_body("not_found", f"No resource at {request.path}."), status=status.HTTP_404_NOT_FOUND
    )


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """handler400: Django refuses an over-size form or body with SuspiciousOperation (a 400);
    it is a 413 naming the limit."""
    if isinstance(exception, RequestDataTooBig):
        error = request_too_big()
        return JsonResponse(error_body(error.code, error.message), status=error.status_code)
    return JsonResponse(
        error_body("bad_request", "The request could not be read."),
        status=status.HTTP_400_BAD_REQUEST,
    )


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        error_body("server_error", "The server failed to handle this request; it was logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
