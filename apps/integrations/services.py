from __future__ import annotations

from typing import cast

from django.db import transaction

from apps.integrations.models import ApiKey
from fullfield.errors import DomainError, NotFound
from fullfield.users.models import User


@transaction.atomic
def api_key_create(*, name: str, scope: str, created_by: User | None) -> tuple[ApiKey, str]:
    """Create a key; the returned plaintext key is never retrievable again."""
    if not name.strip():
        raise DomainError("The API key needs a name.", fields={"name": ["A name is required."]})
    if scope not in ApiKey.Scope.values:
        raise DomainError(
            "Unknown scope.", fields={"scope": [f"Choose one of {', '.join(ApiKey.Scope.values)}."]}
        )
    api_key, key = ApiKey.objects.create_key(name=name.strip(), scope=scope, created_by=created_by)
    return cast(ApiKey, api_key), key


def api_key_revoke(*, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (its public id; the stored id embeds the hash)."""
    api_key: ApiKey | None = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        raise NotFound("No such API key.")
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])
    return api_key
