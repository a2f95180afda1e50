from django.urls import path

from apps.accounts.revenue.api import RevenueMetricsApi, RevenueSeriesApi

urlpatterns = [
    path("revenue/", RevenueMetricsApi.as_view(), name="revenue-metrics"),
    path("revenue/series/", RevenueSeriesApi.as_view(), name="revenue-metrics-series"),
]
