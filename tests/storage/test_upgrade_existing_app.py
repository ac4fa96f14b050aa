"""`db upgrade` on a database where the wellness app already runs: its tables and data
are left exactly as they were; only vitals' own tables are added."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage import create_engine_from_url
from storage.contract import check_schema
from storage.migrate import current_revision, head_revision, upgrade

# The app's DDL as Drizzle would create it on MySQL, with an app-only table and column.
APP_DDL = [
    """CREATE TABLE users (
        id INT AUTO_INCREMENT PRIMARY KEY, openId VARCHAR(64) NOT NULL UNIQUE, name TEXT,
        email VARCHAR(320), loginMethod VARCHAR(64), role ENUM('user','admin') DEFAULT 'user',
        subscriptionTier VARCHAR(32) DEFAULT 'free', subscriptionStatus VARCHAR(32),
        subscriptionEndsAt TIMESTAMP NULL, stripeCustomerId VARCHAR(255),
        tokenBalance INT DEFAULT 5, createdAt TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        updatedAt TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        lastSignedIn TIMESTAMP DEFAULT CURRENT_TIMESTAMP, favouriteAnime VARCHAR(64))""",
    """CREATE TABLE habits (id INT AUTO_INCREMENT PRIMARY KEY, userId INT NOT NULL,
        name TEXT NOT NULL, FOREIGN KEY (userId) REFERENCES users(id))""",
    """CREATE TABLE healthReadings (id INT AUTO_INCREMENT PRIMARY KEY, userId INT NOT NULL,
        heartRate INT, hrv DECIMAL(5,2), stressLevel INT, arrhythmiaDetected BOOLEAN,
        readingType ENUM('manual','automatic','emergency'),
        createdAt TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (userId) REFERENCES users(id))""",
    """CREATE TABLE emergencyContacts (id INT AUTO_INCREMENT PRIMARY KEY, userId INT NOT NULL,
        name VARCHAR(255), phone VARCHAR(20), relationship VARCHAR(100),
        isPrimary BOOLEAN DEFAULT FALSE, createdAt TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
        FOREIGN KEY (userId) REFERENCES users(id))""",
]
APP_ROWS = [
    "INSERT INTO users (openId, name, favouriteAnime) VALUES ('oauth-1', 'Aiko', 'Mushishi')",
    "INSERT INTO habits (userId, name) VALUES (1, 'Morning Meditation')",
    "INSERT INTO healthReadings (userId, heartRate, hrv, stressLevel, arrhythmiaDetected, "
    "readingType, createdAt) VALUES (1, 64, 41.25, 3, 0, 'manual', '2026-02-20 08:00:00')",
    "INSERT INTO emergencyContacts (userId, name, phone, isPrimary) "
    "VALUES (1, 'Ren', '+819012345678', 1)",
]
APP_TABLES_PRESENT = ("users", "habits", "healthReadings", "emergencyContacts")


def _snapshot(engine: sa.Engine) -> dict[str, object]:
    with engine.connect() as connection:
        snapshot: dict[str, object] = {}
        for table in APP_TABLES_PRESENT:
            snapshot[f"ddl:{table}"] = connection.execute(
                sa.text(f"SHOW CREATE TABLE `{table}`")
            ).one()[1]
            snapshot[f"rows:{table}"] = [
                tuple(row) for row in connection.execute(sa.text(f"SELECT * FROM `{table}`"))
            ]
        return snapshot


@pytest.mark.mariadb
def test_upgrade_keeps_app_tables_and_data(mysql_url: str) -> None:
    engine = create_engine_from_url(mysql_url)
    with engine.begin() as connection:
        for statement in APP_DDL + APP_ROWS:
            connection.execute(sa.text(statement))
    before = _snapshot(engine)

    upgrade(engine)
    upgrade(engine)  # a second run is a no-op

    assert _snapshot(engine) == before
    tables = set(sa.inspect(engine).get_table_names())
    assert {"healthAlerts", "exerciseSessions", "devices", "smsNotifications"} <= tables
    assert current_revision(engine) == head_revision(engine)
    # the app's own DDL (inline UNIQUE, unnamed FKs, BOOLEAN) satisfies the contract
    assert check_schema(engine) == []


def test_upgrade_on_sqlite_with_app_tables(sqlite_url: str) -> None:
    engine = create_engine_from_url(sqlite_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE users (id INTEGER PRIMARY KEY, openId VARCHAR(64) UNIQUE)")
        )
        connection.execute(sa.text("INSERT INTO users (openId) VALUES ('oauth-1')"))
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT openId FROM users")).scalars().all() == [
            "oauth-1"
        ]
        columns = {c["name"] for c in sa.inspect(connection).get_columns("users")}
    assert columns == {"id", "openId"}  # never altered, even though it lacks columns
    assert "healthAlerts" in sa.inspect(engine).get_table_names()
