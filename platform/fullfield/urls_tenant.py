"""URLs served on a tenant's host, <slug>.<base domain>."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path
from django.views.defaults import bad_request, page_not_found, server_error
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.squads import page_urls as squad_pages
from fullfield.api.exceptions import json_bad_request, json_not_found, json_server_error
from fullfield.api.views import WhoAmIApi, healthz
from fullfield.tenancy.api import TenantSettingsApi
from fullfield.web import account_actions
from fullfield.web import accounts as account_pages
from fullfield.web import field as field_pages
from fullfield.web import views as web_views

api_v1: list[URLPattern | URLResolver] = [
    path("me/", WhoAmIApi.as_view(), name="whoami"),
    path("tenant/", TenantSettingsApi.as_view(), name="tenant-settings"),
    path("", include("apps.accounts.urls")),
    path("", include("apps.scoring.urls")),
    path("", include("apps.integrations.urls")),
    path("", include("apps.squads.urls")),
]

urlpatterns = [
    path("", web_views.dashboard, name="dashboard"),
    path(
        "login/",
        web_views.SignInView.as_view(template_name="registration/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("favicon.ico", web_views.favicon, name="favicon"),
    path("accounts/", account_pages.account_list, name="account-list"),
    path("accounts/export.csv", account_pages.account_export, name="account-export"),
    path("accounts/views/", account_actions.saved_view_save, name="account-view-save"),
    path(
        "accounts/views/<int:saved_view_id>/delete/",
        account_actions.saved_view_remove,
        name="account-view-delete",
    ),
    path("accounts/assign/", account_actions.accounts_assign, name="account-assign"),
    path("accounts/<int:account_id>/", account_pages.account_detail, name="account-detail"),
    path("field/", field_pages.field_page, name="field"),
    path("integrations/", include("apps.integrations.page_urls")),
    path("queues/", include(squad_pages.queue_urlpatterns)),
    path("squads/", include(squad_pages.squad_urlpatterns)),
    path("plays/", include("apps.squads.page_urls_plays")),
    path("settings/scoring/", include("apps.scoring.page_urls")),
    path("settings/users/", include("fullfield.web.user_urls")),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return server_error(request)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/") or isinstance(exception, RequestDataTooBig):
        return json_bad_request(request, exception)
    return bad_request(request, exception)
