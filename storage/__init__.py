"""Storage: SQLAlchemy 2.0 models of the app's health tables and our own, engine
setup, Alembic migrations, schema contract check and repositories.

May import sqlalchemy (and alembic for migrations) only.
"""

from storage.engine import create_engine_from_url, session_factory
from storage.errors import StorageError

__all__ = ["StorageError", "create_engine_from_url", "session_factory"]
