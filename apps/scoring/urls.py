from django.urls import URLPattern, URLResolver, re_path

from apps.scoring import api

# Ids are bigints: anything longer is no id at all (404), not a database error.
ID = "[0-9]{1,18}"

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^health-profiles/$", api.HealthProfileListApi.as_view(), name="health-profiles"),
    re_path(
        rf"^health-profiles/(?P<profile_id>{ID})/$",
        api.HealthProfileDetailApi.as_view(),
        name="health-profile",
    ),
    re_path(
        rf"^accounts/(?P<account_id>{ID})/health/$",
        api.AccountHealthApi.as_view(),
        name="account-health",
    ),
    re_path(
        rf"^accounts/(?P<account_id>{ID})/health/history/$",
        api.AccountHealthHistoryApi.as_view(),
        name="account-health-history",
    ),
    re_path(
        r"^health-calibrations/$", api.CalibrationListApi.as_view(), name="health-calibrations"
    ),
    re_path(
        rf"^health-calibrations/(?P<calibration_id>{ID})/$",
        api.CalibrationDetailApi.as_view(),
        name="health-calibration",
    ),
    re_path(
        rf"^health-calibrations/(?P<calibration_id>{ID})/accept/$",
        api.CalibrationAcceptApi.as_view(),
        name="health-calibration-accept",
    ),
    re_path(
        rf"^health-calibration-runs/(?P<run_id>{ID})/$",
        api.CalibrationRunDetailApi.as_view(),
        name="health-calibration-run",
    ),
    re_path(
        rf"^accounts/(?P<account_id>{ID})/value/$",
        api.AccountValueApi.as_view(),
        name="account-value",
    ),
    re_path(r"^value-settings/$", api.ValueSettingsApi.as_view(), name="value-settings"),
    re_path(r"^metrics/customer-equity/$", api.CustomerEquityApi.as_view(), name="customer-equity"),
    re_path(
        r"^metrics/customer-equity/series/$",
        api.CustomerEquitySeriesApi.as_view(),
        name="customer-equity-series",
    ),
]
