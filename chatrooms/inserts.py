"""Inserts in fewer round trips than ``bulk_create`` and ``save`` take on the hot paths.

Each statement is the ORM's own (``InsertQuery``, as ``bulk_create`` builds it), so
every column, default and conversion is the model's; only how the statements are put
together differs:

* ``insert_together``: several groups of new rows in one statement on PostgreSQL, all
  but the last group as data-modifying ``WITH`` queries. One statement is atomic by
  itself, so a caller whose only write it is needs no transaction: no ``BEGIN`` and
  ``COMMIT`` round trips (``services.messages_send``).
* ``insert_unless_conflict``: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` the
  primary key, for a row a unique constraint may already hold: inside a transaction it
  needs no savepoint around it to survive the conflict (``services.user_block``).

Elsewhere than PostgreSQL both fall back to ``bulk_create`` and ``save``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, connection, models, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


def _insert_sql(objs: Sequence[models.Model], *, on_conflict=None, returning=None):
    """The ORM's INSERT of ``objs`` (one model), as (sql, params): every concrete
    column but an auto-numbered primary key, which the database assigns."""
    model = type(objs[0])
    opts = model._meta
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        if opts.auto_field is not None and obj.pk is not None:
            raise ValueError(f"A new {model.__name__} with an auto-numbered id has one already.")
    fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.auto_field]
    query = InsertQuery(model, on_conflict=on_conflict)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = returning
    ((sql, params),) = compiler.as_sql()
    return sql, list(params)


def _inserted(objs: Sequence[models.Model]) -> None:
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def together_is_atomic() -> bool:
    """Whether ``insert_together`` is one statement here, atomic without a transaction
    around it (PostgreSQL); elsewhere its caller must hold one."""
    return connection.vendor == "postgresql"


def insert_together(*groups: Sequence[models.Model]) -> None:
    """Insert each group of new rows (one model per group; empty groups are skipped),
    on PostgreSQL in one statement: together they commit or fail, with or without a
    transaction around them. Elsewhere (SQLite has no data-modifying ``WITH``)
    ``bulk_create`` each group, atomic only within the caller's transaction."""
    groups = [list(objs) for objs in groups if objs]
    if not groups:
        return
    if not together_is_atomic():
        for objs in groups:
            type(objs[0]).objects.bulk_create(objs)
        return
    *ctes, (sql, params) = [_insert_sql(objs) for objs in groups]
    if ctes:
        named = ", ".join(f"w{i} AS ({cte_sql})" for i, (cte_sql, _) in enumerate(ctes))
        sql = f"WITH {named} {sql}"
        params = [value for _, cte_params in ctes for value in cte_params] + params
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for objs in groups:
        _inserted(objs)


def insert_unless_conflict(obj: models.Model) -> bool:
    """Insert ``obj`` unless a unique constraint already holds a row like it (one a
    concurrent transaction committed included: PostgreSQL waits for it, then skips):
    True, with its primary key set, if it went in. Elsewhere (SQLite's ``OR IGNORE``
    would skip more than a unique conflict) a savepoint around ``save``."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
        except IntegrityError:
            return False
        return True
    pk = type(obj)._meta.pk
    sql, params = _insert_sql([obj], on_conflict=OnConflict.IGNORE, returning=[pk])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    _inserted([obj])
    return True
