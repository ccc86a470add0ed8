"""CallRunner with a planner: the call's setup is chosen from Twilio's ``start``, after the early dial."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bridge.call.config import CallConfig
from bridge.call.runner import CallRunner, CallSetup
from bridge.realtime.events import (
    ConversationItemCreate,
    ResponseCreated,
    ResponseDone,
    SessionCreated,
    SessionUpdate,
    SessionUpdated,
)
from bridge.realtime.session import SessionSettings
from bridge.realtime.transport import RealtimeTransport
from bridge.sim.ids import new_call_ids
from bridge.sim.stream import TwilioStream
from bridge.telephony.events import CallStarted
from bridge.tools.base import ToolCall, ToolContext, ToolResult
from tests.unit.test_call_runner import FakeMedia, FakeTransport, bridge_tasks

SALES = CallConfig(
    session=SessionSettings(model="gpt-realtime-mini", instructions="You sell.", voice="cedar"), dialplan="sales"
)


class RecordingTools:
    def __init__(self) -> None:
        self.contexts: list[ToolContext] = []

    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]:
        self.contexts.append(context)
        return [ToolResult(c.call_id, c.name, c.arguments, '"ok"', "ok", 0.0, 0.0) for c in calls]


async def test_the_planner_picks_the_setup_at_start_and_the_call_redials_for_its_model() -> None:
    early = FakeTransport([SessionCreated({"id": "sess_1", "model": "gpt-realtime"}, event_id="e1")])
    second = FakeTransport(
        [
            SessionCreated({"id": "sess_2", "model": "gpt-realtime-mini"}, event_id="e2"),
            SessionUpdated({}, event_id="e3"),
        ]
    )
    dials: list[str | None] = []

    async def connect(open_timeout: float, model: str | None) -> RealtimeTransport:
        dials.append(model)
        return early if len(dials) == 1 else second

    tools = RecordingTools()
    started: list[CallStarted] = []

    def plan(call: CallStarted) -> CallSetup:
        started.append(call)
        return CallSetup(SALES, tools)

    stream = TwilioStream(new_call_ids(1), {"From": "+1555", "To": "+1666", "dialplan": "sales"})
    media = FakeMedia([stream.connected().decode(), stream.start().decode()])
    runner = CallRunner(media, plan, connect)
    task = asyncio.create_task(runner.run())
    async with asyncio.timeout(5):
        update = await second.wait_sent(SessionUpdate)
        call = {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
        second.incoming.put_nowait(
            ResponseCreated({"id": "resp_1", "status": "in_progress", "output": []}, event_id="e4")
        )
        second.incoming.put_nowait(
            ResponseDone({"id": "resp_1", "status": "completed", "output": [call]}, event_id="e5")
        )
        await second.wait_sent(ConversationItemCreate)
        media.incoming.put_nowait(None)
        reason = await task

    assert [call.parameters["dialplan"] for call in started] == ["sales"]
    assert dials == [None, "gpt-realtime-mini"], "the early dial names no model; the redial names the call's"
    assert early.closed and early.sent == [], "the early session never got a session.update"
    assert isinstance(update, SessionUpdate) and update.session["instructions"] == "You sell."
    (context,) = tools.contexts
    assert (context.dialplan, context.from_number, context.to_number) == ("sales", "+1555", "+1666")
    assert reason == "media_lost"
    assert bridge_tasks() == []


async def test_a_planner_brings_its_own_tools() -> None:
    async def connect(open_timeout: float, model: str | None) -> RealtimeTransport:
        raise AssertionError("never dialled")

    with pytest.raises(TypeError):
        CallRunner(FakeMedia(), lambda call: CallSetup(CallConfig()), connect, tools=RecordingTools())
