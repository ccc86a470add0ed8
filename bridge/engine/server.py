"""Run the engine on uvicorn inside the current event loop (tests, benchmarks, ``bridge serve``).

    async with serve_engine(EngineConfig(pace=0)) as server:
        async with websockets.connect(server.url + "?model=gpt-realtime", ...) as ws:
            ...
        server.sessions[-1].log.types()

It runs on :func:`bridge.web.asgi_server.serve_asgi` (port 0 picks a free port; a busy port raises
ConfigError).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from starlette.routing import BaseRoute

from bridge.engine.app import EngineState, create_engine_app
from bridge.engine.config import EngineConfig
from bridge.engine.session import EngineSession
from bridge.web.asgi_server import serve_asgi

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
    async with serve_asgi(app, host, port) as running:
        yield EngineServer(app.state.engine, host, running.port)
