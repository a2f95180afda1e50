"""No log line of a served request carries a credential (API key, write key, password)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from django_tenants.utils import schema_context

from apps.integrations.services import api_key_create
from fullfield.tenancy.models import Tenant
from tests.fixtures import PASSWORD, PROJECT_ROOT, child_environment, host_of


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_authenticated_run_under_gunicorn_logs_no_credential(
    committed_tenant: Tenant, django_db_blocker: Any, tmp_path: Path
) -> None:
    with django_db_blocker.unblock(), schema_context(committed_tenant.schema_name):
        key = api_key_create(name="logs", scope="read_write", created_by=None)[1]
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    command = [
        *[sys.executable, "-m", "gunicorn", "-c", "python:fullfield.gunicorn_conf"],
        *["--bind", f"127.0.0.1:{port}", "--workers", "1", "--access-logfile", "-"],
        "fullfield.wsgi:application",
    ]
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            command,
            env=child_environment(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/healthz", timeout=10)
                break
            except requests.RequestException:  # not listening yet, or still loading Django
                time.sleep(0.3)
        host = {"Host": host_of(committed_tenant)}
        write_key = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        admin = f"admin@{committed_tenant.slug}.test"
        calls = [
            ("get", "/api/v1/me/", {"Authorization": f"Api-Key {key}"}),
            ("get", "/api/v1/me/", {"Authorization": f"Bearer {key}"}),
            ("post", "/api/v1/segment/v1/track", {"Authorization": write_key}),
            ("get", "/api/v1/me/", {"Authorization": f"Api-Key {key}x"}),
        ]
        statuses = []
        for method, path, headers in calls:
            response = requests.request(
                method, f"{base}{path}", headers={**host, **headers}, json={}, timeout=30
            )
            statuses.append(response.status_code)
        wrong_password = base64.b64encode(f"{admin}:{PASSWORD}".encode()).decode()
        requests.get(
            f"{base}/api/operator/tenants/",
            headers={"Host": "localhost", "Authorization": f"Basic {wrong_password}"},
            timeout=30,
        )
        assert statuses[:2] == [200, 200] and statuses[3] == 401
    finally:
        server.terminate()
        server.wait(timeout=20)
    log = log_path.read_text(errors="replace")
    assert log.count('"GET /api/v1/me/ HTTP/1.1"') == 3, log  # the access log was written
    secret = key.split(".", 1)[1]
    for credential in (key, secret, write_key.split()[1], PASSWORD, wrong_password):
        assert credential not in log
