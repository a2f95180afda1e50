from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "web/dashboard.html", {"tenant": connection.tenant})


def platform_home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/platform_home.html")
