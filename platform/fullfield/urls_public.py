"""URLs served on the bare base domain: platform operators and health checks only."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from fullfield.api.views import healthz
from fullfield.tenancy import api as tenancy_api
from fullfield.urls_tenant import handler400, handler404, handler500
from fullfield.users.signin import ThrottledLoginView
from fullfield.web import public
from fullfield.web import views as web_views

urlpatterns = [
    path("", public.product, name="platform-home"),
    path("signup/", public.signup, name="signup"),
    path("operator/", public.operator_console, name="operator-console"),
    path(
        "operator/login/",
        ThrottledLoginView.as_view(next_page="/operator/"),
        name="login",
    ),
    path("operator/logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
    path("favicon.ico", web_views.favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("api/operator/tenants/", tenancy_api.TenantListCreateApi.as_view(), name="tenants"),
    path("api/operator/tenants/<str:slug>/", tenancy_api.TenantDetailApi.as_view(), name="tenant"),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="fullfield.urls_public"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
