"""``bridge serve``: the bridge on uvicorn, with the bundled engine when no upstream is configured.

With neither OPENAI_API_KEY nor BRIDGE_REALTIME_URL set, the bundled local engine runs in this
process on a loopback port and every call talks to it; the first log line says so.

Dialplans. The folder (``--dialplans``, else BRIDGE_DIALPLANS, else ``dialplans/``) is loaded before
anything starts: with any problem, every one is printed to stderr as ``file:line: key.path: message``
and the command exits 1. While running, SIGHUP or a change to the folder's files reloads it; a set
with problems is refused (the last good one stays, the problems are logged and shown by
``GET /dialplans``), a good one answers new calls.

Graceful shutdown. The first SIGTERM (or SIGINT) starts a drain: ``/readyz`` turns 503, the
webhook answers busy and new media sockets are closed with 1013, live calls get up to
BRIDGE_DRAIN_SECONDS to finish, then the rest are ended (reason ``shutdown``) and the server
stops; the process exits 0. A second signal ends the live calls at once. uvicorn's own signal
handling is replaced because its shutdown closes every WebSocket at once (1012) before the app
hears of it, and re-raises the signal afterwards (so the process would die by it, not exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Generator
from pathlib import Path
from typing import Any

import uvicorn

from bridge import runtime
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.rest import rest_routes
from bridge.engine.server import serve_engine
from bridge.errors import DialplanError
from bridge.web.app import create_app
from bridge.web.asgi_server import uvicorn_config
from bridge.web.calls import CallRegistry
from bridge.web.dialplans import LiveDialplans

__all__ = ["add_arguments", "run"]

log = logging.getLogger("bridge.serve")

# After the drain nothing should be left; this only bounds a connection that will not close.
_GRACEFUL_TIMEOUT_S = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--dialplans", type=Path, default=None, help="dialplan folder (default: dialplans/)")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    directory: Path = args.dialplans or settings.dialplans_dir
    try:
        runtime.run(_serve(settings, args.host, args.port, directory))
    except DialplanError as exc:
        print(f"bridge serve: not starting, the dialplans in {directory} have problems:", file=sys.stderr)
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    return 0


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: ``_Shutdown`` handles SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _Shutdown:
    """Signal handling: the first signal drains, a second one ends the live calls at once."""

    def __init__(self, server: uvicorn.Server, calls: CallRegistry, drain_seconds: float) -> None:
        self._server = server
        self._calls = calls
        self._drain_seconds = drain_seconds
        self._signals = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def signalled(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            log.info("%s: draining (up to %s s for %d live call(s))", name, self._drain_seconds, len(self._calls.live))
            self._start(self._drain(self._drain_seconds))
        else:
            log.info("%s again: ending %d live call(s) now", name, len(self._calls.live))
            self._start(self._drain(0))

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, seconds: float) -> None:
        ended = await self._calls.drain(seconds)
        if ended:
            log.info("ended %d call(s) for shutdown", ended)
        self._server.should_exit = True


async def _serve(settings: Settings, host: str, port: int, directory: Path) -> None:
    dialplans = LiveDialplans(directory, settings)  # raises DialplanError before anything starts
    async with contextlib.AsyncExitStack() as stack:
        engine_url: str | None = None
        if settings.uses_bundled_engine:
            # keep_log off: a long-running engine must not remember every event of every call.
            # Its REST endpoints (files, batches, transcriptions) serve the post-call jobs offline.
            rest = rest_routes(settings.data_dir.parent / "engine")
            engine_config = EngineConfig(keep_log=False, keep_sessions=16)
            engine = await stack.enter_async_context(serve_engine(engine_config, extra_routes=rest))
            engine_url = engine.url
            log.info("no OPENAI_API_KEY: using the bundled local engine at %s", engine_url)
        else:
            log.info("upstream: %s (%s dialect)", settings.effective_realtime_url, settings.realtime_dialect)
        log.info("dialplans from %s: %s", directory, ", ".join(plan.name for plan in dialplans.current.dialplans))
        app = create_app(settings, engine_url=engine_url, dialplans=dialplans)
        config = uvicorn_config(app, host, port, log_level="info")
        config.timeout_graceful_shutdown = _GRACEFUL_TIMEOUT_S
        server = _Server(config)
        shutdown = _Shutdown(server, app.state.calls, settings.drain_seconds)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, shutdown.signalled, signum)
        loop.add_signal_handler(signal.SIGHUP, dialplans.reload_soon)
        runtime.settle_heap()
        log.info("event loop: %s", runtime.event_loop_kind())
        try:
            await server.serve()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
