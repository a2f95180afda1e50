"""The tenant URLs plus the reference of benchmarks/api_list.py: a plain Django list view."""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path

from apps.accounts.models import Account
from fullfield.urls_tenant import handler404, handler500
from fullfield.urls_tenant import urlpatterns as tenant_urlpatterns


def plain_accounts(request: HttpRequest) -> JsonResponse:
    """What a hand-written view would do: the newest 100 rows as dictionaries, nothing else."""
    return JsonResponse(list(Account.objects.order_by("-id").values()[:100]), safe=False)


urlpatterns: list[URLPattern | URLResolver] = [
    *cast("list[URLPattern | URLResolver]", tenant_urlpatterns),
    path("bench/plain-accounts/", plain_accounts),
]
__all__ = ["handler404", "handler500", "urlpatterns"]
