"""Many rows into one table in one statement, their values in the form the database stores.

SQLAlchemy's `executemany` takes every parameter of every row through its generic
per-row machinery, which was a quarter of the event loop's time on a first pass over
thousands of new alerts. On SQLite, `insert_many` converts each value once, with the bind
processors SQLAlchemy itself would use for the connection's dialect, and hands the driver
plain tuples. On other databases it is an ordinary `executemany`, whose drivers convert
natively.

It must never change what is stored: no value is converted by a rule of its own, only by
the column type's processor for the dialect (the store's tests read back what was written
through both paths).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["insert_many"]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table's insert of one set of columns, for one dialect: the statement, and the
    converter of each column that has one (by position)."""

    sql: str
    columns: tuple[str, ...]
    converters: tuple[tuple[int, Callable[[Any], Any], bool], ...]  # (index, convert, of None)
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # the row's values, in order

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = list(self.pick(row))
        for index, convert, of_none in self.converters:
            value = values[index]
            if value is not None or of_none:
                values[index] = convert(value)
        return tuple(values)  # the driver takes tuples, not lists


# Keyed by what the code writes (tables and column sets of its own), never by input.
_plans: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _plan(table: sa.Table, dialect: Dialect, columns: tuple[str, ...]) -> _Plan:
    key = (table.name, dialect.name, columns)
    plan = _plans.get(key)
    if plan is None:
        # SQLAlchemy's own statement for these columns, with its order of the parameters.
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup or ())
        assert sorted(order) == sorted(columns), (order, columns)
        converters = []
        for index, name in enumerate(order):
            column_type = table.c[name].type
            convert = column_type.dialect_impl(dialect).bind_processor(dialect)
            if convert is not None:
                # JSON stores None as the JSON text `null`; every other type keeps None.
                converters.append((index, convert, isinstance(column_type, sa.JSON)))
        plan = _Plan(compiled.string, order, tuple(converters), _picker(order))
        _plans[key] = plan
    return plan


def _picker(columns: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    pick = operator.itemgetter(*columns)
    if len(columns) == 1:
        return lambda row: (pick(row),)
    return pick


async def insert_many(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert `rows` (column name → value, as `table.insert()` takes them) into `table`."""
    if not rows:
        return
    dialect = connection.dialect
    if dialect.name != "sqlite" or dialect.paramstyle != "qmark":
        await connection.execute(table.insert(), list(rows))
        return
    shapes: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    for columns, same in shapes.items():
        plan = _plan(table, dialect, columns)
        await connection.exec_driver_sql(plan.sql, [plan.values(row) for row in same])
