"""``vitals api``: serve the clinician HTTP API and web page with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from vitals.api import create_app
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.settings import Settings


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "api",
        _serve,
        "serve the clinician HTTP API and web page",
        "Serve the alert-history API (/v1, /openapi.json, /docs), /healthz, /metrics and the "
        "web page at / on VITALS_API_HOST:VITALS_API_PORT. Create a key for the page with "
        "`vitals keys create` on the same --db.",
        database=True,
    )
    parser.add_argument("--host", help="bind address (default VITALS_API_HOST)")
    parser.add_argument("--port", type=int, help="port (default VITALS_API_PORT)")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    _, sessions = open_database(settings)
    app = create_app(settings, sessions)
    uvicorn.run(
        app,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level="info",
        proxy_headers=True,
    )
    return 0
