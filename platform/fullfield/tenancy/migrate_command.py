"""The migrate command django-tenants runs in each schema (settings.TENANT_BASE_MIGRATE_COMMAND)."""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate
from django.db import connections
from django.db.migrations.loader import MigrationLoader

# Options that make a run do something even when no migration is pending.
_OPTIONS_WITH_WORK_OF_THEIR_OWN = ("app_label", "prune", "plan", "check_unapplied", "run_syncdb")


class MigrateCommand(migrate.Command):
    """Django's migrate, except that a schema with every migration recorded is left as it is.

    Django renders every model's migration state twice and sends pre_migrate and post_migrate
    even when there is nothing to apply; in a schema that is up to date, that is most of the
    time a migrate takes, and `migrate_schemas` pays it once per tenant on every deploy. The
    only receivers here are contenttypes' and auth's, which add the content types and
    permissions of models that migrations created or changed: a schema whose migrations are
    all recorded got them when those migrations ran (or from the template it was cloned from),
    so skipping them changes nothing (a receiver added later must not rely on no-op runs either).
    Models changed without a migration, which Django's no-op run would point out, are caught by
    `makemigrations --check` (tests/test_migrations.py).
    """

    def handle(self, *args: Any, **options: Any) -> None:
        if self._nothing_to_apply(options):
            if options["verbosity"] >= 1:
                self.stdout.write("  No migrations to apply.")
            return
        super().handle(*args, **options)

    def _nothing_to_apply(self, options: dict[str, Any]) -> bool:
        if any(options.get(name) for name in _OPTIONS_WITH_WORK_OF_THEIR_OWN):
            return False
        connection = connections[options["database"]]
        connection.prepare_database()
        loader = MigrationLoader(connection)
        if loader.detect_conflicts():
            return False  # Django's run reports them
        # Every migration recorded: nothing to plan, and no inconsistent history to report
        # (Django's own check would list the schema's tables again, a scan of pg_class).
        return set(loader.graph.nodes) <= set(loader.applied_migrations)
