"""OpenAPI post-processing: every operation has a summary.

Summaries of views that do not declare one with extend_schema(summary=...) are kept here, by
operation id; tests/test_openapi_contract.py fails when an operation has none.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import BasicScheme

SUMMARIES: dict[str, str] = {
    "api_keys_list": "List API keys",
    "api_keys_create": "Create an API key",
    "api_keys_revoke": "Revoke an API key",
    "events_batch_create": "Ingest a batch of usage events",
    "imports_create": "Start a CSV import",
    "imports_retrieve": "Get a CSV import's progress",
    "imports_rejected_rows": "Download a CSV import's rejected rows",
    "jobs_list": "List jobs",
    "jobs_retrieve": "Get a job",
    "whoami": "Who the API sees",
    "stripe_connection_get": "Get the Stripe connection",
    "stripe_connection_set": "Set the Stripe connection",
    "stripe_connection_delete": "Remove the Stripe connection",
    "stripe_webhook_receive": "Receive a Stripe webhook event",
    "tenant_settings": "Get the tenant's settings",
    "tenant_settings_update": "Update the tenant's settings",
    "webhook_endpoints_list": "List webhook endpoints",
    "webhook_endpoints_create": "Create a webhook endpoint",
    "webhook_endpoints_get": "Get a webhook endpoint",
    "webhook_endpoints_update": "Update a webhook endpoint",
    "webhook_endpoints_delete": "Delete a webhook endpoint",
    "webhook_deliveries_list": "List a webhook endpoint's deliveries",
    "webhook_deliveries_get": "Get a webhook delivery",
    "webhook_endpoints_send_test": "Send a test event to a webhook endpoint",
    "webhook_event_types_list": "List webhook event types",
    "operator_tenants_list": "List tenants",
    "api_operator_tenants_create": "Provision a tenant",
    "api_operator_tenants_destroy": "Delete a tenant and all its data",
}


def add_summaries(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and not operation.get("summary"):
                summary = SUMMARIES.get(str(operation.get("operationId")))
                if summary:
                    operation["summary"] = summary
    return result


class ThrottledBasicScheme(BasicScheme):  # type: ignore[no-untyped-call]  # drf-spectacular's registry hook
    """The operator API's HTTP Basic, with failed attempts throttled: still HTTP Basic."""

    target_class = "fullfield.users.signin.ThrottledBasicAuthentication"
