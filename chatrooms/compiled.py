"""Querysets compiled once per shape, run again with new values.

Building and compiling a queryset costs more Python than running it on a hot path such
as a page of history (the ``UNION ALL`` of ``selectors.viewer_page_queryset`` was about
three quarters of its request). ``CompiledQuery`` builds a queryset once per *shape*
(whatever changes its SQL text: which filters are present, how many values an ``IN``
takes, the ``LIMIT``) from stand-in values, finds where each stand-in went among the
SQL's parameters, and from then on runs that SQL with the request's values in their
places, turning rows into model instances as the ORM would (``from_db`` and the fields'
converters).

Only where the ORM passes a value through to the driver unchanged can its place be
found (PostgreSQL: datetimes, UUIDs and strings are adapted by psycopg). Where a
stand-in comes out changed (SQLite turns datetimes and UUIDs into text), or the rows
are not plain model rows, that shape is not compiled and the queryset runs as usual:
never a wrong parameter, at worst the ORM's own cost.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Model, QuerySet

_NOT_COMPILABLE = object()


class CompiledQuery:
    """``rows(shape, values, build)``: the model instances of ``build(values)``.

    ``build`` takes a dict of values (datetimes, UUIDs, strings, or tuples of those)
    and returns a queryset of ``model`` rows whose SQL depends on the values only
    through its parameters, for a given ``shape`` (a hashable naming everything else
    that changes the SQL). The first call of a shape on a database alias compiles it.
    """

    def __init__(self, model: type[Model], *, max_shapes: int = 256):
        self.model, self.max_shapes = model, max_shapes
        self._compiled: dict[Hashable, object] = {}
        self._lock = threading.Lock()

    def rows(self, shape: Hashable, values: dict, build: Callable[[dict], QuerySet]) -> list[Model]:
        key = (connection.alias, shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(values, build)
            with self._lock:
                if len(self._compiled) >= self.max_shapes:  # a bound, not an LRU: rare
                    self._compiled.clear()
                self._compiled[key] = compiled
        if compiled is _NOT_COMPILABLE:
            return list(build(values))
        sql, slots, names, converters = compiled
        params = [values[name] if index is None else values[name][index] for name, index in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        model, alias = self.model, connection.alias
        if converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for position, functions, expression in converters:
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
        return [model.from_db(alias, names, row) for row in rows]

    def _compile(self, values: dict, build: Callable[[dict], QuerySet]):
        try:
            stand_ins, places = _stand_ins(values)
        except TypeError:  # a value of a type with no stand-in
            return _NOT_COMPILABLE
        queryset = build(stand_ins)
        if not isinstance(queryset, QuerySet) or queryset.model is not self.model:
            return _NOT_COMPILABLE  # a raw query (SQLite's union), or other rows
        compiler = queryset.query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
        slots = []
        for param in params:
            place = places.get((type(param), param))
            if place is None:  # the ORM changed it on its way to the driver
                return _NOT_COMPILABLE
            slots.append(place)
        if set(slots) != set(places.values()) or "compiled-query-stand-in" in sql:
            return _NOT_COMPILABLE  # a value unused, or written into the SQL itself
        columns = [column for column, _select, _alias in compiler.select]
        names = [field.attname for field in self.model._meta.concrete_fields]
        if [getattr(getattr(c, "target", None), "attname", None) for c in columns] != names:
            return _NOT_COMPILABLE  # not the model's own columns in order
        converters = [
            (position, functions, expression)
            for position, (functions, expression) in compiler.get_converters(columns).items()
        ]
        return sql, tuple(slots), names, converters


def _stand_ins(values: dict) -> tuple[dict, dict]:
    """Values of the same types, each distinct from every other, and where each is."""
    counter = itertools.count(1)
    places: dict = {}

    def stand_in(value, place):
        number = next(counter)
        if isinstance(value, datetime):
            made = datetime(2001, 2, 3, tzinfo=UTC) + timedelta(microseconds=number)
        elif isinstance(value, uuid.UUID):
            made = uuid.UUID(int=number)
        elif isinstance(value, str):
            made = f"\x1fcompiled-query-stand-in-{number}"
        else:
            raise TypeError(f"no stand-in for a {type(value).__name__}")
        places[(type(made), made)] = place
        return made

    stand_ins = {}
    for name, value in values.items():
        if isinstance(value, tuple):
            stand_ins[name] = tuple(stand_in(item, (name, i)) for i, item in enumerate(value))
        else:
            stand_ins[name] = stand_in(value, (name, None))
    return stand_ins, places
