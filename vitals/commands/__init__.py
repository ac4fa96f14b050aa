"""Subcommands of ``vitals``; each module has ``register(subparsers)``."""

from types import ModuleType

from vitals.commands import (
    alerts,
    api,
    bridge,
    db,
    demo,
    devices,
    keys,
    people,
    plot,
    replay,
    run,
    score,
    simulate,
    trace_import,
    worker,
)

COMMANDS: tuple[ModuleType, ...] = (
    demo,
    run,
    simulate,
    replay,
    score,
    plot,
    trace_import,
    alerts,
    api,
    keys,
    bridge,
    worker,
    devices,
    people,
    db,
)
