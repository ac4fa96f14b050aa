"""Alert-history query latency on MariaDB with one million alerts.

Loads 1 000 000 ``healthAlerts`` rows for 2 000 users over ~347 days (INSERT … SELECT from
MariaDB's SEQUENCE engine, no Python round trips) into a scratch database, then times
:func:`storage.repositories.history.list_alerts` — the query behind ``GET /v1/alerts`` —
for the first page and a deep keyset page, filtered by user, by type, and for a
clinician's ten patients. Prints p50/p95 in milliseconds and the index each query uses.

Run: ``python -m bench.bench_history`` (URL of the server in ``VITALS_BENCH_MYSQL_URL``,
default root@127.0.0.1:3306). The scratch database is dropped at the end unless
``VITALS_BENCH_KEEP=1``.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage import create_engine_from_url, session_factory
from storage.migrate import upgrade
from storage.models import HealthAlert
from storage.repositories.history import AlertFilter, alert_query, encode_cursor, list_alerts

SERVER_URL = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
DATABASE = "vitals_bench_history"
ALERTS = 1_000_000
USERS = 2_000
PAGE = 50
REPEATS = 60

LOAD_USERS = f"""
INSERT INTO users (openId, name, loginMethod)
SELECT CONCAT('bench-', seq), CONCAT('Patient ', seq), 'bench' FROM seq_1_to_{USERS}
"""
# ELT past its list gives NULL: one alert in six is an SOS (alertType NULL).
LOAD_ALERTS = f"""
INSERT INTO healthAlerts
    (userId, alertType, severity, message, heartRate, stressLevel, acknowledged, createdAt)
SELECT 1 + (seq * 7919) % {USERS},
       ELT(1 + seq % 6, 'fall_detected', 'arrhythmia', 'high_stress', 'low_heart_rate',
           'high_heart_rate'),
       ELT(1 + (seq DIV 6) % 4, 'low', 'medium', 'high', 'critical'),
       CONCAT('bench alert ', seq),
       60 + seq % 90,
       1 + seq % 10,
       seq % 3 = 0,
       TIMESTAMP '2025-01-01 00:00:00' + INTERVAL (seq * 30 + seq % 7) SECOND
FROM seq_1_to_{ALERTS}
"""


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def _time(run: Callable[[], object]) -> dict[str, float]:
    for _ in range(3):
        run()  # warm the buffer pool and the connection
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def _cursor_at(session: Session, flt: AlertFilter, offset: int) -> str:
    """The cursor of the row at ``offset`` (found once with OFFSET; not timed)."""
    ids = alert_query(flt, limit=offset + 1)
    last_id = list(session.scalars(ids))[-1]
    alert = session.get(HealthAlert, last_id)
    assert alert is not None and alert.createdAt is not None
    return encode_cursor(alert.createdAt, alert.id)


def _explain(session: Session, flt: AlertFilter, cursor: str | None) -> str:
    query = alert_query(flt, limit=PAGE + 1, cursor=cursor)
    compiled = query.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    rows = session.execute(sa.text(f"EXPLAIN {compiled}")).mappings().all()
    return ", ".join(f"{row['key']} ({row['type']}, rows~{row['rows']})" for row in rows)


def _load(server: sa.Engine) -> tuple[sa.Engine, float]:
    with server.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{DATABASE}`"))
        connection.execute(sa.text(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4"))
    url = make_url(SERVER_URL).set(database=DATABASE).render_as_string(hide_password=False)
    engine = create_engine_from_url(url)
    upgrade(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(sa.text(LOAD_USERS))
        connection.execute(sa.text(LOAD_ALERTS))
        connection.execute(sa.text("ANALYZE TABLE healthAlerts"))
    return engine, time.perf_counter() - started


def main() -> dict[str, Any]:
    """Load, measure, print and return the figures (milliseconds)."""
    server = create_engine_from_url(SERVER_URL)
    engine, load_s = _load(server)
    sessions: sessionmaker[Session] = session_factory(engine)
    rng = random.Random(8)
    results: dict[str, Any] = {"alerts": ALERTS, "users": USERS, "load_s": round(load_s, 1)}
    print(f"loaded {ALERTS:,} alerts for {USERS:,} users in {load_s:.1f} s")
    try:
        with sessions() as session:
            deep_user = AlertFilter(user_id=1)
            deep_type = AlertFilter(kinds=("arrhythmia",))
            clinic = AlertFilter(visible_user_ids=frozenset(range(100, 110)))
            cases: dict[str, tuple[Callable[[], AlertFilter], str | None]] = {
                "user_first_page": (lambda: AlertFilter(user_id=rng.randint(1, USERS)), None),
                "user_deep_page": (lambda: deep_user, _cursor_at(session, deep_user, 400)),
                "type_first_page": (lambda: AlertFilter(kinds=("arrhythmia",)), None),
                "type_deep_page": (lambda: deep_type, _cursor_at(session, deep_type, 80_000)),
                "sos_first_page": (lambda: AlertFilter(kinds=("sos",)), None),
                "clinician_10_patients_first_page": (lambda: clinic, None),
                "clinician_10_patients_deep_page": (
                    lambda: clinic,
                    _cursor_at(session, clinic, 2_500),
                ),
            }
            for name, (make_filter, cursor) in cases.items():

                def run(
                    make: Callable[[], AlertFilter] = make_filter, at: str | None = cursor
                ) -> None:
                    page = list_alerts(session, make(), limit=PAGE, cursor=at)
                    assert len(page.items) == PAGE

                figures = _time(run)
                plan = _explain(session, make_filter(), cursor)
                results[name] = {**{k: round(v, 2) for k, v in figures.items()}, "plan": plan}
                print(
                    f"{name:34s} p50 {figures['p50_ms']:8.2f} ms  p95 {figures['p95_ms']:8.2f} ms"
                    f"  [{plan}]"
                )
            # The proposed index (not in the migrations): type lists without a user sort
            # every row of the type today; with (alertType, createdAt) they read one page.
            session.execute(
                sa.text("CREATE INDEX ix_bench_type_created ON healthAlerts (alertType, createdAt)")
            )
            for name in ("type_first_page", "type_deep_page", "sos_first_page"):
                make_filter, cursor = cases[name]

                def again(
                    make: Callable[[], AlertFilter] = make_filter, at: str | None = cursor
                ) -> None:
                    assert len(list_alerts(session, make(), limit=PAGE, cursor=at).items) == PAGE

                figures = _time(again)
                plan = _explain(session, make_filter(), cursor)
                key = f"{name}_with_alertType_createdAt_index"
                results[key] = {**{k: round(v, 2) for k, v in figures.items()}, "plan": plan}
                print(
                    f"{key:34s} p50 {figures['p50_ms']:8.2f} ms  p95 {figures['p95_ms']:8.2f} ms"
                    f"  [{plan}]"
                )
    finally:
        engine.dispose()
        if os.environ.get("VITALS_BENCH_KEEP") != "1":
            with server.connect() as connection:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{DATABASE}`"))
        server.dispose()
    return results


if __name__ == "__main__":
    main()
