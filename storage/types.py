"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TIMESTAMP
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcTimestamp(TypeDecorator[datetime]):
    """A ``TIMESTAMP`` column that takes and returns timezone-aware UTC datetimes.

    The database stores naive UTC (MySQL sessions are set to ``+00:00`` by the
    engine); Python code only ever sees aware UTC values. A naive datetime passed
    in is rejected: ambiguity about time zones is how alert histories go wrong.

    Values are stored to the whole second, the precision of the app's ``TIMESTAMP``
    columns on MySQL, on every backend: a key such as an alert's onset then compares equal
    after a round trip, and SQLite and MariaDB hold identical histories.
    """

    impl = TIMESTAMP
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_from_ms(epoch_ms: int) -> datetime:
    """Epoch milliseconds (the MQTT contract's ``ts``) as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def ms_from_utc(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds."""
    return round(moment.timestamp() * 1000)
