"""A whole bridge on loopback sockets for integration tests: engine <-> bridge app <-> caller sim.

``bridge_stack`` starts the bundled engine (``serve_engine``) and the bridge (``serve_asgi`` of
``create_app``) in this event loop; tests dial ``stack.media_url`` with the caller simulator.
``UpstreamProxy`` is a TCP relay between bridge and engine that a test can cut, so an upstream
drop is a real dropped connection without touching the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from bridge.audio.g711 import pcm16_to_ulaw
from bridge.audio.resample import resample
from bridge.audio.wav import read_wav
from bridge.call.actions import Note
from bridge.call.config import CallConfig
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.server import EngineServer, serve_engine
from bridge.web.app import create_app
from bridge.web.asgi_server import RunningServer, serve_asgi
from bridge.web.calls import CallRegistry


def ulaw_audio(path: Path) -> bytes:
    """A shared test WAV (8 kHz PCM16 mono, or any rate) as mu-law 8 kHz."""
    wav = read_wav(path)
    pcm = wav.pcm if wav.rate == 8000 else resample(wav.pcm, wav.rate, 8000)
    return pcm16_to_ulaw(pcm)


class UpstreamProxy:
    """A loopback TCP relay to a target port: ``cut()`` drops every live connection abruptly,
    ``refuse()`` stops listening so new connections fail."""

    def __init__(self) -> None:
        self._target_port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, target_port: int) -> None:
        self._target_port = target_port
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def refuse(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def close(self) -> None:
        if self._server is not None and self._server.is_serving():
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        self._writers.update((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        # One side ended: end both, as a dropped connection does.
        for w in list(self._writers):
            if w is writer:
                w.transport.abort()


@dataclass
class Stack:
    engine: EngineServer
    bridge: RunningServer
    app: Starlette
    notes: list[Note]

    @property
    def media_url(self) -> str:
        return f"{self.bridge.ws_url}/twilio/media"

    @property
    def calls(self) -> CallRegistry:
        calls: CallRegistry = self.app.state.calls
        return calls


@contextlib.asynccontextmanager
async def bridge_stack(
    *,
    engine: EngineConfig | None = None,
    settings: Settings | None = None,
    call_config: CallConfig | None = None,
    proxy: UpstreamProxy | None = None,
    app_options: dict[str, Any] | None = None,
    observers: Sequence[Callable[[Note], None]] = (),
) -> AsyncIterator[Stack]:
    """Engine and bridge on loopback; with ``proxy`` the bridge dials the engine through it."""
    notes: list[Note] = []
    settings = settings or Settings()
    scratch = tempfile.TemporaryDirectory(prefix="bridge-test-")
    if settings.database_url == Settings().database_url:
        # Keep the archive and recordings of test calls out of the checkout's ./var.
        root = Path(scratch.name)
        settings = replace(
            settings, database_url=f"sqlite+aiosqlite:///{root / 'bridge.db'}", data_dir=root / "recordings"
        )
    async with contextlib.AsyncExitStack() as cleanup:
        cleanup.callback(scratch.cleanup)
        engine_server = await cleanup.enter_async_context(serve_engine(engine or EngineConfig(pace=0)))
        engine_url = engine_server.url
        if proxy is not None:
            await proxy.start(engine_server.port)
            engine_url = f"ws://127.0.0.1:{proxy.port}/v1/realtime"
        app = create_app(
            settings,
            engine_url=engine_url,
            call_config=call_config,
            on_note=(notes.append, *observers),
            **(app_options or {}),
        )
        try:
            async with serve_asgi(app) as bridge:
                yield Stack(engine_server, bridge, app, notes)
        finally:
            if proxy is not None:
                await proxy.close()
