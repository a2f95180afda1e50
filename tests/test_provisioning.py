"""Provisioning: tenants cloned from the template are isolated, usable, and all-or-nothing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.signals import post_migrate, pre_migrate
from django_tenants.utils import schema_context, schema_exists
from rest_framework.test import APIClient

from fullfield.errors import Conflict, DomainError
from fullfield.tenancy.context import current_schema, use_public_schema, use_tenant
from fullfield.tenancy.models import Domain, Tenant
from fullfield.tenancy.selectors import tenant_list
from fullfield.tenancy.services import (
    platform_ensure_public_tenant,
    platform_ensure_template,
    tenant_create,
    tenant_delete,
    tenant_settings_update,
    tenant_url,
)
from fullfield.users.models import User
from tests.fixtures import PASSWORD, TenantClient, World


@pytest.fixture
def public(world: World, db: None) -> None:
    use_public_schema()


def test_a_provisioned_tenant_is_ready_with_its_admin_and_domain(public: None) -> None:
    provisioned = tenant_create(slug="gamma-co", name="Gamma Co", admin_email="Root@Gamma.test")
    tenant = provisioned.tenant
    assert tenant.ready
    assert tenant.schema_name == "gamma_co"
    assert Domain.objects.get(tenant=tenant).domain == "gamma-co.localhost"
    assert provisioned.admin_email == "root@gamma.test"
    with schema_context(tenant.schema_name):
        admin = User.objects.get()
        assert admin.is_staff and admin.check_password(provisioned.admin_password)


def test_a_provisioned_tenant_is_usable_and_isolated(public: None, world: World) -> None:
    tenant = tenant_create(
        slug="delta", name="Delta", admin_email="admin@delta.test", admin_password=PASSWORD
    ).tenant
    client = TenantClient(tenant)
    response = client.post(
        "/login/", {"username": "admin@delta.test", "password": PASSWORD}, format="multipart"
    )
    assert response.status_code == 302
    created = client.post("/api/v1/api-keys/", {"name": "crm sync", "scope": "read"})
    assert created.status_code == 201
    with schema_context(world.tenant_a.schema_name):
        assert not User.objects.filter(email="admin@delta.test").exists()
    # Alice's login means nothing on the new tenant's host.
    stranger = TenantClient(tenant)
    response = stranger.post(
        "/login/", {"username": "alice@alpha.test", "password": PASSWORD}, format="multipart"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("slug", "field"),
    [("A", "slug"), ("1abc", "slug"), ("ab-", "slug"), ("www", "slug"), ("has_underscore", "slug")],
)
def test_bad_slugs_are_refused_naming_the_field(public: None, slug: str, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        tenant_create(slug=slug, name="X", admin_email="a@b.test")
    assert field in refused.value.fields
    assert not Tenant.objects.filter(slug=slug.lower()).exists()


def test_a_taken_slug_is_a_conflict(public: None) -> None:
    with pytest.raises(Conflict):
        tenant_create(slug="alpha", name="Again", admin_email="a@b.test")


def test_a_failure_midway_leaves_no_tenant_and_no_schema(
    public: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(User.objects, "create_superuser", fail)
    with pytest.raises(RuntimeError):
        tenant_create(slug="epsilon", name="Epsilon", admin_email="admin@epsilon.test")
    assert not Tenant.objects.filter(slug="epsilon").exists()
    assert not Domain.objects.filter(domain="epsilon.localhost").exists()
    assert not schema_exists("epsilon")


def test_deleting_a_tenant_drops_its_schema(public: None) -> None:
    tenant_create(slug="zeta", name="Zeta", admin_email="admin@zeta.test")
    tenant_delete(slug="zeta")
    assert not schema_exists("zeta")
    assert not tenant_list().filter(slug="zeta").exists()


def test_the_tenant_command_creates_lists_and_deletes(
    public: None, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("tenant", "create", "eta", "--name", "Eta", "--admin-email", "admin@eta.test")
    assert "created eta" in capsys.readouterr().out
    call_command("tenant", "list")
    listing = capsys.readouterr().out
    assert "eta\tEta\tready" in listing and "alpha" in listing and "_template" not in listing
    call_command("tenant", "delete", "eta", "--yes")
    assert not schema_exists("eta")
    with pytest.raises(CommandError, match="slug"):
        call_command("tenant", "create", "Bad Slug", "--name", "X", "--admin-email", "a@b.test")


def test_provisioning_works_from_inside_another_tenants_schema_and_returns_there(
    world: World, db: None
) -> None:
    # A request, a task or an earlier test may leave a tenant's schema active on the connection.
    use_tenant(world.tenant_a)
    provisioned = tenant_create(slug="theta", name="Theta", admin_email="admin@theta.test")
    assert provisioned.tenant.ready and schema_exists("theta")
    assert current_schema() == world.tenant_a.schema_name
    platform_ensure_template()
    platform_ensure_public_tenant()
    tenant_settings_update(tenant=provisioned.tenant, name="Theta Two")
    assert current_schema() == world.tenant_a.schema_name
    assert Tenant.objects.get(slug="theta").name == "Theta Two"
    use_tenant(provisioned.tenant)
    tenant_delete(slug="theta")
    assert not schema_exists("theta")
    assert current_schema() == "public"


# --- the operator API on the public host ------------------------------------------------


def _operator_client(email: str = "ops@fullfield.test") -> APIClient:
    User.objects.create_superuser(email, PASSWORD)
    token = base64.b64encode(f"{email}:{PASSWORD}".encode()).decode()
    return APIClient(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {token}")


def test_an_operator_provisions_lists_and_deletes_tenants_by_api(public: None) -> None:
    operator = _operator_client()
    created = operator.post(
        "/api/operator/tenants/",
        {"slug": "theta", "name": "Theta", "admin_email": "admin@theta.test"},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["ready"] is True and body["admin_password"]
    slugs = [t["slug"] for t in operator.get("/api/operator/tenants/").json()["results"]]
    assert "theta" in slugs and "public" not in slugs
    assert operator.delete("/api/operator/tenants/theta/").status_code == 204
    assert operator.delete("/api/operator/tenants/theta/").status_code == 404


def test_the_operator_api_refuses_bad_input_with_field_errors(public: None) -> None:
    response = _operator_client().post(
        "/api/operator/tenants/", {"slug": "Bad Slug!", "name": "", "admin_email": "nope"}
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) >= {"name", "admin_email"}


def test_the_operator_api_needs_an_operator_and_is_absent_on_tenant_hosts(
    public: None, world: World
) -> None:
    anonymous = APIClient(HTTP_HOST="localhost")
    assert anonymous.get("/api/operator/tenants/").status_code == 401
    alice_password = base64.b64encode(f"alice@alpha.test:{PASSWORD}".encode()).decode()
    alice = APIClient(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Basic {alice_password}")
    assert alice.get("/api/operator/tenants/").status_code == 401  # not a user of public
    on_tenant_host = TenantClient(world.tenant_a).get("/api/operator/tenants/")
    assert on_tenant_host.status_code == 404


def test_the_apikey_command_prints_a_working_key_once(
    world: World, db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("apikey", "create", "--tenant", "alpha", "--name", "warehouse", "--scope", "read")
    printed = capsys.readouterr()
    key = printed.out.strip()
    assert "shown this once" in printed.err and key not in printed.err
    reader = TenantClient(world.tenant_a).use_api_key(key)
    assert reader.get("/api/v1/me/").json()["scope"] == "read"
    assert reader.post("/api/v1/accounts/", {"name": "x"}).status_code == 403
    call_command("apikey", "list", "--tenant", "alpha")
    listing = capsys.readouterr().out
    assert f"{key.split('.')[0]}\twarehouse\tread\tactive" in listing and key not in listing
    call_command("apikey", "revoke", key.split(".")[0], "--tenant", "alpha")
    assert reader.get("/api/v1/me/").status_code == 401
    with pytest.raises(CommandError, match="no ready tenant 'nosuch'"):
        call_command("apikey", "create", "--tenant", "nosuch", "--name", "x")
    with pytest.raises(CommandError, match="name"):
        call_command("apikey", "create", "--tenant", "alpha", "--name", " ")


def test_printed_tenant_urls_use_the_scheme_and_port_actually_served(
    public: None, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.HTTPS, settings.FULLFIELD_PUBLIC_PORT = False, 8001
    call_command("tenant", "create", "iota", "--name", "Iota", "--admin-email", "a@iota.test")
    assert "created iota: http://iota.localhost:8001/" in capsys.readouterr().out
    tenant = Tenant.objects.get(slug="iota")
    settings.HTTPS, settings.FULLFIELD_PUBLIC_PORT = True, 443
    assert tenant_url(tenant) == "https://iota.localhost/"
    settings.HTTPS, settings.FULLFIELD_PUBLIC_PORT = False, 80
    assert tenant_url(tenant) == "http://iota.localhost/"
    home = APIClient(HTTP_HOST="localhost:8001").get("/")
    assert b"<code>http://&lt;your-company&gt;.localhost:8001/</code>" in home.content


def test_migrating_up_to_date_tenants_leaves_them_untouched(
    public: None, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    signals: list[str] = []

    def record(sender: Any, **kwargs: Any) -> None:
        signals.append(kwargs["app_config"].label)

    pre_migrate.connect(record, dispatch_uid="test-pre")
    post_migrate.connect(record, dispatch_uid="test-post")
    try:
        call_command(
            "migrate_schemas", schema_name=world.tenant_a.schema_name, tenant=True, verbosity=1
        )
    finally:
        pre_migrate.disconnect(dispatch_uid="test-pre")
        post_migrate.disconnect(dispatch_uid="test-post")
    assert signals == []
    assert "No migrations to apply." in capsys.readouterr().out


def test_a_tenant_with_a_migration_to_apply_gets_it_and_its_permissions(
    public: None, world: World
) -> None:
    schema = world.tenant_a.schema_name
    with schema_context(schema):
        leaf = next(
            name for app, name in MigrationLoader(connection).graph.leaf_nodes() if app == "squads"
        )
        MigrationRecorder(connection).record_unapplied("squads", leaf)
        Permission.objects.filter(content_type__app_label="squads").delete()
    call_command("migrate_schemas", schema_name=schema, tenant=True, fake=True, verbosity=0)
    with schema_context(schema):
        assert ("squads", leaf) in MigrationRecorder(connection).applied_migrations()
        assert Permission.objects.filter(codename="add_play").exists()
