"""``bridge serve``: the bridge on uvicorn."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from bridge.config import Settings
from bridge.web.app import create_app

__all__ = ["add_arguments", "run"]

log = logging.getLogger("bridge.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--dialplans", type=Path, default=None, help="dialplan folder (default: dialplans/)")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    app = create_app(settings)
    # Compression off and the sans-I/O websockets implementation: the cheapest server stack measured
    # for 20 ms frames (shared PERFORMANCE.md, "Server stack under a relay load").
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_level="info",
    )
    return 0
