"""The one domain error type. Services raise it; the API maps it to HTTP in one place."""

from __future__ import annotations

# The message of every refusal whose errors are by field (serializer or service alike).
INVALID_FIELDS = "The request has invalid fields."


class DomainError(Exception):
    """A request the domain refuses. `fields` maps a field name to its messages."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"
