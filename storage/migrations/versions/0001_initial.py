"""initial health schema and vitals tables

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table that is missing; leave existing (app-owned) tables untouched."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "accessAudit" not in existing:
        op.create_table(
            "accessAudit",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("apiKeyId", sa.Integer(), nullable=True),
            sa.Column("action", sa.String(length=32), nullable=False),
            sa.Column("resource", sa.String(length=255), nullable=False),
            sa.Column("userId", sa.Integer(), nullable=True),
            sa.Column("outcome", sa.String(length=16), nullable=False),
            sa.Column("createdAt", sa.TIMESTAMP(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_accessAudit")),
        )
        op.create_index(
            op.f("ix_accessAudit_apiKeyId_createdAt"),
            "accessAudit",
            ["apiKeyId", "createdAt"],
            unique=False,
        )
        op.create_index(
            op.f("ix_accessAudit_userId_createdAt"),
            "accessAudit",
            ["userId", "createdAt"],
            unique=False,
        )
    if "apiKeys" not in existing:
        op.create_table(
            "apiKeys",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("keyPrefix", sa.String(length=16), nullable=False),
            sa.Column("keyHash", sa.String(length=255), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("name", sa.String(length=100), nullable=True),
            sa.Column("createdAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("revokedAt", sa.TIMESTAMP(), nullable=True),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_apiKeys")),
            sa.UniqueConstraint("keyPrefix", name=op.f("uq_apiKeys_keyPrefix")),
        )
    if "deadLetters" not in existing:
        op.create_table(
            "deadLetters",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("receivedAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("topic", sa.String(length=255), nullable=True),
            sa.Column(
                "payload",
                sa.LargeBinary()
                .with_variant(mysql.LONGBLOB(), "mariadb")
                .with_variant(mysql.LONGBLOB(), "mysql"),
                nullable=False,
            ),
            sa.Column("reason", sa.String(length=64), nullable=False),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.Column("deviceId", sa.String(length=64), nullable=True),
            sa.Column("userId", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_deadLetters")),
        )
        op.create_index(op.f("ix_deadLetters_reason"), "deadLetters", ["reason"], unique=False)
        op.create_index(
            op.f("ix_deadLetters_receivedAt"), "deadLetters", ["receivedAt"], unique=False
        )
    if "detectorStates" not in existing:
        op.create_table(
            "detectorStates",
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column(
                "state",
                sa.LargeBinary()
                .with_variant(mysql.LONGBLOB(), "mariadb")
                .with_variant(mysql.LONGBLOB(), "mysql"),
                nullable=False,
            ),
            sa.Column("watermarkMs", sa.BigInteger(), nullable=False),
            sa.Column("updatedAt", sa.TIMESTAMP(), nullable=False),
            sa.PrimaryKeyConstraint("userId", name=op.f("pk_detectorStates")),
        )
    if "ingestJournal" not in existing:
        op.create_table(
            "ingestJournal",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("deviceId", sa.String(length=64), nullable=False),
            sa.Column("seq", sa.BigInteger(), nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("tsMs", sa.BigInteger(), nullable=False),
            sa.Column(
                "payload",
                sa.LargeBinary()
                .with_variant(mysql.LONGBLOB(), "mariadb")
                .with_variant(mysql.LONGBLOB(), "mysql"),
                nullable=False,
            ),
            sa.Column("receivedAt", sa.TIMESTAMP(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestJournal")),
            sa.UniqueConstraint("deviceId", "seq", name=op.f("uq_ingestJournal_deviceId_seq")),
        )
        op.create_index(
            op.f("ix_ingestJournal_userId_tsMs"), "ingestJournal", ["userId", "tsMs"], unique=False
        )
    if "users" not in existing:
        op.create_table(
            "users",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("openId", sa.String(length=64), nullable=False),
            sa.Column("name", sa.Text(), nullable=True),
            sa.Column("email", sa.String(length=320), nullable=True),
            sa.Column("loginMethod", sa.String(length=64), nullable=True),
            sa.Column(
                "role",
                sa.Enum("user", "admin", name="role"),
                server_default=sa.text("'user'"),
                nullable=False,
            ),
            sa.Column(
                "subscriptionTier",
                sa.String(length=32),
                server_default=sa.text("'free'"),
                nullable=True,
            ),
            sa.Column("subscriptionStatus", sa.String(length=32), nullable=True),
            sa.Column("subscriptionEndsAt", sa.TIMESTAMP(), nullable=True),
            sa.Column("stripeCustomerId", sa.String(length=255), nullable=True),
            sa.Column("tokenBalance", sa.Integer(), server_default=sa.text("5"), nullable=True),
            sa.Column(
                "createdAt",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=True,
            ),
            sa.Column(
                "updatedAt",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=True,
            ),
            sa.Column(
                "lastSignedIn",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=True,
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
            sa.UniqueConstraint("openId", name=op.f("uq_users_openId")),
        )
        op.create_index(op.f("ix_users_email"), "users", ["email"], unique=False)
        op.create_index(op.f("ix_users_role"), "users", ["role"], unique=False)
        op.create_index(
            op.f("ix_users_subscriptionTier"), "users", ["subscriptionTier"], unique=False
        )
    if "apiKeyPatients" not in existing:
        op.create_table(
            "apiKeyPatients",
            sa.Column("apiKeyId", sa.Integer(), nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint(
                ["apiKeyId"], ["apiKeys.id"], name=op.f("fk_apiKeyPatients_apiKeyId_apiKeys")
            ),
            sa.ForeignKeyConstraint(
                ["userId"], ["users.id"], name=op.f("fk_apiKeyPatients_userId_users")
            ),
            sa.PrimaryKeyConstraint("apiKeyId", "userId", name=op.f("pk_apiKeyPatients")),
        )
    if "devices" not in existing:
        op.create_table(
            "devices",
            sa.Column("deviceId", sa.String(length=64), nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column("label", sa.String(length=100), nullable=True),
            sa.Column("enabled", sa.Boolean(), server_default=sa.text("1"), nullable=False),
            sa.Column("credentialHash", sa.String(length=255), nullable=True),
            sa.Column("lastSeq", sa.BigInteger(), nullable=True),
            sa.Column("lastSeenAt", sa.TIMESTAMP(), nullable=True),
            sa.Column(
                "createdAt",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=False,
            ),
            sa.ForeignKeyConstraint(["userId"], ["users.id"], name=op.f("fk_devices_userId_users")),
            sa.PrimaryKeyConstraint("deviceId", name=op.f("pk_devices")),
        )
        op.create_index(op.f("ix_devices_userId"), "devices", ["userId"], unique=False)
    if "emergencyContacts" not in existing:
        op.create_table(
            "emergencyContacts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(length=255), nullable=True),
            sa.Column("phone", sa.String(length=20), nullable=True),
            sa.Column("relationship", sa.String(length=100), nullable=True),
            sa.Column("isPrimary", sa.Boolean(), server_default=sa.text("0"), nullable=True),
            sa.Column(
                "createdAt",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=True,
            ),
            sa.ForeignKeyConstraint(
                ["userId"], ["users.id"], name=op.f("fk_emergencyContacts_userId_users")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_emergencyContacts")),
        )
        op.create_index(
            op.f("ix_emergencyContacts_userId"), "emergencyContacts", ["userId"], unique=False
        )
    if "exerciseSessions" not in existing:
        op.create_table(
            "exerciseSessions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column(
                "exerciseType",
                sa.Enum(
                    "box_breathing",
                    "deep_breathing",
                    "grounding",
                    "body_scan",
                    "progressive_relaxation",
                    "gentle_movement",
                    name="exerciseType",
                ),
                nullable=True,
            ),
            sa.Column("triggerReason", sa.String(length=255), nullable=True),
            sa.Column("durationSeconds", sa.Integer(), nullable=True),
            sa.Column("completionPercentage", sa.Integer(), nullable=True),
            sa.Column("moodBefore", sa.Integer(), nullable=True),
            sa.Column("moodAfter", sa.Integer(), nullable=True),
            sa.Column(
                "status",
                sa.Enum("in_progress", "completed", "abandoned", name="status"),
                nullable=True,
            ),
            sa.Column("startedAt", sa.TIMESTAMP(), nullable=True),
            sa.Column("completedAt", sa.TIMESTAMP(), nullable=True),
            sa.ForeignKeyConstraint(
                ["userId"], ["users.id"], name=op.f("fk_exerciseSessions_userId_users")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_exerciseSessions")),
        )
        op.create_index(
            op.f("ix_exerciseSessions_userId"), "exerciseSessions", ["userId"], unique=False
        )
    if "healthAlerts" not in existing:
        op.create_table(
            "healthAlerts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column(
                "alertType",
                sa.Enum(
                    "fall_detected",
                    "arrhythmia",
                    "high_stress",
                    "low_heart_rate",
                    "high_heart_rate",
                    name="alertType",
                ),
                nullable=True,
            ),
            sa.Column(
                "severity",
                sa.Enum("low", "medium", "high", "critical", name="severity"),
                nullable=True,
            ),
            sa.Column("message", sa.Text(), nullable=True),
            sa.Column("heartRate", sa.Integer(), nullable=True),
            sa.Column("stressLevel", sa.Integer(), nullable=True),
            sa.Column("acknowledged", sa.Boolean(), server_default=sa.text("0"), nullable=True),
            sa.Column(
                "createdAt",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=True,
            ),
            sa.ForeignKeyConstraint(
                ["userId"], ["users.id"], name=op.f("fk_healthAlerts_userId_users")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_healthAlerts")),
        )
        op.create_index(
            op.f("ix_healthAlerts_acknowledged"), "healthAlerts", ["acknowledged"], unique=False
        )
        op.create_index(
            op.f("ix_healthAlerts_alertType_createdAt"),
            "healthAlerts",
            ["alertType", "createdAt"],
            unique=False,
        )
        op.create_index(
            op.f("ix_healthAlerts_createdAt"), "healthAlerts", ["createdAt"], unique=False
        )
        op.create_index(
            op.f("ix_healthAlerts_userId_createdAt"),
            "healthAlerts",
            ["userId", "createdAt"],
            unique=False,
        )
    if "healthReadings" not in existing:
        op.create_table(
            "healthReadings",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column("heartRate", sa.Integer(), nullable=True),
            sa.Column("hrv", sa.Numeric(precision=5, scale=2), nullable=True),
            sa.Column("stressLevel", sa.Integer(), nullable=True),
            sa.Column("arrhythmiaDetected", sa.Boolean(), nullable=True),
            sa.Column(
                "readingType",
                sa.Enum("manual", "automatic", "emergency", name="readingType"),
                nullable=True,
            ),
            sa.Column(
                "createdAt",
                sa.TIMESTAMP(),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=True,
            ),
            sa.ForeignKeyConstraint(
                ["userId"], ["users.id"], name=op.f("fk_healthReadings_userId_users")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_healthReadings")),
        )
        op.create_index(
            op.f("ix_healthReadings_userId_createdAt"),
            "healthReadings",
            ["userId", "createdAt"],
            unique=False,
        )
    if "alertEvents" not in existing:
        op.create_table(
            "alertEvents",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("alertId", sa.Integer(), nullable=False),
            sa.Column("eventType", sa.String(length=32), nullable=False),
            sa.Column("actor", sa.String(length=100), nullable=False),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.Column("createdAt", sa.TIMESTAMP(), nullable=False),
            sa.ForeignKeyConstraint(
                ["alertId"], ["healthAlerts.id"], name=op.f("fk_alertEvents_alertId_healthAlerts")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_alertEvents")),
        )
        op.create_index(
            op.f("ix_alertEvents_alertId_createdAt"),
            "alertEvents",
            ["alertId", "createdAt"],
            unique=False,
        )
    if "alertStates" not in existing:
        op.create_table(
            "alertStates",
            sa.Column("alertId", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("onsetAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("lastSeenAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("clearedAt", sa.TIMESTAMP(), nullable=True),
            sa.Column("escalationLevel", sa.Integer(), server_default="0", nullable=False),
            sa.Column("nextEscalationAt", sa.TIMESTAMP(), nullable=True),
            sa.ForeignKeyConstraint(
                ["alertId"], ["healthAlerts.id"], name=op.f("fk_alertStates_alertId_healthAlerts")
            ),
            sa.PrimaryKeyConstraint("alertId", name=op.f("pk_alertStates")),
            sa.UniqueConstraint(
                "userId", "kind", "onsetAt", name=op.f("uq_alertStates_userId_kind_onsetAt")
            ),
        )
        op.create_index(
            op.f("ix_alertStates_userId_kind_clearedAt"),
            "alertStates",
            ["userId", "kind", "clearedAt"],
            unique=False,
        )
    if "contactSettings" not in existing:
        op.create_table(
            "contactSettings",
            sa.Column("contactId", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("timeZone", sa.String(length=64), nullable=True),
            sa.ForeignKeyConstraint(
                ["contactId"],
                ["emergencyContacts.id"],
                name=op.f("fk_contactSettings_contactId_emergencyContacts"),
            ),
            sa.PrimaryKeyConstraint("contactId", name=op.f("pk_contactSettings")),
        )
    if "smsNotifications" not in existing:
        op.create_table(
            "smsNotifications",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            ),
            sa.Column("alertId", sa.Integer(), nullable=False),
            sa.Column("contactId", sa.Integer(), nullable=False),
            sa.Column("userId", sa.Integer(), nullable=False),
            sa.Column("escalationLevel", sa.Integer(), server_default="0", nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("providerSid", sa.String(length=64), nullable=True),
            sa.Column("body", sa.String(length=320), nullable=True),
            sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
            sa.Column("lastError", sa.Text(), nullable=True),
            sa.Column("nextAttemptAt", sa.TIMESTAMP(), nullable=True),
            sa.Column("createdAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("updatedAt", sa.TIMESTAMP(), nullable=False),
            sa.Column("sentAt", sa.TIMESTAMP(), nullable=True),
            sa.Column("deliveredAt", sa.TIMESTAMP(), nullable=True),
            sa.ForeignKeyConstraint(
                ["alertId"],
                ["healthAlerts.id"],
                name=op.f("fk_smsNotifications_alertId_healthAlerts"),
            ),
            sa.ForeignKeyConstraint(
                ["contactId"],
                ["emergencyContacts.id"],
                name=op.f("fk_smsNotifications_contactId_emergencyContacts"),
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_smsNotifications")),
            sa.UniqueConstraint(
                "alertId", "contactId", name=op.f("uq_smsNotifications_alertId_contactId")
            ),
        )
        op.create_index(
            op.f("ix_smsNotifications_providerSid"),
            "smsNotifications",
            ["providerSid"],
            unique=False,
        )
        op.create_index(
            op.f("ix_smsNotifications_status_nextAttemptAt"),
            "smsNotifications",
            ["status", "nextAttemptAt"],
            unique=False,
        )
        op.create_index(
            op.f("ix_smsNotifications_userId_createdAt"),
            "smsNotifications",
            ["userId", "createdAt"],
            unique=False,
        )


def downgrade() -> None:
    """Drop vitals' own tables only: the app's tables and their data are never dropped."""
    for table in (
        "smsNotifications",
        "contactSettings",
        "alertEvents",
        "alertStates",
        "apiKeyPatients",
        "apiKeys",
        "accessAudit",
        "devices",
        "ingestJournal",
        "detectorStates",
        "deadLetters",
    ):
        op.drop_table(table)
