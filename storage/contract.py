"""Check a live database against the health-table contract (``vitals db check``).

The expected schema is the SQLAlchemy models, which map the seed exactly; this module
reflects the live database and lists every difference that would break the app or
vitals: a missing table or column, another type family, a shorter VARCHAR, a DECIMAL of
other precision, ENUM values that differ. Extra columns the app added are fine.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, inspect, types
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Inspector

from storage.models import APP_TABLES, Base


@dataclass(frozen=True)
class Mismatch:
    table: str
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        return f"{where}: {self.problem}"


def _shape(sql_type: types.TypeEngine[object]) -> tuple[object, ...]:
    """A comparable description of a column type, the same for a model and a reflection."""
    if isinstance(sql_type, types.TypeDecorator):
        sql_type = sql_type.impl_instance
    if isinstance(sql_type, types.Enum | mysql.ENUM):
        return ("enum", tuple(sql_type.enums))
    if isinstance(sql_type, mysql.TINYINT) and getattr(sql_type, "display_width", None) == 1:
        return ("boolean",)
    if isinstance(sql_type, types.Boolean):
        return ("boolean",)
    if isinstance(sql_type, types.Integer):
        return ("integer",)
    if isinstance(sql_type, types.Numeric) and not isinstance(sql_type, types.Float):
        return ("decimal", sql_type.precision, sql_type.scale)
    if isinstance(sql_type, types.Text) or (
        isinstance(sql_type, types.String) and sql_type.length is None
    ):
        return ("text",)
    if isinstance(sql_type, types.String):
        return ("string", sql_type.length)
    if isinstance(sql_type, types.TIMESTAMP | types.DateTime):
        return ("timestamp",)
    if isinstance(sql_type, types._Binary):
        return ("binary",)
    return (type(sql_type).__name__.lower(),)


def _compatible(expected: tuple[object, ...], actual: tuple[object, ...]) -> bool:
    if expected == actual:
        return True
    # SQLite has no ENUM: a VARCHAR wide enough for every value is the faithful rendering
    if expected[0] == "enum" and actual[0] == "string":
        longest = max(len(str(value)) for value in expected[1])  # type: ignore[attr-defined]
        return actual[1] is None or int(actual[1]) >= longest  # type: ignore[call-overload]
    return False


def check_schema(engine: Engine, tables: tuple[str, ...] = APP_TABLES) -> list[Mismatch]:
    """Every difference between the live database and the contract for ``tables``."""
    inspector = inspect(engine)
    live_tables = set(inspector.get_table_names())
    problems: list[Mismatch] = []
    for name in tables:
        model = Base.metadata.tables[name]
        if name not in live_tables:
            problems.append(Mismatch(name, None, "table is missing"))
            continue
        live_columns = {column["name"]: column for column in inspector.get_columns(name)}
        for column in model.columns:
            live = live_columns.get(column.name)
            if live is None:
                problems.append(Mismatch(name, column.name, "column is missing"))
                continue
            expected = _shape(column.type.dialect_impl(engine.dialect))
            actual = _shape(live["type"])
            if not _compatible(expected, actual):
                problems.append(
                    Mismatch(name, column.name, f"type is {actual}, contract says {expected}")
                )
        expected_pk = {column.name for column in model.primary_key.columns}
        live_pk = set(inspector.get_pk_constraint(name)["constrained_columns"] or [])
        if expected_pk != live_pk:
            problems.append(
                Mismatch(name, None, f"primary key is {sorted(live_pk)}, expected {expected_pk}")
            )
        problems.extend(_key_problems(inspector, name))
    return problems


def _key_problems(inspector: Inspector, name: str) -> list[Mismatch]:
    """Unique columns and foreign keys the contract names (``users.openId``, ``userId``)."""
    model = Base.metadata.tables[name]
    problems = []
    unique_sets = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)}
    unique_sets |= {
        tuple(str(c) for c in ix["column_names"])
        for ix in inspector.get_indexes(name)
        if ix["unique"]
    }
    for column in model.columns:
        if column.unique and (column.name,) not in unique_sets:
            problems.append(Mismatch(name, column.name, "is not UNIQUE"))
    live_fks = {
        (tuple(fk["constrained_columns"]), fk["referred_table"])
        for fk in inspector.get_foreign_keys(name)
    }
    for fk in model.foreign_keys:
        wanted = ((fk.parent.name,), fk.column.table.name)
        if wanted not in live_fks:
            problems.append(
                Mismatch(name, fk.parent.name, f"no foreign key to {fk.column.table.name}")
            )
    return problems
