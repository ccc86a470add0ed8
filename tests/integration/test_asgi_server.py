from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bridge.errors import ConfigError
from bridge.web import asgi_server
from bridge.web.asgi_server import READ_HIGH_WATER, BufferedWebSocketProtocol, serve_asgi


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_serves_on_a_free_port_and_stops() -> None:
    app = Starlette(routes=[Route("/", hello)])
    async with serve_asgi(app) as running:
        assert running.port > 0
        async with httpx.AsyncClient() as client:
            response = await client.get(running.http_url + "/")
        assert response.text == "hello"
    async with httpx.AsyncClient() as client:
        try:
            await client.get(running.http_url + "/")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("server still answering after exit")


async def test_a_busy_port_is_a_config_error() -> None:
    app = Starlette(routes=[Route("/", hello)])
    async with serve_asgi(app) as running:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{running.port}"):
            async with serve_asgi(app, port=running.port):
                pass


async def test_a_failing_lifespan_is_reported() -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="failed to start"):
        async with serve_asgi(Starlette(lifespan=broken)):
            pass


class _WatchedProtocol(BufferedWebSocketProtocol):
    """Reports how many messages wait unread and when reading pauses (the test's only window in)."""

    queued: asyncio.Queue[tuple[int, bool]]

    def send_receive_event_to_app(self) -> None:
        super().send_receive_event_to_app()
        type(self).queued.put_nowait((self.queue.qsize(), self.transport.is_reading()))


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> type[_WatchedProtocol]:
    _WatchedProtocol.queued = asyncio.Queue()
    monkeypatch.setattr(asgi_server, "BufferedWebSocketProtocol", _WatchedProtocol)
    return _WatchedProtocol


class _HeldReader:
    """An app that reads nothing until ``release`` is set, then everything up to the client's close."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.finished = asyncio.Event()
        self.received: list[str] = []
        self.app = Starlette(routes=[WebSocketRoute("/ws", self._endpoint)])

    async def _endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await self.release.wait()
        try:
            while True:
                self.received.append(await websocket.receive_text())
        except WebSocketDisconnect:
            self.finished.set()


async def _deliveries(watched: type[_WatchedProtocol], count: int) -> list[tuple[int, bool]]:
    async with asyncio.timeout(10):
        return [await watched.queued.get() for _ in range(count)]


async def test_reads_go_on_below_the_high_water_mark(watched: type[_WatchedProtocol]) -> None:
    reader = _HeldReader()
    messages = [f"frame {n}" for n in range(READ_HIGH_WATER - 1)]
    async with serve_asgi(reader.app) as running:
        try:
            async with websockets.connect(running.ws_url + "/ws") as client:
                for message in messages:
                    await client.send(message)
                seen = await _deliveries(watched, len(messages))
                assert seen == [(n, True) for n in range(1, len(messages) + 1)], "never paused"
        finally:
            reader.release.set()  # a failed assertion must not leave the app (and the server) hanging
        async with asyncio.timeout(10):
            await reader.finished.wait()
    assert reader.received == messages


async def test_reads_pause_at_the_high_water_mark_and_resume_when_drained(watched: type[_WatchedProtocol]) -> None:
    reader = _HeldReader()
    # Larger than one socket read, so what lies beyond the mark can only arrive after reads resume.
    messages = [f"{n:04d}" + "x" * 65_536 for n in range(3 * READ_HIGH_WATER)]
    async with serve_asgi(reader.app) as running:
        try:
            async with websockets.connect(running.ws_url + "/ws") as client:

                async def send_all() -> None:
                    for message in messages:
                        await client.send(message)

                sending = asyncio.create_task(send_all())
                held = await _deliveries(watched, READ_HIGH_WATER)
                # Reading stops as the mark is reached (frames already read in that chunk still queue).
                assert held == [(n, n < READ_HIGH_WATER) for n in range(1, READ_HIGH_WATER + 1)]
                reader.release.set()
                rest = await _deliveries(watched, len(messages) - READ_HIGH_WATER)
                assert any(reading for _, reading in rest), "reading resumed once the app drained the queue"
                await sending
        finally:
            reader.release.set()  # a failed assertion must not leave the app (and the server) hanging
        async with asyncio.timeout(10):
            await reader.finished.wait()
    assert reader.received == messages
