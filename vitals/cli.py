"""The ``vitals`` command line: builds :class:`Settings` once and dispatches subcommands.

Each subcommand lives in ``vitals/commands/<name>.py`` with ``register(subparsers)``;
this module holds no logic of its own.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from vitals import __version__
from vitals.commands import COMMANDS
from vitals.errors import USER_ERRORS
from vitals.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vitals",
        description="Real-time health telemetry: MQTT readings -> detectors -> alerts -> SMS.",
        epilog="Configuration comes from VITALS_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"vitals {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"vitals: invalid configuration:\n{error}", file=sys.stderr)
        return 2
    try:
        return int(args.handler(args, settings))
    except USER_ERRORS as error:
        print(f"vitals {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
