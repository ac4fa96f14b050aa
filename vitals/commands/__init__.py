"""Subcommands of ``vitals``; each module has ``register(subparsers)``."""

from types import ModuleType

from vitals.commands import api, db, demo, devices, keys, pending, people, replay, run

COMMANDS: tuple[ModuleType, ...] = (db, people, devices, keys, demo, run, replay, api, pending)
