"""The embedded Redis used when REDIS_URL is unset: data under the state folder, kept across
runs, and stopped with its owner."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import redis

from fullfield import devservices


def test_the_embedded_redis_keeps_its_data_across_runs_and_stops_with_its_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devservices, "STATE_DIR", tmp_path)
    temp_before = set(Path(tempfile.gettempdir()).iterdir())
    # DATABASE_URL set: only Redis is embedded.
    environ = {"DATABASE_URL": "postgres://elsewhere/db"}

    with devservices.EmbeddedServices(environ) as env:
        url = env["REDIS_URL"]
        assert url == f"unix://{tmp_path / 'redis' / 'redis.sock'}"
        redis.Redis.from_url(url).set("kept", "across runs")
    assert not (tmp_path / "redis" / "redis.sock").exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url).ping()

    with devservices.EmbeddedServices(environ) as env:
        assert redis.Redis.from_url(env["REDIS_URL"]).get("kept") == b"across runs"
    # Everything stays in the state folder: no temporary folder is left behind.
    assert {path.name for path in (tmp_path / "redis").iterdir()} <= {
        "redis.db",
        "valkey.log",
        "valkey.conf",
    }
    left_in_temp = set(Path(tempfile.gettempdir()).iterdir()) - temp_before
    assert not [path for path in left_in_temp if path.name.startswith(("valkey", "redis"))]


def test_configured_services_are_used_as_given() -> None:
    environ = {"DATABASE_URL": "postgres://db.example/x", "REDIS_URL": "redis://cache.example/0"}
    with devservices.EmbeddedServices(environ) as env:
        assert env == environ
