"""The health tables match the wellness app's schema column by column.

The expected table below is transcribed from the app's schema by hand: it is the oracle, kept
apart from the models so that a change to a model cannot silently change the contract.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from storage import create_engine_from_url
from storage.contract import check_schema
from storage.migrate import upgrade

# table -> column -> MariaDB COLUMN_TYPE, as the seed's types render in MySQL
SEED: dict[str, dict[str, str]] = {
    "healthReadings": {
        "id": "int(11)",
        "userId": "int(11)",
        "heartRate": "int(11)",
        "hrv": "decimal(5,2)",
        "stressLevel": "int(11)",
        "arrhythmiaDetected": "tinyint(1)",
        "readingType": "enum('manual','automatic','emergency')",
        "createdAt": "timestamp",
    },
    "healthAlerts": {
        "id": "int(11)",
        "userId": "int(11)",
        "alertType": (
            "enum('fall_detected','arrhythmia','high_stress','low_heart_rate','high_heart_rate')"
        ),
        "severity": "enum('low','medium','high','critical')",
        "message": "text",
        "heartRate": "int(11)",
        "stressLevel": "int(11)",
        "acknowledged": "tinyint(1)",
        "createdAt": "timestamp",
    },
    "emergencyContacts": {
        "id": "int(11)",
        "userId": "int(11)",
        "name": "varchar(255)",
        "phone": "varchar(20)",
        "relationship": "varchar(100)",
        "isPrimary": "tinyint(1)",
        "createdAt": "timestamp",
    },
    "exerciseSessions": {
        "id": "int(11)",
        "userId": "int(11)",
        "exerciseType": (
            "enum('box_breathing','deep_breathing','grounding','body_scan',"
            "'progressive_relaxation','gentle_movement')"
        ),
        "triggerReason": "varchar(255)",
        "durationSeconds": "int(11)",
        "completionPercentage": "int(11)",
        "moodBefore": "int(11)",
        "moodAfter": "int(11)",
        "status": "enum('in_progress','completed','abandoned')",
        "startedAt": "timestamp",
        "completedAt": "timestamp",
    },
    "users": {
        "id": "int(11)",
        "openId": "varchar(64)",
        "name": "text",
        "email": "varchar(320)",
        "loginMethod": "varchar(64)",
        "role": "enum('user','admin')",
        "subscriptionTier": "varchar(32)",
        "stripeCustomerId": "varchar(255)",
        "tokenBalance": "int(11)",
        "createdAt": "timestamp",
        "updatedAt": "timestamp",
        "lastSignedIn": "timestamp",
    },
}


def test_fresh_database_matches_contract(engine: Engine) -> None:
    assert check_schema(engine) == []


def test_every_seed_column_exists_on_both_backends(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    for table, columns in SEED.items():
        live = {column["name"] for column in inspector.get_columns(table)}
        assert set(columns) <= live, f"{table} lacks {set(columns) - live}"
        if table != "users":  # users carries the app-schema's extra subscription columns
            assert live == set(columns), f"{table} has extra {live - set(columns)}"


@pytest.mark.mariadb
def test_mariadb_column_types_are_the_seed_types(mysql_url: str) -> None:
    engine = create_engine_from_url(mysql_url)
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE()"
            )
        ).all()
    live = {(table, column): column_type for table, column, column_type in rows}
    for table, columns in SEED.items():
        for column, column_type in columns.items():
            assert live[(table, column)] == column_type, f"{table}.{column}"


@pytest.mark.mariadb
def test_mariadb_keys_indexes_and_charset(mysql_url: str) -> None:
    engine = create_engine_from_url(mysql_url)
    upgrade(engine)
    inspector = sa.inspect(engine)
    assert any(
        ix["unique"] and ix["column_names"] == ["openId"] for ix in inspector.get_indexes("users")
    ) or any(u["column_names"] == ["openId"] for u in inspector.get_unique_constraints("users"))
    for table in ("healthReadings", "healthAlerts", "emergencyContacts", "exerciseSessions"):
        fks = inspector.get_foreign_keys(table)
        assert [(fk["constrained_columns"], fk["referred_table"]) for fk in fks] == [
            (["userId"], "users")
        ]
    alert_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("healthAlerts")}
    assert {
        ("userId", "createdAt"),
        ("alertType", "createdAt"),
        ("createdAt",),
        ("acknowledged",),
    } <= alert_indexes
    reading_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("healthReadings")}
    assert ("userId", "createdAt") in reading_indexes
    with engine.connect() as connection:
        collation = connection.execute(
            sa.text(
                "SELECT TABLE_COLLATION FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'healthAlerts'"
            )
        ).scalar_one()
    assert collation.startswith("utf8mb4")


def test_check_reports_a_drifted_schema(empty_db_url: str) -> None:
    engine = create_engine_from_url(empty_db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE users (id INTEGER PRIMARY KEY, openId TEXT)"))
        connection.execute(
            sa.text(
                "CREATE TABLE healthReadings (id INTEGER PRIMARY KEY, userId INTEGER, "
                "heartRate INTEGER, hrv FLOAT, stressLevel INTEGER, readingType VARCHAR(3), "
                "createdAt TIMESTAMP NULL)"
            )
        )
    problems = {str(problem) for problem in check_schema(engine)}
    assert "healthReadings.arrhythmiaDetected: column is missing" in problems
    assert any(p.startswith("healthReadings.hrv: type is") for p in problems)
    assert any(p.startswith("healthReadings.readingType: type is") for p in problems)
    assert "healthAlerts: table is missing" in problems
    assert "users.email: column is missing" in problems
    assert "users.openId: is not UNIQUE" in problems
