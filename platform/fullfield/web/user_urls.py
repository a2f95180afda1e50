"""The people page, under /settings/users/ on a tenant's host."""

from django.urls import URLPattern, path

from fullfield.web import user_pages

urlpatterns: list[URLPattern] = [
    path("", user_pages.users, name="users"),
    path("<int:user_id>/access/", user_pages.user_access, name="user-access"),
    path("<int:user_id>/active/", user_pages.user_active, name="user-active"),
]
