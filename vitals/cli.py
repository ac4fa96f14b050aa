"""The ``vitals`` command line: builds :class:`Settings` once and dispatches subcommands.

Each subcommand lives in ``vitals/commands/<name>.py`` with ``register(subparsers)``;
this module holds no logic of its own beyond turning every failure into one line on
stderr and a non-zero exit status (``-v`` shows the traceback too).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from pydantic import ValidationError

from vitals import __version__
from vitals.commands import COMMAND_MODULES, load
from vitals.errors import USER_ERRORS
from vitals.settings import Settings

#: Exit status of a user error (bad argument, missing file, unreachable service).
USAGE = 2
#: Exit status of an unexpected failure (a defect: run with -v and report it).
FAILURE = 1


class OneLineParser(argparse.ArgumentParser):
    """argparse with errors on one line: ``vitals alerts: --type 'fall': invalid choice``."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


#: Command modules to register; None: only the one named on the command line (all for
#: ``--help`` or an unknown name). Tests may set a tuple of modules.
COMMANDS: tuple[ModuleType, ...] | None = None


def _modules(argv: Sequence[str] | None) -> tuple[ModuleType, ...]:
    if COMMANDS is not None:
        return COMMANDS
    words = list(sys.argv[1:] if argv is None else argv)
    named = next((word for word in words if not word.startswith("-")), None)
    return load([named] if named in COMMAND_MODULES else list(COMMAND_MODULES))


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the command of ``argv`` (every command when none is named)."""
    parser = OneLineParser(
        prog="vitals",
        description="Real-time health telemetry: MQTT readings -> detectors -> alerts -> SMS.",
        epilog="Configuration comes from VITALS_* environment variables (see README); "
        "commands that use a database take --db URL (default VITALS_DATABASE_URL).",
    )
    parser.add_argument("--version", action="version", version=f"vitals {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging, tracebacks on errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _modules(argv):
        module.register(subparsers)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"database_url": args.db} if getattr(args, "db", None) else {}
    return Settings(**overrides)


def _configuration_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = "_".join(str(part) for part in item.get("loc", ()))
        problems.append(f"VITALS_{name.upper()}={item.get('input')!r}: {item.get('msg')}")
    return "; ".join(problems)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    name = f"vitals {args.command}"
    try:
        settings = _settings(args)
    except ValidationError as error:
        print(f"vitals: invalid configuration: {_configuration_error(error)}", file=sys.stderr)
        return USAGE
    try:
        return int(args.handler(args, settings))
    except USER_ERRORS as error:
        if args.verbose:
            traceback.print_exc()
        print(f"{name}: {error}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(
            f"{name}: unexpected {type(error).__name__}: {first} (run `vitals -v "
            f"{args.command} ...` for the traceback)",
            file=sys.stderr,
        )
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
