"""``vitals worker``: a Faust worker of the scale-out path (``faust -A
vitals.commands.worker worker`` is the same app, configured from ``VITALS_*``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.kafka_topics import DEAD_LETTER_TOPIC, DEFAULT_PARTITIONS
from vitals.commands.common import Subparsers, add_command, open_database
from vitals.extras import require_extra
from vitals.settings import Settings
from vitals.wiring import build_pipeline

if TYPE_CHECKING:  # Faust and aiokafka come with the scaleout extra: imported on use
    from ingest.faust_app import WorkerApp, WorkerOptions

log = logging.getLogger("vitals.worker")


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "worker",
        _worker,
        "run a Faust worker: the pipeline on the Kafka partitions it is assigned",
        "Consume VITALS_KAFKA_TOPIC as one member of the consumer group: the same "
        "windows, detectors, rules and storage as `vitals run`, for the users of the "
        "partitions this worker owns. Start as many as there are partitions at most.",
        database=True,
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help="partitions of the readings topic (must match the topic; default %(default)s)",
    )
    parser.add_argument(
        "--dead-topic", default=DEAD_LETTER_TOPIC, help="dead-letter topic (%(default)s)"
    )
    parser.add_argument(
        "--notifier",
        action="store_true",
        help="also run the SMS notifier loop (on exactly one worker per database)",
    )
    parser.add_argument(
        "--datadir", type=Path, default=Path("faust-data"), help="Faust's local data dir"
    )


def build_worker(settings: Settings, options: WorkerOptions, *, notifier: bool) -> WorkerApp:
    """The Faust app on the configured database and broker (notifier thread if asked)."""
    from ingest.faust_app import create_app  # noqa: PLC0415 (scaleout extra)

    _, sessions = open_database(settings)
    pipeline = build_pipeline(settings, sessions)
    if notifier:
        pipeline.start_notifier()
    return create_app(pipeline.processor, options, broker=settings.kafka_url)


def _options(settings: Settings, partitions: int, dead_topic: str, datadir: Path) -> WorkerOptions:
    require_extra("scaleout")
    from ingest.faust_app import WorkerOptions  # noqa: PLC0415 (scaleout extra)

    return WorkerOptions(
        readings_topic=settings.kafka_topic,
        dead_topic=dead_topic,
        partitions=partitions,
        idle_flush_s=settings.idle_flush_seconds,
        datadir=datadir,
    )


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    require_extra("scaleout")
    import faust  # noqa: PLC0415 (scaleout extra)

    from ingest.bridge import bootstrap_servers, ensure_topics  # noqa: PLC0415

    asyncio.run(
        ensure_topics(
            bootstrap_servers(settings.kafka_url),
            {settings.kafka_topic: args.partitions, args.dead_topic: 1},
        )
    )
    options = _options(settings, args.partitions, args.dead_topic, args.datadir)
    worker_app = build_worker(settings, options, notifier=args.notifier)
    log.info("vitals worker: %s topic %s", settings.kafka_url, settings.kafka_topic)
    worker = faust.Worker(worker_app.app, loglevel="INFO")
    worker.execute_from_commandline()


def __getattr__(name: str) -> Any:
    """``faust -A vitals.commands.worker worker``: the app from ``VITALS_*`` settings."""
    if name != "app":
        raise AttributeError(name)
    settings = Settings()
    options = _options(
        settings,
        DEFAULT_PARTITIONS,
        DEAD_LETTER_TOPIC,
        Path(tempfile.gettempdir()) / "vitals-faust-data",
    )
    return build_worker(settings, options, notifier=False).app
