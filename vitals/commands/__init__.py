"""Subcommands of ``vitals``; each module has ``register(subparsers)``."""

from types import ModuleType

from vitals.commands import db, pending, people

COMMANDS: tuple[ModuleType, ...] = (db, people, pending)
