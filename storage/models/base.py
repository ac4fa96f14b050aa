"""Declarative base and the names of the tables owned by the wellness app."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

#: Tables that belong to the running wellness app: never altered, only created when missing.
APP_TABLES = ("users", "healthReadings", "healthAlerts", "emergencyContacts", "exerciseSessions")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
