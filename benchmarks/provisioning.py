"""Tenant provisioning: cloning the migrated template schema vs migrating a fresh schema, and a
no-op `migrate_schemas` over many tenants (what every deploy with nothing to migrate costs).

fullfield benchmark provisioning
BENCH_MIGRATE_TENANTS=1000 fullfield benchmark provisioning    # the no-op migrate at full size
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import django
import psycopg
from psycopg import sql

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fullfield.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.clone import CloneSchema  # noqa: E402
from django_tenants.utils import get_public_schema_name  # noqa: E402

from benchmarks._report import report_row, scaled  # noqa: E402
from fullfield.tenancy.context import use_public_schema  # noqa: E402
from fullfield.tenancy.models import Domain, Tenant  # noqa: E402
from fullfield.tenancy.selectors import TEMPLATE_SCHEMA  # noqa: E402
from fullfield.tenancy.services import tenant_create, tenant_delete  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
# 100 tenants keep this benchmark near two minutes; the figures are projected to 1,000 unless
# BENCH_MIGRATE_TENANTS=1000 measures them (20 minutes on 2 busy cores). The projection is a
# lower bound: each tenant's migrate lists its tables twice, a scan of all of pg_class, which
# grows with every schema (0.34 s a scan at 1,000 tenants).
MIGRATE_TENANTS = scaled("BENCH_MIGRATE_TENANTS", 100, minimum=5)
PROJECTED_TENANTS = 1_000
MIGRATE_SLUG_PREFIX = "bench-noop-"
COPY_CONNECTIONS = 4


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


def _raw_connection() -> psycopg.Connection[tuple[object, ...]]:
    """A connection of our own: the copy sets search_path, which Django's must not see."""
    raw: psycopg.Connection[tuple[object, ...]] = connection.get_new_connection(
        connection.get_connection_params()
    )
    return raw


def _template_copy_script(raw: psycopg.Connection[tuple[object, ...]]) -> str:
    """Statements that rebuild the template schema (tables, rows, sequence positions,
    constraints and indexes under their own names) in the schema first on the search_path.

    Written out once and replayed per schema because django-tenants' clone_schema() rebuilds
    each table's definition from the catalogue on every call (about half a second a schema).
    """
    template = sql.Identifier(TEMPLATE_SCHEMA)
    statements: list[sql.Composable] = []
    with raw.cursor() as cursor:
        # Referenced tables print unqualified in constraint definitions: the copy's own.
        cursor.execute(sql.SQL("SET search_path = {}").format(template))
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
            [TEMPLATE_SCHEMA],
        )
        tables = [str(name) for (name,) in cursor.fetchall()]
        for table in tables:
            statements.append(
                sql.SQL(
                    "CREATE TABLE {} (LIKE {}.{} INCLUDING DEFAULTS INCLUDING IDENTITY"
                    " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)"
                ).format(sql.Identifier(table), template, sql.Identifier(table))
            )
        for table in tables:
            cursor.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table)))
            has_rows = cursor.fetchone()
            if has_rows and has_rows[0]:
                statements.append(
                    sql.SQL("INSERT INTO {} OVERRIDING SYSTEM VALUE SELECT * FROM {}.{}").format(
                        sql.Identifier(table), template, sql.Identifier(table)
                    )
                )
        cursor.execute(
            "SELECT c.relname, a.attname, s.last_value, s.last_value IS NOT NULL"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_sequences s ON s.schemaname = n.nspname"
            "  AND format('%%I.%%I', s.schemaname, s.sequencename)"
            "   = pg_get_serial_sequence(format('%%I.%%I', n.nspname, c.relname), a.attname)"
            " WHERE n.nspname = %s AND a.attidentity <> '' AND a.attnum > 0",
            [TEMPLATE_SCHEMA],
        )
        for owner, column, last_value, is_called in cursor.fetchall():
            statements.append(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, {}), {}, {})").format(
                    sql.Literal(sql.Identifier(str(owner)).as_string(raw)),
                    sql.Literal(column),
                    sql.Literal(last_value or 1),
                    sql.Literal(bool(is_called)),
                )
            )
        # Primary keys and unique constraints before the foreign keys that need them.
        cursor.execute(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)"
            " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND k.contype IN ('p', 'u', 'x', 'c', 'f')"
            " ORDER BY k.contype = 'f', c.relname, k.conname",
            [TEMPLATE_SCHEMA],
        )
        for owner, name, definition in cursor.fetchall():
            statements.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.Identifier(str(owner)), sql.Identifier(str(name)), sql.SQL(str(definition))
                )
            )
        # pg_get_indexdef() always names the table with its schema: drop that one qualifier.
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid), format('%%I.%%I', n.nspname, c.relname),"
            " format('%%I', c.relname)"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s"
            "  AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
            [TEMPLATE_SCHEMA],
        )
        for definition, qualified, unqualified in cursor.fetchall():
            statements.append(
                sql.SQL(str(definition).replace(f" ON {qualified} ", f" ON {unqualified} ", 1))
            )
        cursor.execute("RESET search_path")
    raw.rollback()
    return ";\n".join(statement.as_string(raw) for statement in statements)


def _catalogue_counts(schema: str) -> tuple[object, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "         WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'i', 'S')),"
            " (SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace"
            "  WHERE n.nspname = %(schema)s),"
            " (SELECT array_agg(conname ORDER BY conname) FROM pg_constraint k"
            "  JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = %(schema)s),"
            " (SELECT array_agg(c.relname ORDER BY c.relname) FROM pg_class c"
            "  JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  WHERE n.nspname = %(schema)s AND c.relkind = 'i')",
            {"schema": schema},
        )
        row = cursor.fetchone()
        assert row is not None
        migrations_count = sql.SQL("SELECT count(*) FROM {}.django_migrations").format(
            sql.Identifier(schema)
        )
        cursor.execute(migrations_count.as_string(cursor.connection))
        migrations = cursor.fetchone()
        return (*row, migrations)


def _per_schema(
    schemas: list[str], statements: Callable[[str], list[sql.SQL | sql.Composed]]
) -> None:
    """Run each schema's statements in a transaction of its own (each holds a lock per table and
    index it creates or drops), over a few connections: the time goes to PostgreSQL's file
    work (a sync per index built, an unlink per relation dropped), which overlaps."""

    def run(share: list[str]) -> None:
        raw = _raw_connection()
        try:
            for schema in share:
                with raw.cursor() as cursor:
                    for statement in statements(schema):
                        cursor.execute(statement)
                raw.commit()
        finally:
            raw.close()

    shares = [schemas[start::COPY_CONNECTIONS] for start in range(COPY_CONNECTIONS)]
    with ThreadPoolExecutor(COPY_CONNECTIONS) as pool:
        list(pool.map(run, shares))


def migrate_tenants_create(count: int) -> None:
    """`count` tenants up to date with the template: each a Tenant row (with its domain) and a
    schema holding a copy of the template, which `migrate_schemas` visits as it would a tenant
    made by tenant_create() (about 0.6 s each on an idle machine: 10 minutes for 1,000)."""
    use_public_schema()
    slugs = [f"{MIGRATE_SLUG_PREFIX}{number:04d}" for number in range(count)]
    schemas = [slug.replace("-", "_") for slug in slugs]
    raw = _raw_connection()
    try:
        script = sql.SQL(_template_copy_script(raw))
    finally:
        raw.close()
    _per_schema(
        schemas,
        lambda schema: [
            sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)),
            sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)),
            script,
        ],
    )
    if _catalogue_counts(schemas[0]) != _catalogue_counts(TEMPLATE_SCHEMA):
        raise SystemExit(f"the copy {schemas[0]} differs from {TEMPLATE_SCHEMA}")
    tenants = Tenant.objects.bulk_create(
        Tenant(schema_name=schema, slug=slug, name="Benchmark", ready=False)
        for slug, schema in zip(slugs, schemas, strict=True)
    )
    Domain.objects.bulk_create(
        Domain(domain=f"{tenant.slug}.{settings.FULLFIELD_BASE_DOMAIN}", tenant=tenant)
        for tenant in tenants
    )


def migrate_tenants_delete() -> None:
    """Drop the benchmark's tenants (also those a killed run left behind): schemas, then rows."""
    use_public_schema()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
            [MIGRATE_SLUG_PREFIX.replace("-", "_") + "%"],
        )
        schemas = [str(name) for (name,) in cursor.fetchall()]
    _per_schema(
        schemas,
        lambda schema: [sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))],
    )
    tenants = Tenant.objects.filter(slug__startswith=MIGRATE_SLUG_PREFIX)
    Domain.objects.filter(tenant__in=tenants).delete()
    tenants.delete()
    if schemas:
        # Thousands of dropped relations leave the catalogues bloated until autovacuum comes
        # by, which slows every catalogue scan of the benchmarks that run next.
        raw = _raw_connection()
        try:
            raw.autocommit = True
            raw.execute(
                "VACUUM pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_attrdef,"
                " pg_catalog.pg_index, pg_catalog.pg_constraint, pg_catalog.pg_depend,"
                " pg_catalog.pg_type, pg_catalog.pg_sequence, pg_catalog.pg_description,"
                " pg_catalog.pg_namespace"
            )
        finally:
            raw.close()


def migrate_all_tenants(executor: str) -> float:
    """Seconds for `migrate_schemas --tenant` over every tenant, as `fullfield bootstrap` does."""
    started = time.perf_counter()
    call_command("migrate_schemas", tenant=True, executor=executor, interactive=False, verbosity=0)
    elapsed = time.perf_counter() - started
    use_public_schema()
    return elapsed


def noop_migrate() -> None:
    migrate_tenants_delete()
    try:
        created = time.perf_counter()
        migrate_tenants_create(MIGRATE_TENANTS)
        created = time.perf_counter() - created
        visited = Tenant.objects.exclude(schema_name=get_public_schema_name()).count()
        standard_total = migrate_all_tenants("standard")
        parallel_total = migrate_all_tenants("multiprocessing")
    finally:
        deleted = time.perf_counter()
        migrate_tenants_delete()
        deleted = time.perf_counter() - deleted
    standard, parallel = standard_total / visited, parallel_total / visited
    processes = getattr(settings, "TENANT_MULTIPROCESSING_MAX_PROCESSES", 2)
    if visited >= PROJECTED_TENANTS:
        for_all = (
            f"all {visited:,} tenants in {parallel_total:.0f} s ({standard_total:.0f} s standard)"
        )
    else:
        for_all = (
            f"{PROJECTED_TENANTS:,} tenants in {parallel * PROJECTED_TENANTS:.0f} s"
            f" ({standard * PROJECTED_TENANTS:.0f} s standard), projected linearly (a lower bound)"
        )
    print(
        f"no-op migrate_schemas over {visited:,} tenants ({MIGRATE_TENANTS:,} made for it in"
        f" {created:.1f} s, dropped in {deleted:.1f} s): standard {standard_total:.1f} s"
        f" = {standard:.3f} s/tenant, parallel ({processes} processes) {parallel_total:.1f} s"
        f" = {parallel:.3f} s/tenant; {PROJECTED_TENANTS:,} tenants at these rates:"
        f" {standard * PROJECTED_TENANTS:.0f} s standard, {parallel * PROJECTED_TENANTS:.0f} s"
        " parallel"
    )
    report_row(
        workload="no-op migrate_schemas per tenant, parallel executor",
        ours=parallel,
        unit="s",
        reference=standard,
        reference_name="standard executor",
        # The one-shot migrate job gates every deploy (web waits for it): a release with
        # nothing to migrate should wait at most a minute at 1,000 tenants.
        goal=60 / PROJECTED_TENANTS,
        goal_on="ours",
        lower_is_better=True,
        note=f"{for_all}; {processes} processes; measured over {visited:,} tenants",
    )


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
    noop_migrate()


if __name__ == "__main__":
    main()
