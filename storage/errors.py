"""Errors raised by the storage package, all under one root."""


class StorageError(Exception):
    """Root of every storage error."""


class InvalidPhoneNumber(StorageError, ValueError):
    """A phone number is not in E.164 form (``+`` then 8 to 15 digits)."""


class NotFound(StorageError, LookupError):
    """A row that was asked for by id does not exist."""


class SchemaMismatch(StorageError):
    """The live database does not match the health-table contract."""
