from __future__ import annotations

from apps.integrations.models import StripeConnection


def stripe_connection_get() -> StripeConnection | None:
    return StripeConnection.objects.filter(pk=StripeConnection.SINGLETON_ID).first()


def secret_hint(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    prefix = "whsec_" if secret.startswith("whsec_") else ""
    return f"{prefix}…{secret[-4:]}"
