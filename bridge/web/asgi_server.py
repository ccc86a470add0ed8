"""Run an ASGI app on uvicorn inside the current event loop (tests, benchmarks, embedded peers).

The listening socket is bound here (port 0 picks a free port), so a busy port raises ConfigError
instead of uvicorn's ``sys.exit``. ``startup``/``shutdown`` are called directly: no signal handlers
are installed and no uvicorn tick loop runs, so nothing polls while the server is up.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from bridge.errors import ConfigError

__all__ = ["BufferedWebSocketProtocol", "RunningServer", "bind_socket", "serve_asgi", "uvicorn_config"]

# Received messages a connection may queue for a slow app before its socket stops being read: 50 caller
# frames (one second of audio). Beyond it, the kernel's buffers and TCP push back on the peer.
READ_HIGH_WATER = 50


class BufferedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, pausing reads only above a queue high-water mark.

    The stock protocol pauses the transport after every message it queues and resumes it when the
    app takes the message: two ``epoll_ctl`` system calls and a trip through the loop per 20 ms
    caller frame, about a tenth of the bridge's CPU under load. Here reading pauses once
    ``READ_HIGH_WATER`` messages wait unread, and resumes (in the stock ``receive``) when the app has
    drained them all, so flow control still holds a peer that outruns the app.
    """

    def send_receive_event_to_app(self) -> None:
        paused = self.read_paused
        self.read_paused = True  # the stock method pauses unless it believes reading is paused already
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if not paused and self.queue.qsize() >= READ_HIGH_WATER:
            self.read_paused = True
            self.transport.pause_reading()


def uvicorn_config(app: ASGIApp, host: str, port: int, *, log_level: str = "warning") -> uvicorn.Config:
    """The uvicorn settings every bridge server uses.

    Compression off and the sans-I/O websockets implementation: the cheapest server stack measured for
    20 ms frames (shared PERFORMANCE.md, "Server stack under a relay load"), with reads paused only
    above a high-water mark (:class:`BufferedWebSocketProtocol`).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=BufferedWebSocketProtocol,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level=log_level,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv4 or IPv6); ConfigError when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        # proto=IPPROTO_TCP matters: asyncio only turns on TCP_NODELAY for sockets that say they are TCP,
        # and without it every small frame on a kept-alive connection waits ~40 ms for delayed ACKs.
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


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server started by :func:`serve_asgi`."""

    host: str
    port: int
    server: uvicorn.Server

    @property
    def http_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return "ws" + self.http_url.removeprefix("http")


@contextlib.asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[RunningServer]:
    """Serve ``app`` (lifespan included) until the block exits; ``port=0`` binds a free port."""
    sock = bind_socket(host, port)
    try:
        server = uvicorn.Server(uvicorn_config(app, host, sock.getsockname()[1]))
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        try:
            await server.startup(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits the process when the app's lifespan startup fails
            raise RuntimeError("the ASGI app failed to start (its lifespan startup raised)") from exc
        try:
            yield RunningServer(host=host, port=int(server.servers[0].sockets[0].getsockname()[1]), server=server)
        finally:
            server.should_exit = True
            await server.shutdown(sockets=[sock])
    finally:
        sock.close()
