"""``bridge engine``: run the bundled Realtime-compatible engine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from starlette.routing import BaseRoute

from bridge import runtime
from bridge.engine.config import EngineConfig
from bridge.engine.rest import rest_routes
from bridge.engine.scenario import Scenario
from bridge.engine.server import serve_engine

__all__ = ["add_arguments", "run"]

log = logging.getLogger("bridge.engine")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None, help="accept only this Bearer token (default: any)")
    parser.add_argument("--scenario", default=None, metavar="FILE", help="YAML/JSON scenario (default: demo agent)")
    parser.add_argument("--session-limit", type=float, default=3600.0, metavar="S", help="session length in seconds")
    parser.add_argument("--pace", type=float, default=4.0, metavar="X", help="audio speed vs real time (0: no pacing)")
    parser.add_argument("--delta-ms", type=int, default=100, metavar="MS", help="audio per output delta")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/engine"),
        metavar="DIR",
        help="where the REST endpoints (files, uploads, batches) keep their files (default var/engine)",
    )
    parser.add_argument(
        "--batch-pace", type=float, default=1.0, metavar="S", help="seconds per batch status step (0: immediate)"
    )


def config_from_args(args: argparse.Namespace) -> EngineConfig:
    """The EngineConfig the command line asks for (ConfigError on bad values)."""
    return EngineConfig(
        api_key=args.api_key,
        session_limit_s=args.session_limit,
        pace=args.pace,
        delta_ms=args.delta_ms,
        scenario=Scenario.load(args.scenario) if args.scenario else None,
        # Nobody can read the logs of a standalone engine; keeping them would only grow memory.
        keep_log=False,
        keep_sessions=100,
    )


def run(args: argparse.Namespace) -> int:
    routes = rest_routes(args.data_dir, api_key=args.api_key, batch_pace_s=args.batch_pace)
    return runtime.run(_serve(config_from_args(args), args.host, args.port, routes))


async def _serve(config: EngineConfig, host: str, port: int, routes: Sequence[BaseRoute]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        async with serve_engine(config, host=host, port=port, extra_routes=routes) as server:
            runtime.settle_heap()
            log.info("Realtime engine listening on %s?model=gpt-realtime", server.url)
            log.info("REST endpoints (files, uploads, batches, responses, transcriptions) at %s/v1", server.http_url)
            await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    log.info("Realtime engine stopped")
    return 0
