"""CallRunner with in-memory fakes for both legs: the failure paths that real sockets make hard to reach."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from bridge.call.actions import Note
from bridge.call.config import CallConfig
from bridge.call.runner import CallRunner
from bridge.errors import UpstreamError
from bridge.realtime.events import (
    ClientEvent,
    ConversationItemCreate,
    ResponseCreated,
    ResponseDone,
    ResponseOutputAudioDelta,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
)
from bridge.realtime.transport import RealtimeTransport
from bridge.sim.ids import new_call_ids
from bridge.sim.stream import TwilioStream
from bridge.tools.base import ToolCall, ToolContext, ToolResult


class FakeMedia:
    """The caller's socket: frames to deliver (None closes it), and what the runner sent."""

    def __init__(self, frames: Sequence[str | bytes | None] = ()) -> None:
        self.incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        for frame in frames:
            self.incoming.put_nowait(frame)
        self.sent: list[str] = []
        self.closed_with: int | None = None

    async def receive(self) -> str | bytes | None:
        return await self.incoming.get()

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = code


class FakeTransport:
    """An upstream session: events to deliver (an exception is raised where it stands), and what was sent."""

    def __init__(self, events: Sequence[ServerEvent | BaseException]) -> None:
        self.incoming: asyncio.Queue[ServerEvent | BaseException | None] = asyncio.Queue()
        for event in events:
            self.incoming.put_nowait(event)
        self.sent: list[ClientEvent] = []
        self.closed = False
        self._sent = asyncio.Condition()

    async def send(self, event: ClientEvent) -> None:
        async with self._sent:
            self.sent.append(event)
            self._sent.notify_all()

    async def wait_sent(self, kind: type[ClientEvent]) -> ClientEvent:
        """The first event of ``kind`` sent, once it has been."""
        async with self._sent:
            await self._sent.wait_for(lambda: any(isinstance(e, kind) for e in self.sent))
        return next(e for e in self.sent if isinstance(e, kind))

    def events(self) -> FakeTransport:
        return self

    def __aiter__(self) -> FakeTransport:
        return self

    async def __anext__(self) -> ServerEvent:
        item = await self.incoming.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True
        self.incoming.put_nowait(None)


def call_start() -> list[str | bytes | None]:
    stream = TwilioStream(new_call_ids(1), {"From": "+1555", "To": "+1666"})
    return [stream.connected().decode(), stream.start().decode()]


READY: list[ServerEvent | BaseException] = [
    SessionCreated({"id": "sess_1"}, event_id="e1"),
    SessionUpdated({}, event_id="e2"),
]


def bridge_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("bridge-call-")]


async def test_a_crashing_pump_ends_the_call_and_its_last_notes_still_reach_the_observers() -> None:
    transport = FakeTransport([*READY, RuntimeError("a bug in a pump")])
    media = FakeMedia(call_start())
    notes: list[Note] = []

    async def connect(open_timeout: float, model: str | None) -> RealtimeTransport:
        return transport

    runner = CallRunner(media, CallConfig(), connect, on_note=[notes.append])
    async with asyncio.timeout(5):
        reason = await runner.run()

    assert reason == "error"
    assert notes[-1].kind == "end" and notes[-1].data == {"reason": "error"}
    assert transport.closed and media.closed_with == 1000
    assert bridge_tasks() == []


async def test_a_failing_upstream_connection_is_retried_once_then_ends_the_call_and_is_counted() -> None:
    attempts: list[float] = []

    async def connect(open_timeout: float, model: str | None) -> RealtimeTransport:
        attempts.append(open_timeout)
        raise UpstreamError("refused", status=401, code="invalid_api_key")

    media = FakeMedia(call_start())
    runner = CallRunner(media, CallConfig(), connect, open_timeout=3.0)
    async with asyncio.timeout(5):
        reason = await runner.run()

    assert (reason, attempts) == ("upstream_unavailable", [3.0, CallConfig().retry_window_s])
    assert runner.upstream_errors == {"invalid_api_key": 2}
    assert media.closed_with == 1000


class BrokenExecutor:
    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]:
        raise RuntimeError("executor bug")


async def test_a_failing_tool_executor_still_answers_the_model() -> None:
    call = {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
    transport = FakeTransport(
        [
            *READY,
            ResponseCreated({"id": "resp_1", "status": "in_progress", "output": []}, event_id="e3"),
            ResponseDone({"id": "resp_1", "status": "completed", "output": [call]}, event_id="e4"),
        ]
    )
    media = FakeMedia(call_start())

    async def connect(open_timeout: float, model: str | None) -> RealtimeTransport:
        return transport

    runner = CallRunner(media, CallConfig(), connect, tools=BrokenExecutor())
    task = asyncio.create_task(runner.run())
    async with asyncio.timeout(5):
        await transport.wait_sent(ConversationItemCreate)
        media.incoming.put_nowait(None)  # the caller goes away
        reason = await task

    (answer,) = [e for e in transport.sent if isinstance(e, ConversationItemCreate)]
    assert answer.item["call_id"] == "call_1"
    assert orjson.loads(answer.item["output"]) == {"error": "tool failure: RuntimeError"}
    assert reason == "media_lost"
    assert bridge_tasks() == []


class StuckMedia(FakeMedia):
    """A caller's socket whose sends never complete (a dead peer with a full buffer)."""

    def __init__(self, frames: Sequence[str | bytes | None]) -> None:
        super().__init__(frames)
        self.stuck = asyncio.Event()

    async def send(self, text: str) -> None:
        self.stuck.set()
        await asyncio.Event().wait()


async def test_ending_from_outside_does_not_wait_for_a_stuck_send() -> None:
    transport = FakeTransport(
        [
            *READY,
            ResponseCreated({"id": "resp_1", "status": "in_progress", "output": []}, event_id="e3"),
            ResponseOutputAudioDelta("resp_1", "item_1", 0, 0, b"\x55" * 160, event_id="e4"),
        ]
    )
    media = StuckMedia(call_start())
    notes: list[Note] = []

    async def connect(open_timeout: float, model: str | None) -> RealtimeTransport:
        return transport

    runner = CallRunner(media, CallConfig(), connect, on_note=[notes.append])
    task = asyncio.create_task(runner.run())
    async with asyncio.timeout(5):
        await media.stuck.wait()  # the upstream pump holds the flush lock, sending audio to the caller
        await runner.end("shutdown")
        reason = await task

    assert reason == "shutdown"
    assert notes[-1].kind == "end" and notes[-1].data == {"reason": "shutdown"}
    assert transport.closed and media.closed_with == 1000
    assert bridge_tasks() == []
