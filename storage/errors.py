"""Errors raised by the storage package, all under one root, and the classification of
database errors into passing and permanent ones."""

from sqlalchemy.exc import DataError, IntegrityError


class StorageError(Exception):
    """Root of every storage error."""


class InvalidPhoneNumber(StorageError, ValueError):
    """A phone number is not in E.164 form (``+`` then 8 to 15 digits)."""


class NotFound(StorageError, LookupError):
    """A row that was asked for by id does not exist."""


class SchemaMismatch(StorageError):
    """The live database does not match the health-table contract."""


#: MySQL/MariaDB errors about the *data* of a statement: retrying the same statement can
#: never succeed (PyMySQL raises most of them as OperationalError, e.g. 1292).
#: 1048 column cannot be null, 1062 duplicate key, 1264 out of range, 1265 truncated,
#: 1292 incorrect datetime/value (e.g. a TIMESTAMP after 2038-01-19), 1366 incorrect
#: value, 1406 data too long, 1411 incorrect value for a function, 1452 foreign key,
#: 1690 value out of range, 4025 CHECK constraint.
PERMANENT_MYSQL_CODES = frozenset(
    {1048, 1062, 1264, 1265, 1292, 1366, 1406, 1411, 1452, 1690, 4025}
)


def refused_for_good(error: BaseException) -> bool:
    """True when the database refused a statement for its data (a data or integrity
    error), so that retrying it is pointless; False for lost connections, lock wait
    timeouts, deadlocks and other errors that may pass."""
    if isinstance(error, DataError | IntegrityError):
        return True
    return database_error_code(error) in PERMANENT_MYSQL_CODES


def database_error_code(error: BaseException) -> int | None:
    """The driver's numeric error code (MySQL/MariaDB), None when there is none."""
    args = getattr(getattr(error, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None
