"""URLs served on the bare base domain: platform operators and health checks only."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from fullfield.api.views import healthz
from fullfield.tenancy import api as tenancy_api
from fullfield.urls_tenant import handler400, handler404, handler500
from fullfield.web import views as web_views

urlpatterns = [
    path("", web_views.platform_home, name="platform-home"),
    path("healthz", healthz, name="healthz"),
    path("api/operator/tenants/", tenancy_api.TenantListCreateApi.as_view(), name="tenants"),
    path("api/operator/tenants/<str:slug>/", tenancy_api.TenantDetailApi.as_view(), name="tenant"),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="fullfield.urls_public"), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
