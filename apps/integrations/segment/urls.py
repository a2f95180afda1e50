"""Segment's libraries post to `{host}/v1/<call>` without a trailing slash; both forms work."""

from django.urls import re_path

from apps.integrations.segment import api

urlpatterns = [
    re_path(r"^batch/?$", api.SegmentBatchApi.as_view(), name="segment-batch"),
    re_path(r"^track/?$", api.SegmentTrackApi.as_view(), name="segment-track"),
    re_path(r"^identify/?$", api.SegmentIdentifyApi.as_view(), name="segment-identify"),
    re_path(r"^group/?$", api.SegmentGroupApi.as_view(), name="segment-group"),
    re_path(r"^page/?$", api.SegmentPageApi.as_view(), name="segment-page"),
    re_path(r"^screen/?$", api.SegmentScreenApi.as_view(), name="segment-screen"),
]
