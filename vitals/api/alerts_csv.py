"""The cells of the alerts CSV export (``GET /v1/alerts.csv``)."""

from __future__ import annotations

from storage.repositories.history import AlertRow

CSV_HEADER = (
    "id",
    "userId",
    "userName",
    "type",
    "severity",
    "acknowledged",
    "createdAt",
    "clearedAt",
    "heartRate",
    "stressLevel",
    "message",
)


def csv_row(row: AlertRow) -> tuple[str, ...]:
    """One alert as CSV cells, in the order of :data:`CSV_HEADER` (times ISO 8601 UTC).

    Cells that a spreadsheet would run as a formula (``= + - @``) are prefixed with a
    quote (OWASP "CSV Injection").
    """

    def safe(text: str | None) -> str:
        value = text or ""
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    return (
        str(row.id),
        str(row.user_id),
        safe(row.user_name),
        row.kind,
        row.severity or "",
        "true" if row.acknowledged else "false",
        row.created_at.isoformat(),
        row.cleared_at.isoformat() if row.cleared_at else "",
        "" if row.heart_rate is None else str(row.heart_rate),
        "" if row.stress_level is None else str(row.stress_level),
        safe(row.message),
    )
