"""One error shape for every API error: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fullfield.errors import INVALID_FIELDS, DomainError, PayloadTooLarge


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


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
