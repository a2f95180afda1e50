"""Typed readers for environment variables that fail loudly on bad values."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigurationError(RuntimeError):
    """A setting from the environment is missing or malformed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ConfigurationError(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")


def env_rate(name: str, default: str) -> str:
    """A request rate such as 6000/min, in the form DRF's throttles read (checked here, once,
    at start-up: DRF parses it per request and would fail every request)."""
    raw = os.environ.get(name, default)
    match = _RATE.match(raw)
    if match is None:
        raise ConfigurationError(
            f"{name} must be a number of requests per second, minute, hour or day, "
            f"e.g. 6000/min; got {raw!r}"
        )
    return f"{match[1]}/{match[2]}"


def database_from_url(url: str) -> dict[str, object]:
    """Django DATABASES entry from postgres://user:pass@host:port/name?host=/socket/dir.

    Every other query parameter (sslmode, sslrootcert, connect_timeout, application_name...)
    is a libpq connection parameter and is passed through to psycopg.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ConfigurationError(
            f"DATABASE_URL must start with postgres:// or postgresql://; got {parts.scheme!r}"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigurationError(
            "DATABASE_URL must name a database, e.g. postgres://host/fullfield"
        )
    query = parse_qs(parts.query)
    host = query.get("host", [unquote(parts.hostname or "")])[0]
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"DATABASE_URL has a bad port: {url!r}") from None
    options = {key: values[-1] for key, values in query.items() if key != "host"}
    return {
        "ENGINE": "django_tenants.postgresql_backend",
        "OPTIONS": options,
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def celery_broker_from_redis_url(url: str) -> str:
    """Kombu spells a Redis unix socket redis+socket://; redis-py spells it unix://."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    if not url.startswith(("redis://", "rediss://")):
        raise ConfigurationError(
            f"REDIS_URL must start with redis://, rediss:// or unix://; got {url!r}"
        )
    return url
