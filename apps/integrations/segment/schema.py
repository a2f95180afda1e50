from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


# drf-spectacular registers extensions in an unannotated __init_subclass__.
class SegmentWriteKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call,unused-ignore]
    target_class = "apps.integrations.segment.authentication.SegmentWriteKeyAuthentication"
    name = "SegmentWriteKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Segment's scheme: a read_write API key as the username, no password.",
        }
