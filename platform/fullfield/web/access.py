"""Who may open a page: the guards shared by every app's pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def tenant_admin_required(view: View) -> View:
    """Signed in, and an administrator of this tenant (as the matching API operations)."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_staff", False):
            raise PermissionDenied("Only an administrator of this workspace can do this.")
        return view(request, *args, **kwargs)

    return guarded
