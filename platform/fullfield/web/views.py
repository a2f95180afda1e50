from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from fullfield.tenancy.context import current_tenant


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "web/dashboard.html", {"tenant": current_tenant()})


def platform_home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/platform_home.html")
