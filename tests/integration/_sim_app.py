"""A minimal app on the far side of the simulated caller: a real WebSocket server on 127.0.0.1.

Each test gives it a script (what the app does once the caller has sent ``connected`` and
``start``); afterwards the server keeps reading until the caller closes, so ``stop`` is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


@dataclass
class Frame:
    at: float  # loop time of arrival
    text: str
    json: Any


@dataclass
class AppSide:
    ws: ServerConnection
    log: list[Frame] = field(default_factory=list)
    stream_sid: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None

    async def receive(self) -> Frame:
        text = await self.ws.recv()
        assert isinstance(text, str), "Twilio sends text frames"
        frame = Frame(asyncio.get_running_loop().time(), text, orjson.loads(text))
        self.log.append(frame)
        return frame

    async def receive_event(self, event: str) -> Frame:
        while True:
            frame = await self.receive()
            if frame.json["event"] == event:
                return frame

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message), text=True)

    async def media(self, audio: bytes) -> None:
        payload = base64.b64encode(audio).decode()
        await self.send({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})

    async def mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def clear(self) -> None:
        await self.send({"event": "clear", "streamSid": self.stream_sid})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Hang up, reading on meanwhile.

        websockets stops reading the socket while its receive queue is full; a close() with unread
        frames queued would then never see the caller's closing frame and wait out the close timeout.
        """

        async def read_on() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.receive()

        reader = asyncio.create_task(read_on())
        await self.ws.close(code, reason)
        await reader

    def events(self, event: str) -> list[Frame]:
        return [frame for frame in self.log if frame.json["event"] == event]


Script = Callable[[AppSide], Awaitable[None]]


async def _nothing(side: AppSide) -> None:
    """Just listen."""


@dataclass
class AppServer:
    url: str
    sides: list[AppSide]
    requests: list[Request]
    connected: asyncio.Event

    async def finished(self) -> AppSide:
        """The first connection, once its socket has closed; re-raises the script's failure."""
        async with asyncio.timeout(10):
            await self.connected.wait()
            side = self.sides[0]
            await side.done.wait()
        if side.error is not None:
            raise side.error
        return side


@asynccontextmanager
async def serve_app(
    script: Script = _nothing,
    *,
    reject: Callable[[ServerConnection, Request], Response | None] | None = None,
) -> AsyncIterator[AppServer]:
    sides: list[AppSide] = []
    requests: list[Request] = []
    connected = asyncio.Event()

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        requests.append(request)
        return reject(connection, request) if reject is not None else None

    async def handler(ws: ServerConnection) -> None:
        side = AppSide(ws)
        sides.append(side)
        connected.set()
        try:
            assert (await side.receive()).json["event"] == "connected"
            start = await side.receive()
            assert start.json["event"] == "start"
            side.stream_sid = start.json["streamSid"]
            await script(side)
            while True:
                await side.receive()
        except ConnectionClosed:
            pass
        except Exception as exc:  # surfaced to the test by AppServer.finished()
            side.error = exc
        finally:
            side.done.set()

    async with serve(handler, "127.0.0.1", 0, compression=None, process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        yield AppServer(f"ws://127.0.0.1:{port}/twilio/media", sides, requests, connected)
