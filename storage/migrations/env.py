"""Alembic environment: the engine comes from ``storage.migrate`` (no alembic.ini URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from storage.migrate import VERSION_TABLE
from storage.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through storage.migrate.upgrade(engine)")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
