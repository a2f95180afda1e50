"""Shared test world (registered by tests.plugin once Django is set up).

Two tenants are provisioned once per session by cloning the template schema, with personas:
Alice (admin) and Bob (member) in tenant A, Charlie (admin) in tenant B. Each test runs in a
transaction that is rolled back. Tests that need committed data (real workers, live servers)
provision a tenant of their own with `committed_tenant`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from fullfield.tenancy.context import current_tenant, use_public_schema, use_tenant
from fullfield.tenancy.models import Tenant
from fullfield.tenancy.services import platform_ensure_public_tenant, tenant_create, tenant_delete
from fullfield.users.models import User
from tests.polling import eventually

PASSWORD = "correct-horse-battery-staple"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Persona:
    email: str
    tenant: Tenant

    @property
    def user(self) -> User:
        with schema_context(self.tenant.schema_name):
            return User.objects.get(email=self.email)


@dataclass(frozen=True)
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    alice: Persona
    bob: Persona
    charlie: Persona


def host_of(tenant: Tenant) -> str:
    return f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}"


class TenantClient(APIClient):
    """An API client bound to one tenant's host; the test's own schema survives each request."""

    def __init__(self, tenant: Tenant, **defaults: Any) -> None:
        super().__init__(HTTP_HOST=host_of(tenant), **defaults)
        self.tenant = tenant

    def request(self, *args: Any, **kwargs: Any) -> Any:
        previous = current_tenant()
        try:
            return super().request(*args, **kwargs)
        finally:
            use_tenant(previous)

    def login_as(self, persona: Persona) -> TenantClient:
        with schema_context(persona.tenant.schema_name):
            self.force_login(User.objects.get(email=persona.email))
        return self

    def use_api_key(self, key: str) -> TenantClient:
        self.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return self


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
) -> Iterator[None]:
    """Always create the test database, even when only committed-data tests were collected.

    pytest-django creates it only for tests marked django_db; the world fixture must never
    write anywhere but the test database.
    """
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, aliases={"default": None})
    yield
    with django_db_blocker.unblock():
        # A test may have had this connection terminated (the database-outage tests do): the
        # clean-up starts on a fresh one.
        connection.close()
        # Child processes (workers, live servers) may leave a backend that is still exiting.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        teardown_databases(config, verbosity=0)


@pytest.fixture(scope="session")
def world(django_db_setup: None, django_db_blocker: Any) -> World:
    test_settings: dict[str, Any] = settings.DATABASES["default"]["TEST"]  # type: ignore[assignment]
    assert connection.settings_dict["NAME"] == test_settings["NAME"]
    with django_db_blocker.unblock():
        platform_ensure_public_tenant()
        tenant_a = tenant_create(
            slug="alpha", name="Alpha Corp", admin_email="alice@alpha.test", admin_password=PASSWORD
        ).tenant
        with schema_context(tenant_a.schema_name):
            User.objects.create_user("bob@alpha.test", PASSWORD, full_name="Bob")
        tenant_b = tenant_create(
            slug="beta", name="Beta Ltd", admin_email="charlie@beta.test", admin_password=PASSWORD
        ).tenant
    return World(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        alice=Persona("alice@alpha.test", tenant_a),
        bob=Persona("bob@alpha.test", tenant_a),
        charlie=Persona("charlie@beta.test", tenant_b),
    )


@pytest.fixture
def tenant_a(world: World, db: None) -> Iterator[Tenant]:
    """The test body runs inside tenant A's schema (rolled back afterwards)."""
    world.tenant_a.refresh_from_db()  # a test may have changed the shared object's settings
    use_tenant(world.tenant_a)
    yield world.tenant_a
    use_public_schema()


@pytest.fixture
def tenant_b(world: World, db: None) -> Tenant:
    return world.tenant_b


@pytest.fixture
def client_a(world: World, db: None) -> TenantClient:
    return TenantClient(world.tenant_a)


@pytest.fixture
def client_b(world: World, db: None) -> TenantClient:
    return TenantClient(world.tenant_b)


@pytest.fixture
def alice_client(world: World, db: None) -> TenantClient:
    return TenantClient(world.tenant_a).login_as(world.alice)


@pytest.fixture
def bob_client(world: World, db: None) -> TenantClient:
    return TenantClient(world.tenant_a).login_as(world.bob)


@pytest.fixture
def charlie_client(world: World, db: None) -> TenantClient:
    return TenantClient(world.tenant_b).login_as(world.charlie)


@pytest.fixture
def make_api_key(db: None) -> Callable[..., str]:
    from apps.integrations.services import api_key_create

    def make(tenant: Tenant, scope: str = "read_write", name: str = "test key") -> str:
        with schema_context(tenant.schema_name):
            return api_key_create(name=name, scope=scope, created_by=None)[1]

    return make


@pytest.fixture
def api_a(world: World, make_api_key: Callable[..., str]) -> TenantClient:
    """Tenant A's API, called with a read-write API key (the integrator's view)."""
    return TenantClient(world.tenant_a).use_api_key(make_api_key(world.tenant_a))


# --- committed data: real workers, live servers -----------------------------------------


@pytest.fixture
def committed_tenant(world: World, django_db_blocker: Any) -> Iterator[Tenant]:
    """A tenant whose data is committed (visible to other processes), deleted afterwards."""
    slug = f"t{uuid.uuid4().hex[:10]}"
    with django_db_blocker.unblock():
        tenant = tenant_create(
            slug=slug,
            name=f"Tenant {slug}",
            admin_email=f"admin@{slug}.test",
            admin_password=PASSWORD,
        ).tenant
    try:
        yield tenant
    finally:
        with django_db_blocker.unblock():
            use_public_schema()
            tenant_delete(slug=slug)


def database_url_for_tests() -> str:
    """DATABASE_URL of the test database, for processes started by tests."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = connection.settings_dict["NAME"]
    return urlunsplit(parts._replace(path=f"/{name}"))


def child_environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_tests(),
        DJANGO_SETTINGS_MODULE="fullfield.settings",
        PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "platform")]),
        DEBUG="1",
        LOG_JSON="0",
        # Tests read children's INFO lines ("ready.", task names), whatever this process set.
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    queue: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30) -> bool:
        return bool(eventually(lambda: text in self.log(), timeout=timeout))


@contextmanager
def running_celery_worker(
    log_dir: Path, queue: str | None = None, **environment: str
) -> Iterator[WorkerProcess]:
    """A real `celery worker` process on the test database and real Redis, on its own queue
    (or `queue`, to share one with another worker); `environment` adds settings for it only."""
    queue = queue or f"test-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
    command = [
        *[sys.executable, "-m", "celery", "-A", "fullfield.celery_app", "worker"],
        *["--pool", "solo", "--concurrency", "1", "--queues", queue, "--loglevel", "INFO"],
        *["--without-gossip", "--without-mingle", "--without-heartbeat"],
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env=child_environment(CELERY_QUEUE=queue, **environment),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
    worker = WorkerProcess(process=process, queue=queue, log_path=log_path)
    try:
        if not worker.wait_for_log("ready.", timeout=60):
            pytest.fail(f"celery worker did not start:\n{worker.log()}")
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def celery_worker_process(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    with running_celery_worker(tmp_path_factory.mktemp("worker")) as worker:
        yield worker


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the stdlib's name)
        pass


@pytest.fixture
def tenant_server(committed_tenant: Tenant, django_db_blocker: Any) -> Iterator[str]:
    """A threaded WSGI server on the test database; yields its base URL for committed_tenant.

    Each request runs in its own thread with its own database connection, so two requests
    really run at once and see only committed data.
    """
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    with django_db_blocker.unblock():
        thread.start()
        try:
            yield f"http://{host_of(committed_tenant)}:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


@pytest.fixture
def localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve *.localhost to 127.0.0.1 as RFC 6761 says (browsers do; glibc here does not)."""
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
