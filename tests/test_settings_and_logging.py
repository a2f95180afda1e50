"""Settings fail loudly; production settings pass Django's deploy checks; logs carry context."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import secrets
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

from fullfield.env import ConfigurationError, database_from_url, env_bool, env_int
from tests.fixtures import PROJECT_ROOT, TenantClient, child_environment


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = child_environment(**env)
    for name in [n for n, v in env.items() if v == ""]:
        environment.pop(name)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def test_with_debug_off_the_platform_refuses_the_development_secret_key(db: None) -> None:
    result = _run_python("import django; django.setup()", DEBUG="0", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_checks(db: None) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=child_environment(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50)),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled"])
def test_a_malformed_boolean_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("FULLFIELD_FLAG", raw)
    with pytest.raises(ConfigurationError, match="FULLFIELD_FLAG"):
        env_bool("FULLFIELD_FLAG")


def test_a_malformed_or_too_small_integer_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FULLFIELD_SIZE", "ten")
    with pytest.raises(ConfigurationError, match="FULLFIELD_SIZE must be an integer"):
        env_int("FULLFIELD_SIZE", 1)
    monkeypatch.setenv("FULLFIELD_SIZE", "0")
    with pytest.raises(ConfigurationError, match="at least 1"):
        env_int("FULLFIELD_SIZE", 1, minimum=1)


def test_database_urls_with_hosts_and_unix_sockets_are_understood() -> None:
    tcp = database_from_url("postgres://app:s%40cret@db.internal:6432/fullfield")
    assert (tcp["HOST"], tcp["PORT"], tcp["USER"], tcp["PASSWORD"], tcp["NAME"]) == (
        "db.internal",
        "6432",
        "app",
        "s@cret",
        "fullfield",
    )
    socket = database_from_url("postgresql://postgres:@/fullfield?host=/run/pg")
    assert (socket["HOST"], socket["NAME"]) == ("/run/pg", "fullfield")
    with pytest.raises(ConfigurationError, match="postgres://"):
        database_from_url("mysql://localhost/fullfield")
    with pytest.raises(ConfigurationError, match="name a database"):
        database_from_url("postgres://localhost/")


def test_json_log_lines_carry_the_tenant_and_request_id(client_a: TenantClient) -> None:
    config: dict[str, Any] = settings.LOGGING
    configurator = logging.config.DictConfigurator(config)
    formatter: Any = configurator.configure_formatter(dict(config["formatters"]["json"]))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(configurator.configure_filter(dict(config["filters"]["context"])))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client_a.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="req-1234567890")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-1234567890"
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["tenant"] == "alpha"
    assert line["request_id"] == "req-1234567890"
    assert line["level"] == "WARNING"


def test_an_unsafe_incoming_request_id_is_replaced(client_a: TenantClient) -> None:
    response = client_a.get("/login/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.parametrize("raw", ["6000", "6000/fortnight", "many/min"])
def test_a_rate_limit_without_a_unit_stops_the_platform_at_start_up(db: None, raw: str) -> None:
    result = _run_python("import django; django.setup()", API_RATE_LIMIT=raw)
    assert result.returncode != 0
    assert "API_RATE_LIMIT must be a number of requests per second, minute" in result.stderr
    started = _run_python("import django; django.setup()", API_RATE_LIMIT="120/min")
    assert started.returncode == 0, started.stderr


def test_database_url_options_such_as_sslmode_reach_the_connection(db: None) -> None:
    parsed = database_from_url("postgres://db.internal/fullfield?sslmode=require&connect_timeout=5")
    assert parsed["OPTIONS"] == {"sslmode": "require", "connect_timeout": "5"}
    url = child_environment()["DATABASE_URL"]  # may carry ?host=<socket folder> already
    url += ("&" if "?" in url else "?") + "sslmode=disable&application_name=ff-probe"
    result = _run_python(
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute(\"SELECT current_setting('application_name')\")\n"
        "    print(cursor.fetchone()[0])",
        DATABASE_URL=url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ff-probe"


def test_every_warning_is_logged_once_in_development(db: None) -> None:
    result = _run_python(
        "import django, logging; django.setup()\n"
        "logging.getLogger('django.request').warning('Not Found: /marker-request')\n"
        "logging.getLogger('django.server').warning('marker-server')\n"
        "logging.getLogger('apps.integrations').warning('marker-app')",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    for marker in ("/marker-request", "marker-server", "marker-app"):
        assert result.stderr.count(marker) == 1, result.stderr
