"""Subcommands of ``vitals``; each module has ``register(subparsers)``.

Modules are imported only when needed: ``vitals alerts`` imports the storage layer, not
NeuroKit2, Faust and matplotlib (``vitals --help`` imports them all to list every command).
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

#: Module of each subcommand, in the order ``vitals --help`` lists them.
COMMAND_MODULES: dict[str, str] = {
    "demo": "demo",
    "run": "run",
    "simulate": "simulate",
    "replay": "replay",
    "score": "score",
    "plot": "plot",
    "import": "trace_import",
    "alerts": "alerts",
    "status": "alerts",
    "api": "api",
    "keys": "keys",
    "bridge": "bridge",
    "worker": "worker",
    "devices": "devices",
    "users": "people",
    "contacts": "people",
    "db": "db",
}


def load(names: list[str]) -> tuple[ModuleType, ...]:
    """The command modules for ``names`` (each once, in listing order)."""
    wanted = dict.fromkeys(COMMAND_MODULES[name] for name in COMMAND_MODULES if name in names)
    return tuple(import_module(f"vitals.commands.{module}") for module in wanted)


def __getattr__(name: str) -> tuple[ModuleType, ...]:
    """``COMMANDS``: every command module (imports them all)."""
    if name != "COMMANDS":
        raise AttributeError(name)
    return load(list(COMMAND_MODULES))
