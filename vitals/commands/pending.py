"""Subcommands whose capability is still being built: each says so and exits 2.

They are listed so ``vitals --help`` shows the whole product surface; each is replaced by
its own module when its issue lands.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

from vitals.commands.common import Subparsers, add_command
from vitals.settings import Settings

PENDING = {
    "simulate": "generate a labelled synthetic trace",
    "score": "score raised alerts against a trace's ground-truth labels",
    "alerts": "list alert history",
}


def register(subparsers: Subparsers) -> None:
    for name, help_text in PENDING.items():
        add_command(subparsers, name, partial(_not_yet, name), help_text)


def _not_yet(name: str, args: argparse.Namespace, settings: Settings) -> int:
    print(f"vitals {name}: not available in this build yet", file=sys.stderr)
    return 2
