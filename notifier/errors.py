"""Errors raised by the notifier, all under one root."""

from __future__ import annotations


class NotifierError(Exception):
    """Root of every notifier error."""


class NotifierConfigError(NotifierError, ValueError):
    """Settings that cannot work (e.g. Twilio credentials without a sender number)."""


class SendError(NotifierError):
    """A text could not be handed to the SMS provider.

    Attributes
    ----------
    status : int | None
        HTTP status of the provider's answer, None for a network error.
    code : int | None
        Provider error code (Twilio: 21211 invalid number, 21610 unsubscribed, ...).
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TransientSendError(SendError):
    """Worth retrying later: 429, 5xx, connection errors and timeouts.

    ``maybe_sent`` is True when the request may have reached the provider (a read
    timeout): before retrying, look the message up so the contact is not texted twice.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        maybe_sent: bool = False,
    ):
        super().__init__(message, status=status, code=code)
        self.maybe_sent = maybe_sent


class PermanentSendError(SendError):
    """Retrying cannot help (invalid number, unsubscribed recipient, other 4xx)."""
