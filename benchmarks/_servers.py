"""The production web server for benchmarks and tests: gunicorn on 127.0.0.1, DEBUG off.

    with gunicorn_server(environ=..., log_path=...) as base_url:
        requests.get(f"{base_url}/healthz")

One way to start it, so that every benchmark and test measures the same server: the project's
gunicorn settings (`fullfield.gunicorn_conf`), a fresh SECRET_KEY, plain HTTP, text logs at
WARNING, and a start that waits for `/healthz` to answer 200. Importing this module does not
set Django up.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=10).status_code == 200
    # A loaded machine may answer the first request slowly: that is not a failed start.
    except requests.RequestException:
        return False


@contextmanager
def gunicorn_server(
    *,
    environ: Mapping[str, str] | None = None,
    workers: int = 2,
    timeout: int = 60,
    extra_args: Sequence[str] = (),
    log_path: Path | None = None,
    start_timeout: float = 120,
    cwd: Path | None = None,
    secret_key: str | None = None,
) -> Iterator[str]:
    """gunicorn serving `fullfield.wsgi` with `environ` (default: this process's), DEBUG off;
    yields its base URL once `/healthz` answers, stops it afterwards. Output goes to
    `log_path` when given, else to this process's stdout and stderr. A fresh SECRET_KEY unless
    `secret_key` is given (the caller's, to sign sessions the server must accept)."""
    env = dict(os.environ if environ is None else environ)
    env.update(
        DEBUG="0",
        HTTPS="0",
        SECRET_KEY=secret_key or secrets.token_urlsafe(50),
        LOG_JSON="0",
    )
    env.setdefault("LOG_LEVEL", "WARNING")
    port = free_port()
    command = [
        *[sys.executable, "-m", "gunicorn", "-c", "python:fullfield.gunicorn_conf"],
        *["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--timeout", str(timeout)],
        *["--log-level", "warning", *extra_args, "fullfield.wsgi:application"],
    ]
    if log_path is None:
        server = subprocess.Popen(command, env=env, cwd=cwd)
    else:
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                shown = log_path.read_text(errors="replace")[-5000:] if log_path else ""
                raise RuntimeError(f"gunicorn did not start\n{shown}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def celery_command(*args: str) -> list[str]:
    """`celery -A fullfield.celery_app <args>` with this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "fullfield.celery_app", *args]


@contextmanager
def background_process(
    command: Sequence[str], *, environ: Mapping[str, str], log_path: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (a Celery worker or beat) logging to `log_path`, stopped afterwards."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), env=dict(environ), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
