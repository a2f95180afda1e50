from django.urls import include, path

urlpatterns = [
    path("", include("apps.accounts.api.urls")),
    path("metrics/", include("apps.accounts.revenue.urls")),
    path("metrics/", include("apps.accounts.field.urls")),
]
