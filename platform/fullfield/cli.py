"""The `fullfield` console script.

fullfield run                 bootstrap, then web + worker + beat until Ctrl-C
fullfield test [pytest args]  run the test suite
fullfield benchmark [names]   run benchmarks/ (all without names) and print the one table
fullfield tenant create|list|delete ...
fullfield <django command>    any manage.py command (migrate_schemas, shell, ...)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEMO_PASSWORD = "fullfield-demo"  # noqa: S105  (the documented login of the local demo tenant)


def _python_env(environ: dict[str, str]) -> dict[str, str]:
    env = dict(environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
    roots = [str(PROJECT_ROOT), str(PROJECT_ROOT / "platform")]
    env["PYTHONPATH"] = os.pathsep.join([*roots, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _manage(args: Sequence[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "fullfield.cli", *args], env=env, check=True)


def run(argv: Sequence[str]) -> int:
    from fullfield.devservices import EmbeddedServices

    parser = argparse.ArgumentParser(prog="fullfield run")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--no-seed", action="store_true", help="skip the demo tenant's data")
    options = parser.parse_args(argv)

    environ = dict(os.environ)
    environ.setdefault("DEBUG", "1")
    environ["PORT"] = str(options.port)  # the port printed addresses use (FULLFIELD_PUBLIC_PORT)
    with EmbeddedServices(environ) as env:
        env = _python_env(env)
        print("Preparing the database (migrations, template schema, demo tenant)...", flush=True)
        bootstrap = ["bootstrap", "--demo", "--demo-password", DEMO_PASSWORD]
        if options.no_seed:
            env["FULLFIELD_SKIP_DEMO_SEED"] = "1"
        _manage(bootstrap, env)
        celery = [sys.executable, "-m", "celery", "-A", "fullfield.celery_app"]
        schedule = str(PROJECT_ROOT / ".fullfield" / "celerybeat-schedule")
        commands = {
            "web": [
                sys.executable,
                "-m",
                "fullfield.cli",
                "runserver",
                "--noreload",
                f"0.0.0.0:{options.port}",
            ],
            "worker": [*celery, "worker", "--loglevel", "INFO", "--concurrency", "2"],
            "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", schedule],
        }
        processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        slug = env.get("FULLFIELD_DEMO_TENANT", "acme")
        base = env.get("FULLFIELD_BASE_DOMAIN", "localhost")
        print(
            f"\n  Fullfield is running: http://{slug}.{base}:{options.port}/\n"
            f"  Sign in as admin@{slug}.example / {DEMO_PASSWORD}\n"
            f"  API docs: http://{slug}.{base}:{options.port}/api/docs/\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        return _supervise(processes)


def _supervise(processes: dict[str, subprocess.Popen[bytes]]) -> int:
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with {process.returncode}; stopping the rest", flush=True)
                exit_code = process.returncode or 1
                stopping = True
        time.sleep(0.5)
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 20
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    print("Stopped.", flush=True)
    return exit_code


def test(argv: Sequence[str]) -> int:
    from fullfield.devservices import EmbeddedServices

    environ = dict(os.environ)
    environ.setdefault("DEBUG", "1")
    with EmbeddedServices(environ) as env:
        env = _python_env(env)
        return subprocess.run(
            [sys.executable, "-m", "pytest", *argv], env=env, cwd=PROJECT_ROOT
        ).returncode


def benchmark(argv: Sequence[str]) -> int:
    """Run the named benchmarks (all of benchmarks/ without names); end with the one table."""
    sys.path.insert(0, str(PROJECT_ROOT))  # benchmarks/ lives in the clone, not in the wheel
    from benchmarks._report import Row, scaled_environment
    from fullfield.devservices import EmbeddedServices

    names = list(argv) or sorted(
        path.stem
        for path in (PROJECT_ROOT / "benchmarks").glob("*.py")
        if not path.stem.startswith("_")
    )
    environ = scaled_environment(dict(os.environ))
    environ.setdefault("DEBUG", "1")
    rows: list[Row] = []
    failed: list[str] = []
    silent: list[str] = []
    durations: dict[str, float] = {}
    started = time.monotonic()
    with EmbeddedServices(environ) as env:
        env = _python_env(env)
        _manage(["bootstrap"], env)
        for name in names:
            print(f"\n== benchmark {name}", flush=True)
            began = time.monotonic()
            returncode, reported = _run_benchmark(name, env)
            durations[name] = time.monotonic() - began
            rows.extend(reported)
            if returncode:
                failed.append(name)
            elif not reported:
                silent.append(name)
    _write_table(rows, failed, silent, durations, seconds=time.monotonic() - started)
    return 1 if failed else 0


def _run_benchmark(name: str, env: dict[str, str]) -> tuple[int, list[Any]]:
    """Run one benchmark as a child (its output goes straight to ours); collect its rows."""
    import tempfile

    from benchmarks._report import parse_row

    with tempfile.TemporaryDirectory(prefix="fullfield-bench-") as folder:
        rows_file = Path(folder) / "rows.jsonl"
        rows_file.touch()
        command = [sys.executable, "-u", "-m", f"benchmarks.{name}"]
        result = subprocess.run(
            command, env={**env, "BENCH_ROWS_FILE": str(rows_file)}, cwd=PROJECT_ROOT
        )
        rows = [parse_row(line) for line in rows_file.read_text().splitlines()]
    return result.returncode, [row for row in rows if row is not None]


def _write_table(
    rows: list[Any],
    failed: list[str],
    silent: list[str],
    durations: dict[str, float],
    *,
    seconds: float,
) -> None:
    """Resolve rows measured against other rows, print the table, write it as Markdown and JSON."""
    import dataclasses
    import json
    from datetime import UTC, datetime

    from benchmarks._report import figure as shown
    from benchmarks._report import judge

    by_workload = {row.workload: row for row in rows}
    resolved = []
    for row in rows:
        if row.reference_row and row.reference is None and row.reference_row in by_workload:
            reference = by_workload[row.reference_row].ours
            ratio, met = judge(
                ours=row.ours,
                reference=reference,
                goal=row.goal,
                goal_on=row.goal_on,
                lower_is_better=row.lower_is_better,
            )
            row = dataclasses.replace(row, reference=reference, ratio=ratio, met=met)
        resolved.append(row)

    def figure(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{shown(value)} {unit}"

    header = "| workload | ours | reference (same run) | ratio | goal | result |"
    lines = [header, "|---|---|---|---|---|---|"]
    for row in resolved:
        reference = figure(row.reference, row.unit)
        if row.reference is not None and row.reference_name:
            reference += f" ({row.reference_name})"
        shown_ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        result = {True: "met", False: "not met", None: "no reference"}[row.met]
        note = f" ({row.note})" if row.note else ""
        lines.append(
            f"| {row.workload}{note} | {figure(row.ours, row.unit)} | {reference} | {shown_ratio} "
            f"| {row.goal_text()} | {result} |"
        )
    lines.extend(
        f"| {name} | failed: see its output above | - | - | - | not met |" for name in failed
    )
    measured_at = datetime.now(UTC)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    footer = (
        f"{len(resolved)} rows in {seconds / 60:.1f} min on {os.cpu_count()} CPUs "
        f"(load average {load}), BENCH_SCALE={os.environ.get('BENCH_SCALE', '1')}, "
        f"{measured_at:%Y-%m-%d %H:%M} UTC; minutes per benchmark: "
        + ", ".join(f"{name} {spent / 60:.1f}" for name, spent in durations.items())
    )
    table = "\n".join(lines)
    print(f"\n{table}\n\n{footer}", flush=True)
    folder = PROJECT_ROOT / "bench-results"
    folder.mkdir(exist_ok=True)
    stamp = f"{measured_at:%Y%m%dT%H%M%S}"
    markdown = f"# Benchmarks\n\n{table}\n\n{footer}\n"
    document = {
        "measured_at": measured_at.isoformat(),
        "seconds": seconds,
        "seconds_per_benchmark": durations,
        "cpus": os.cpu_count(),
        "bench_scale": os.environ.get("BENCH_SCALE", "1"),
        "failed": failed,
        "reported_no_row": silent,
        "rows": [dataclasses.asdict(row) for row in resolved],
    }
    for name in (stamp, "latest"):
        (folder / f"{name}.md").write_text(markdown)
        (folder / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {folder / stamp}.md and .json (also latest.md, latest.json)", flush=True)


def manage(argv: Sequence[str]) -> int:
    """Any Django management command; embedded services live for the command's duration."""
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        execute_from_command_line(["fullfield", *argv])
        return 0
    from fullfield.devservices import EmbeddedServices

    environ = dict(os.environ)
    environ.setdefault("DEBUG", "1")
    with EmbeddedServices(environ) as env:
        os.environ.update(env)
        execute_from_command_line(["fullfield", *argv])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {"run": run, "test": test, "benchmark": benchmark}
    if args and args[0] in commands:
        return commands[args[0]](args[1:])
    if not args or args[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    return manage(args)


if __name__ == "__main__":
    sys.exit(main())
