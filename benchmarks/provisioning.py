"""Tenant provisioning: cloning the migrated template schema vs migrating a fresh schema.

fullfield benchmark provisioning
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.clone import CloneSchema  # noqa: E402

from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.selectors import TEMPLATE_SCHEMA  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def _drop(schema: str) -> None:
    use_public_schema()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _record_migrations(schema: str) -> None:
    call_command(
        "migrate_schemas",
        schema_name=schema,
        tenant=True,
        fake=True,
        interactive=False,
        verbosity=0,
    )


def clone_schema() -> float:
    """The schema part of provisioning: clone the template, record its migrations as applied."""
    schema = f"bench_clone_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    CloneSchema().clone_schema(TEMPLATE_SCHEMA, schema)
    _record_migrations(schema)
    elapsed = time.perf_counter() - started
    _drop(schema)
    return elapsed


def migrate_schema() -> float:
    """The same schema without the template: CREATE SCHEMA, then run every migration."""
    schema = f"bench_migrate_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
    elapsed = time.perf_counter() - started
    _drop(schema)
    return elapsed


def provision_tenant() -> float:
    """The whole service: schema, domain, first admin (one password hash), ready flag."""
    slug = f"bench{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    tenant_create(slug=slug, name="Benchmark", admin_email=f"admin@{slug}.test")
    elapsed = time.perf_counter() - started
    tenant_delete(slug=slug)
    return elapsed


def median_of(measure: Callable[[], float]) -> float:
    measure()  # warm-up: installs the clone function, fills the migration loader's caches
    return statistics.median(measure() for _ in range(ROUNDS))


def main() -> None:
    clone, migrate, provision = (
        median_of(clone_schema),
        median_of(migrate_schema),
        median_of(provision_tenant),
    )
    print(
        f"provisioning: clone {clone:.2f} s/schema vs migrate {migrate:.2f} s/schema"
        f" -> migrate takes {migrate / clone:.1f}x as long (median of {ROUNDS});"
        f" a whole tenant (clone + domain + admin) {provision:.2f} s"
    )
    from benchmarks._report import report_row

    report_row(
        workload="tenant schema by clone vs migrate",
        ours=clone,
        unit="s",
        reference=migrate,
        reference_name="migrating a fresh schema",
        goal=1.0,
        goal_on="ours",
        lower_is_better=True,
        note=f"whole tenant {provision:.2f} s",
    )


if __name__ == "__main__":
    main()
