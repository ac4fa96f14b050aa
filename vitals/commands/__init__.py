"""Subcommands of ``vitals``; each module has ``register(subparsers)``."""

from types import ModuleType

from vitals.commands import api, db, devices, keys, pending, people, replay, run

COMMANDS: tuple[ModuleType, ...] = (db, people, devices, keys, run, replay, api, pending)
