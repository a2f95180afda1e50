"""Grow a seeded tenant set-based: each row of the given tables copied `copies - 1` more times.

The seeder writes realistic histories at about 6 ms an account, which is 10 minutes for
100,000 accounts; copying a seeded few thousand in SQL takes a fraction of that. Copy k of a row
gets its id (and every reference to a copied table) shifted by k times that table's highest id,
and its external id suffixed with `~k`, so every constraint holds. References to tables not
copied (users, say) are kept. The caller copies every table its workload reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection, models
from psycopg import sql


def unique_text_fields(model: type[models.Model]) -> set[str]:
    """Text fields in a unique constraint of `model`: these get a per-copy suffix."""
    names = {field.name for field in model._meta.concrete_fields if field.unique}
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            names.update(constraint.fields)
    return {
        name
        for name in names
        if isinstance(model._meta.get_field(name), models.CharField | models.TextField)
    }


def rows_replicate(
    tables: Sequence[type[models.Model]],
    copies: int,
    *,
    only: Mapping[type[models.Model], str] | None = None,
) -> dict[str, int]:
    """Copy every row of `tables` copies - 1 times, in the current schema; rows added per table.

    `only` narrows the rows copied of some tables, by an SQL condition on the table's columns.

    Call it inside the transaction that wrote the originals or on a quiet tenant: the highest
    ids are read once, up front, so a copy never collides with an original.
    """
    spans: dict[type[models.Model], int] = {}
    with connection.cursor() as cursor:
        for model in tables:
            if model._meta.pk is None or model._meta.pk.column is None:
                continue  # a composite key: its parts are references, shifted below
            cursor.execute(
                sql.SQL("SELECT coalesce(max({}), 0) FROM {}").format(
                    sql.Identifier(model._meta.pk.column), sql.Identifier(model._meta.db_table)
                )
            )
            spans[model] = cursor.fetchone()[0]
        added: dict[str, int] = {}
        for model in tables:
            columns, expressions = _copy_columns(model, spans)
            table = sql.Identifier(model._meta.db_table)
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {table} ({columns}) SELECT {expressions} "
                    "FROM {table}, generate_series(1, %(copies)s - 1) AS k WHERE {condition}"
                ).format(
                    table=table,
                    columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                    expressions=sql.SQL(", ").join(expressions),
                    condition=sql.SQL((only or {}).get(model, "true")),
                ),
                {"copies": copies},
            )
            added[model._meta.db_table] = cursor.rowcount
            key = model._meta.pk.column if model in spans and model._meta.pk else None
            if key is not None:
                cursor.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence(%s, %s), "
                        "(SELECT coalesce(max({}), 1) FROM {}))"
                    ).format(sql.Identifier(key), table),
                    [model._meta.db_table, key],
                )
            cursor.execute(sql.SQL("ANALYZE {}").format(table))
    return added


def _copy_columns(
    model: type[models.Model], spans: dict[type[models.Model], int]
) -> tuple[list[str], list[sql.Composable]]:
    suffixed = unique_text_fields(model)
    columns: list[str] = []
    expressions: list[sql.Composable] = []
    for field in model._meta.concrete_fields:
        if field.column is None:
            continue  # a composite primary key is its parts, which are columns of their own
        column = sql.Identifier(field.column)
        target = model if field.primary_key else field.related_model
        if target in spans:
            expression: sql.Composable = sql.SQL("{} + k * {}").format(
                column, sql.Literal(spans[target])
            )
        elif field.name in suffixed:
            expression = sql.SQL("{} || '~' || k").format(column)
        else:
            expression = column
        columns.append(field.column)
        expressions.append(expression)
    return columns, expressions
