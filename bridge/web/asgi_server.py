"""Run an ASGI app on uvicorn inside the current event loop (tests, benchmarks, embedded peers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

__all__ = ["RunningServer", "serve_asgi", "uvicorn_config"]


def uvicorn_config(app: ASGIApp, host: str, port: int, *, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn settings every bridge server uses.

    Compression off and the sans-I/O websockets implementation: the cheapest server stack measured for
    20 ms frames (shared PERFORMANCE.md, "Server stack under a relay load").
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="on",
        log_level=log_level,
    )


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server started by :func:`serve_asgi`."""

    host: str
    port: int
    server: uvicorn.Server

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[RunningServer]:
    """Serve ``app`` until the block exits; ``port=0`` binds a free port (read it from the result)."""
    # proto=IPPROTO_TCP matters: asyncio only turns on TCP_NODELAY for sockets that say they are TCP,
    # and without it every small frame on a kept-alive connection waits ~40 ms for delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, host, bound_port))
    # uvicorn installs signal handlers only in Server.run(); serve() leaves the process's handlers alone.
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # re-raise the startup failure
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        yield RunningServer(host=host, port=bound_port, server=server)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
