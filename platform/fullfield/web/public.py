"""The public site on the bare domain: the product page, sign-up and the operator console."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from rest_framework.throttling import AnonRateThrottle

from fullfield.errors import DomainError
from fullfield.tenancy.models import Tenant
from fullfield.tenancy.selectors import tenant_list
from fullfield.tenancy.services import tenant_create

OPERATOR_LOGIN_URL = "/operator/login/"
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "BRL")


def product(request: HttpRequest) -> HttpResponse:
    return render(request, "web/product.html", {"base_domain": settings.FULLFIELD_BASE_DOMAIN})


class SignUpThrottle(AnonRateThrottle):
    """Sign-ups per client address: each one creates a schema, so they are scarce."""

    scope = "signup"
    rate = "5/hour"

    def get_ident(self, request: Any) -> str:
        # DRF's default trusts X-Forwarded-For unless NUM_PROXIES is set, and anyone can send
        # that header: count by the connecting address only.
        return str(request.META.get("REMOTE_ADDR", ""))


class SignUpForm(forms.Form):
    name = forms.CharField(label="Company name", max_length=200)
    # Checked by the tenancy service, whose message states the rule (lowercase, 2-40...).
    slug = forms.CharField(
        label="Your address",
        max_length=40,
        help_text="Lowercase letters, digits and hyphens; your team signs in at this address.",
    )
    admin_email = forms.EmailField(label="Your work email")
    password = forms.CharField(
        label="Choose a password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not a common password.",
    )
    currency = forms.ChoiceField(
        label="Currency",
        choices=[(code, code) for code in CURRENCIES],
        help_text="Every amount of your company is kept in it; it cannot change later.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password"):
            try:
                validate_password(data["password"])
            except ValidationError as error:
                self.add_error("password", error)
        return data


def _tenant_login_url(request: HttpRequest, tenant: Tenant, email: str) -> str:
    """The tenant's sign-in page with the scheme and port this request came in on."""
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    netloc = f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}"
    if port and port != default_port:
        netloc += f":{port}"
    return f"{request.scheme}://{netloc}/login/?{urlencode({'email': email})}"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None, initial={"currency": "USD"})
    status = 200
    if request.method == "POST":
        throttle = SignUpThrottle()
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            wait = throttle.wait() or 3600
            form.add_error(
                None,
                f"Too many sign-ups from your address; try again in {int(wait // 60) + 1} minutes.",
            )
            status = 429
        elif form.is_valid():
            data = form.cleaned_data
            try:
                provisioned = tenant_create(
                    slug=data["slug"],
                    name=data["name"],
                    admin_email=data["admin_email"],
                    admin_password=data["password"],
                    currency=data["currency"],
                )
            except DomainError as error:
                for field, messages in (error.fields or {}).items():
                    target = field if field in form.fields else None
                    for message in messages:
                        form.add_error(target, message)
                if not error.fields:
                    form.add_error(None, error.message)
                status = error.status_code
            else:
                return HttpResponseRedirect(
                    _tenant_login_url(request, provisioned.tenant, provisioned.admin_email)
                )
        else:
            status = 400
    context = {"form": form, "base_domain": settings.FULLFIELD_BASE_DOMAIN}
    return render(request, "web/signup.html", context, status=status)


def _is_operator(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)


@user_passes_test(_is_operator, login_url=OPERATOR_LOGIN_URL)
def operator_console(request: HttpRequest) -> HttpResponse:
    tenants = tenant_list().order_by("-created").prefetch_related("domains")
    return render(request, "web/operator.html", {"tenants": tenants})
