"""Typed models: the app's tables (a contract, exact names) and vitals' own tables."""

from storage.models.app import (
    ALERT_TYPES,
    EXERCISE_STATUSES,
    EXERCISE_TYPES,
    READING_TYPES,
    SEVERITIES,
    USER_ROLES,
    EmergencyContact,
    ExerciseSession,
    HealthAlert,
    HealthReading,
    User,
)
from storage.models.base import APP_TABLES, Base
from storage.models.console import AlertNote, PipelineHeartbeat
from storage.models.own import (
    AccessAudit,
    AlertEvent,
    AlertState,
    ApiKey,
    ApiKeyPatient,
    ContactSetting,
    DeadLetter,
    DetectorState,
    Device,
    IngestJournal,
    SmsNotification,
)

__all__ = [
    "ALERT_TYPES",
    "APP_TABLES",
    "EXERCISE_STATUSES",
    "EXERCISE_TYPES",
    "READING_TYPES",
    "SEVERITIES",
    "USER_ROLES",
    "AccessAudit",
    "AlertEvent",
    "AlertNote",
    "AlertState",
    "ApiKey",
    "ApiKeyPatient",
    "Base",
    "ContactSetting",
    "DeadLetter",
    "DetectorState",
    "Device",
    "EmergencyContact",
    "ExerciseSession",
    "HealthAlert",
    "HealthReading",
    "IngestJournal",
    "PipelineHeartbeat",
    "SmsNotification",
    "User",
]
