"""The integration pages, server side: who may see what, and what each form does."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.integrations.imports.services import csv_import_create
from apps.integrations.models import ApiKey, Job, WebhookEndpoint
from apps.integrations.stripe.selectors import stripe_connection_get
from tests.fixtures import TenantClient

pytestmark = pytest.mark.usefixtures("tenant_a")


@pytest.fixture(autouse=True)
def remove_uploaded_files(tenant_a: object) -> Iterator[None]:
    yield
    for job in Job.objects.all():
        job.upload.delete(save=False)


ADMIN_PAGES = ("/integrations/api-keys/", "/integrations/webhooks/", "/integrations/stripe/")


def test_bob_a_member_reads_imports_and_jobs_but_not_credentials(
    bob_client: TenantClient,
) -> None:
    assert bob_client.get("/integrations/imports/").status_code == 200
    assert bob_client.get("/integrations/jobs/").status_code == 200
    for path in ADMIN_PAGES:
        refused = bob_client.get(path)
        assert refused.status_code == 403, path
        assert "Only an administrator" in refused.content.decode()
    page = bob_client.get("/integrations/imports/").content.decode()
    assert "/integrations/api-keys/" not in page


def test_alice_creates_a_key_that_is_shown_once_and_never_cached(
    alice_client: TenantClient,
) -> None:
    response = alice_client.post(
        "/integrations/api-keys/", {"name": "CRM sync", "scope": "read"}, format="multipart"
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    key = response.context["created_key"]
    api_key = ApiKey.objects.get(name="CRM sync")
    assert key.startswith(api_key.prefix) and key in response.content.decode()
    assert key not in alice_client.get("/integrations/api-keys/").content.decode()


def test_a_key_without_a_name_is_refused_naming_the_field(alice_client: TenantClient) -> None:
    response = alice_client.post(
        "/integrations/api-keys/", {"name": "", "scope": "read"}, format="multipart"
    )
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_revoking_inline_returns_the_row_marked_revoked(alice_client: TenantClient) -> None:
    from apps.integrations.services import api_key_create

    api_key, _ = api_key_create(name="Old", scope="read", created_by=None)
    response = alice_client.post(
        f"/integrations/api-keys/{api_key.prefix}/revoke/", HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.lstrip().startswith("<tr") and "revoked" in body
    api_key.refresh_from_db()
    assert api_key.revoked
    page = alice_client.get("/integrations/api-keys/").content.decode()
    assert api_key.prefix in page and api_key.pk not in page  # the stored hash never leaves


def test_charlie_gets_404_on_alices_import_and_her_rejected_rows(
    alice_client: TenantClient, charlie_client: TenantClient
) -> None:
    job = csv_import_create(
        upload=SimpleUploadedFile("a.csv", b"external_id,name\nx-1,One\n"),
        entity="accounts",
        mapping=None,
        dry_run=True,
        source_system=None,
        api_key=None,
        created_by_id=None,
    )
    assert alice_client.get(f"/integrations/imports/{job.pk}/").status_code == 200
    assert charlie_client.get(f"/integrations/imports/{job.pk}/").status_code == 404
    assert charlie_client.get(f"/integrations/imports/{job.pk}/rejected.csv").status_code == 404


def test_an_upload_with_a_mapping_is_queued_and_the_page_follows_it(
    alice_client: TenantClient,
) -> None:
    upload = io.BytesIO(b"Account ID,Company\ncrm-1,One\n")
    upload.name = "crm.csv"
    response = alice_client.post(
        "/integrations/imports/",
        {
            "file": upload,
            "entity": "accounts",
            "mapping": '{"external_id": "Account ID", "name": "Company"}',
        },
        format="multipart",
    )
    job = Job.objects.get(kind=Job.Kind.CSV_IMPORT)
    assert response.status_code == 302
    assert response["Location"] == f"/integrations/imports/{job.pk}/"
    assert job.parameters["mapping"] == {"external_id": "Account ID", "name": "Company"}
    progress = alice_client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert (
        progress.lstrip().startswith('<div id="progress"') and 'hx-trigger="every 1s"' in progress
    )


def test_an_upload_missing_a_required_column_is_refused_with_the_reason(
    alice_client: TenantClient,
) -> None:
    upload = io.BytesIO(b"Company\nOne\n")
    upload.name = "crm.csv"
    response = alice_client.post(
        "/integrations/imports/", {"file": upload, "entity": "accounts"}, format="multipart"
    )
    assert response.status_code == 400
    assert "external_id" in response.content.decode()
    assert not Job.objects.exists()


def test_stripe_is_connected_and_disconnected_from_its_page(alice_client: TenantClient) -> None:
    refused = alice_client.post(
        "/integrations/stripe/",
        {"endpoint_secret": "not-a-secret", "tolerance_seconds": 300},
        format="multipart",
    )
    assert refused.status_code == 400 and stripe_connection_get() is None
    secret = "whsec_" + "a" * 32
    alice_client.post(
        "/integrations/stripe/",
        {"endpoint_secret": secret, "tolerance_seconds": 300},
        format="multipart",
    )
    connection = stripe_connection_get()
    assert connection is not None and connection.endpoint_secret == secret
    page = alice_client.get("/integrations/stripe/").content.decode()
    assert "connected" in page and secret not in page and "aaaa" in page
    alice_client.post("/integrations/stripe/disconnect/")
    assert stripe_connection_get() is None


def test_a_webhook_to_a_private_address_is_refused_on_the_page(
    alice_client: TenantClient,
) -> None:
    response = alice_client.post(
        "/integrations/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "event_types": ["import.finished"]},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.context["form"].errors["url"]
    assert not WebhookEndpoint.objects.exists()
