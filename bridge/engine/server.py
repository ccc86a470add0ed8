"""Run the engine on uvicorn inside the current event loop (tests, benchmarks, ``bridge serve``).

    async with serve_engine(EngineConfig(pace=0)) as server:
        async with websockets.connect(server.url + "?model=gpt-realtime", ...) as ws:
            ...
        server.sessions[-1].log.types()

The listening socket is bound here (port 0 picks a free port), so a busy port raises ConfigError
instead of uvicorn's ``sys.exit``. ``startup``/``shutdown`` are called directly: no signal
handlers are installed and no uvicorn tick loop runs.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import uvicorn
from starlette.routing import BaseRoute

from bridge.engine.app import EngineState, create_engine_app
from bridge.engine.config import EngineConfig
from bridge.engine.session import EngineSession
from bridge.errors import ConfigError

__all__ = ["EngineServer", "serve_engine"]


class EngineServer:
    """A running engine: where it listens and what it has seen."""

    def __init__(self, state: EngineState, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port

    @property
    def config(self) -> EngineConfig:
        return self.state.config

    @property
    def http_url(self) -> str:
        """``http://host:port`` (the OpenAI SDK's ``base_url`` is this plus ``/v1``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The Realtime WebSocket URL, ``ws://host:port/v1/realtime`` (add ``?model=…``)."""
        return "ws" + self.http_url.removeprefix("http") + "/v1/realtime"

    @property
    def sessions(self) -> deque[EngineSession]:
        """Sessions in connection order (the latest is ``sessions[-1]``)."""
        return self.state.sessions

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever a session makes progress
        (bound it with ``asyncio.timeout``)."""
        await self.state.wait_until(predicate)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


@asynccontextmanager
async def serve_engine(
    config: EngineConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    extra_routes: Sequence[BaseRoute] = (),
) -> AsyncIterator[EngineServer]:
    """Serve the engine until the block exits, then shut down (open sessions are closed)."""
    app = create_engine_app(config, extra_routes)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            lifespan="off",
            log_level="warning",
        )
    )
    server.config.load()
    server.lifespan = server.config.lifespan_class(server.config)
    sock = _bind(host, port)
    await server.startup(sockets=[sock])
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield EngineServer(app.state.engine, host, int(bound[1]))
    finally:
        server.should_exit = True
        await server.shutdown(sockets=[sock])
