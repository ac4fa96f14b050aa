"""Errors the CLI turns into a one-line message and exit status 2."""

from ingest.errors import IngestError
from simulators.errors import SimulatorError
from storage.errors import StorageError


class VitalsError(Exception):
    """A user-facing error of a command (bad argument, missing row, unreachable service)."""


#: Errors from packages that carry a message meant for the user.
USER_ERRORS: tuple[type[Exception], ...] = (VitalsError, StorageError, IngestError, SimulatorError)
