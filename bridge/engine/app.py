"""The engine's Starlette app: ``GET /v1/realtime`` (WebSocket) and a thin async pump.

The pump moves frames between the socket and an ``EngineSession`` and does nothing else: it feeds
received frames with the time, sends what ``poll`` returns, sleeps until the session's next
deadline or the next frame, and runs transcriptions in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from bridge.engine.config import EngineConfig
from bridge.engine.session import Close, EngineSession, Send, Transcribe
from bridge.engine.validate import Dialect

__all__ = ["EngineState", "create_engine_app"]

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


class EngineState:
    """What a running engine app shares with its host: its config and sessions, and a way to wait
    for them to change (every pump step notifies)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.sessions: deque[EngineSession] = deque(maxlen=config.keep_sessions)
        self.connections = 0
        self._changed = asyncio.Condition()
        self._waiting = 0  # notify costs nothing while nobody waits (it runs after every frame)

    async def notify(self) -> None:
        """Wake everyone in ``wait_until``."""
        if not self._waiting:
            return
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` is true (checked after each pump step); bound it with
        ``asyncio.timeout``."""
        self._waiting += 1
        try:
            async with self._changed:
                await self._changed.wait_for(predicate)
        finally:
            self._waiting -= 1


def _denial(message: str, code: str | None) -> JSONResponse:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return JSONResponse({"error": error}, status_code=401)


async def _realtime(websocket: WebSocket) -> None:
    state: EngineState = websocket.app.state.engine
    config = state.config
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        await websocket.send_denial_response(_denial(_NO_KEY, None))
        return
    if config.api_key is not None and token.strip() != config.api_key:
        await websocket.send_denial_response(
            _denial(f"Incorrect API key provided: {token.strip()[:8]}****.", "invalid_api_key")
        )
        return
    dialect: Dialect = "beta" if "realtime=v1" in websocket.headers.get("openai-beta", "") else "ga"
    await websocket.accept()
    seed = None if config.seed is None else f"{config.seed}:{state.connections}"
    state.connections += 1
    session = EngineSession(
        config, dialect=dialect, model=websocket.query_params.get("model"), now=config.clock(), seed=seed
    )
    state.sessions.append(session)
    try:
        await _pump(websocket, session, config)
    finally:
        session.disconnected(config.clock())
        await state.notify()


async def _read(websocket: WebSocket, inbox: asyncio.Queue[Message]) -> None:
    try:
        while True:
            message = await websocket.receive()
            await inbox.put(message)
            if message["type"] == "websocket.disconnect":
                return
    except (OSError, RuntimeError):  # the transport failed under us: treat it as the client leaving
        await inbox.put({"type": "websocket.disconnect"})


async def _transcribe(config: EngineConfig, action: Transcribe, inbox: asyncio.Queue[Message]) -> None:
    try:
        text = await asyncio.to_thread(config.recognizer, action.pcm16, action.rate)
    except Exception as exc:  # any recognizer failure becomes a transcription.failed event
        await inbox.put({"type": "transcription.failed", "item_id": action.item_id, "message": str(exc)})
    else:
        await inbox.put({"type": "transcription.done", "item_id": action.item_id, "text": text})


async def _pump(websocket: WebSocket, session: EngineSession, config: EngineConfig) -> None:
    state: EngineState = websocket.app.state.engine
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = {asyncio.create_task(_read(websocket, inbox))}
    came: float | None = None  # a deadline whose timer fired: it has come even if the clock disagrees
    try:
        while True:
            # uvloop's timers have millisecond precision and may fire a little early; polling at the
            # clock's time would find nothing due and wait again for the remainder, spinning.
            now = config.clock() if came is None else max(config.clock(), came)
            came = None
            for action in session.poll(now):
                if isinstance(action, Send):
                    await websocket.send_text(action.text())
                elif isinstance(action, Transcribe):
                    task = asyncio.create_task(_transcribe(config, action, inbox))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif isinstance(action, Close):
                    await websocket.close(action.code, action.reason)
                    return
            await state.notify()
            if inbox.empty():
                deadline = session.next_deadline()
                try:
                    async with asyncio.timeout(None if deadline is None else max(0.0, deadline - config.clock())):
                        message = await inbox.get()
                except TimeoutError:
                    came = deadline
                    continue
            else:
                message = inbox.get_nowait()
            now = config.clock()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind == "transcription.done":
                session.transcription_done(message["item_id"], message["text"], now)
            elif kind == "transcription.failed":
                session.transcription_failed(message["item_id"], message["message"], now)
            elif message.get("text") is not None:
                session.receive_text(message["text"], now)
            else:
                session.receive_binary(message.get("bytes") or b"", now)
    except WebSocketDisconnect:
        return
    finally:
        pending = list(tasks)  # done callbacks shrink `tasks` while we wait
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_engine_app(config: EngineConfig | None = None, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The engine as an ASGI app; ``extra_routes`` (e.g. REST endpoints) are mounted beside it.

    ``app.state.engine`` is the app's ``EngineState`` (its sessions and config).
    """
    config = config or EngineConfig()
    app = Starlette(routes=[WebSocketRoute("/v1/realtime", _realtime), *extra_routes])
    app.state.engine = EngineState(config)
    return app
