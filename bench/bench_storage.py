"""MariaDB insert rate of window readings and alerts: batched vs row-at-a-time.

Data: ``ROWS`` seeded ``healthReadings`` rows (1000 users x consecutive minutes, HR,
RMSSD, stress, arrhythmia) and ``ALERTS`` ``healthAlerts`` rows, into a fresh migrated
MariaDB schema (``bench.support.database``), in transactions of ``BATCH`` rows:

- readings **batched**: :func:`storage.repositories.ingest.insert_readings` (one
  existence check, one multi-row executemany ``INSERT`` per batch -- what the pipeline
  does); **row-at-a-time**: one ``INSERT`` statement per row, same transactions;
- alerts **batched**: one executemany ``INSERT`` of ``healthAlerts`` per batch;
  **row-at-a-time**: ORM ``session.add`` + ``flush`` per alert (how
  ``alerts.open_alert`` stores a new alert, without its state row).

Each pair runs in the same process, same database, one after the other, on its own
users' rows; the figure is rows/s and the batched/row ratio.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert

from bench import support
from storage.models import HealthAlert, HealthReading
from storage.repositories.ingest import ReadingRow, insert_readings
from storage.repositories.people import add_user

ROWS = int(os.environ.get("BENCH_STORAGE_ROWS", "20000"))
ALERTS = int(os.environ.get("BENCH_STORAGE_ALERTS", "5000"))
BATCH = 500
USERS = 1000


def _rows(first_user: int, n: int, rng: np.random.Generator) -> list[ReadingRow]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    hr = rng.normal(72, 10, n).round().astype(int)
    rmssd = rng.gamma(4, 10, n)
    return [
        ReadingRow(
            first_user + i % USERS,
            t0 + timedelta(minutes=i // USERS),
            int(hr[i]),
            float(rmssd[i]),
            int(i % 5) + 1,
            bool(i % 17 == 0),
            "automatic",
        )
        for i in range(n)
    ]


def _alerts(first_user: int, n: int) -> list[dict[str, Any]]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "userId": first_user + i % USERS,
            "alertType": "high_heart_rate",
            "severity": "medium",
            "message": "Heart rate 131 bpm at rest for 10 min",
            "heartRate": 131,
            "stressLevel": None,
            "acknowledged": False,
            "createdAt": t0 + timedelta(seconds=i),
        }
        for i in range(n)
    ]


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> dict[str, Any]:
    rng = np.random.default_rng(support.SEED)
    with support.database("mariadb") as sessions:
        with sessions.begin() as session:
            ids = [add_user(session, open_id=f"bench-{i}").id for i in range(2 * USERS)]
        first_a, first_b = ids[0], ids[USERS]
        batched_rows, single_rows = _rows(first_a, ROWS, rng), _rows(first_b, ROWS, rng)

        def readings_batched() -> None:
            for start in range(0, ROWS, BATCH):
                with sessions.begin() as session:
                    insert_readings(session, batched_rows[start : start + BATCH])

        def readings_single() -> None:
            for start in range(0, ROWS, BATCH):
                with sessions.begin() as session:
                    for row in single_rows[start : start + BATCH]:
                        session.execute(
                            insert(HealthReading).values(
                                userId=row.user_id,
                                heartRate=row.heart_rate,
                                hrv=round(row.hrv_ms or 0.0, 2),
                                stressLevel=row.stress_level,
                                arrhythmiaDetected=row.arrhythmia,
                                readingType=row.reading_type,
                                createdAt=row.created_at,
                            )
                        )

        alerts_a, alerts_b = _alerts(first_a, ALERTS), _alerts(first_b, ALERTS)

        def alerts_batched() -> None:
            for start in range(0, ALERTS, BATCH):
                with sessions.begin() as session:
                    session.execute(insert(HealthAlert), alerts_a[start : start + BATCH])

        def alerts_single() -> None:
            for start in range(0, ALERTS, BATCH):
                with sessions.begin() as session:
                    for values in alerts_b[start : start + BATCH]:
                        session.add(HealthAlert(**values))
                        session.flush()

        t_rb, t_rs = _timed(readings_batched), _timed(readings_single)
        t_ab, t_as = _timed(alerts_batched), _timed(alerts_single)
    results = {
        "readings": ROWS,
        "alerts": ALERTS,
        "rows_per_transaction": BATCH,
        "readings_batched_per_s": round(ROWS / t_rb),
        "readings_row_at_a_time_per_s": round(ROWS / t_rs),
        "readings_ratio_batched_to_row": round(t_rs / t_rb, 2),
        "alerts_batched_per_s": round(ALERTS / t_ab),
        "alerts_row_at_a_time_per_s": round(ALERTS / t_as),
        "alerts_ratio_batched_to_row": round(t_as / t_ab, 2),
    }
    print(
        f"readings: batched {ROWS / t_rb:,.0f}/s vs row-at-a-time {ROWS / t_rs:,.0f}/s "
        f"({t_rs / t_rb:.1f}x); alerts: batched {ALERTS / t_ab:,.0f}/s vs row-at-a-time "
        f"{ALERTS / t_as:,.0f}/s ({t_as / t_ab:.1f}x)"
    )
    return results


if __name__ == "__main__":
    main()
