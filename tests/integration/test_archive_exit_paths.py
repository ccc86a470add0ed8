"""However a call ends, it reaches the archive finished, with a valid recording of the whole call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from bridge.archive.records import Call
from bridge.archive.store import ArchiveStore
from bridge.audio.wav import parse_wav
from bridge.call.config import CallConfig
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Call as ScenarioCall
from bridge.engine.scenario import Say, Scenario
from bridge.sim.caller import Caller
from bridge.tools.base import ToolCall as ModelToolCall
from bridge.tools.base import ToolContext, ToolResult
from tests.integration._bridge import Stack, UpstreamProxy, bridge_stack

GREETING = "Hello."


class CrashingTools:
    """A tool executor with a bug: it raises instead of answering."""

    async def run(self, calls: Sequence[ModelToolCall], context: ToolContext) -> list[ToolResult]:
        raise RuntimeError("boom")


@asynccontextmanager
async def archived_stack(tmp_path: Path, **options: Any) -> AsyncIterator[Stack]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'bridge.db'}", data_dir=tmp_path / "recordings")
    async with bridge_stack(settings=settings, **options) as stack:
        yield stack


async def the_call(stack: Stack) -> tuple[Call, ArchiveStore]:
    await stack.calls.wait_empty()
    await stack.app.state.archive.writer.flush()
    store: ArchiveStore = stack.app.state.archive.store
    calls, _ = await store.list_calls()
    assert len(calls) == 1
    return calls[0], store


async def assert_recorded_whole(call: Call) -> None:
    assert call.ended_at is not None and call.duration_s is not None and call.recording_path is not None
    data = await anyio.Path(call.recording_path).read_bytes()
    assert call.recording_bytes == len(data)
    wav = parse_wav(data)  # a valid header, covering every sample written
    assert (wav.rate, wav.channels) == (8000, 2)
    assert abs(len(wav.pcm) // 4 - call.duration_s * 8000) <= 1


async def test_a_call_whose_upstream_is_lost_for_good(tmp_path: Path) -> None:
    proxy = UpstreamProxy()
    engine = EngineConfig(pace=0, scenario=Scenario())
    async with archived_stack(tmp_path, engine=engine, call_config=CallConfig(greeting=GREETING), proxy=proxy) as stack:
        async with asyncio.timeout(10):
            caller = Caller(stack.media_url)
            await caller.start()
            await caller.wait_for(lambda m: m.event == "media")  # the greeting is playing
            await proxy.refuse()
            proxy.cut()
            await caller.wait_closed()
            call, store = await the_call(stack)
        events = await store.get_events(call.id)
    assert (call.end_reason, call.upstream_errors) == ("upstream_unavailable", 2)
    assert events is not None and [e.kind for e in events if e.kind in ("error", "end")] == ["error", "error", "end"]
    await assert_recorded_whole(call)


async def test_a_call_whose_tool_executor_crashed(tmp_path: Path) -> None:
    engine = EngineConfig(pace=0, scenario=Scenario(turns=((ScenarioCall("lookup", {"id": 7}), Say("Sorry.")),)))
    options = {"tool_executor": CrashingTools()}
    async with archived_stack(tmp_path, engine=engine, call_config=CallConfig(), app_options=options) as stack:
        async with asyncio.timeout(10):
            async with Caller(stack.media_url, dtmf=[("5", 0.1)]):  # a key the model hears: its turn calls the tool

                def answered() -> bool:
                    sessions = stack.engine.sessions
                    return bool(sessions) and bool(sessions[-1].log.received("conversation.item.create"))

                await stack.engine.wait_until(answered)
            call, store = await the_call(stack)
        tools = await store.get_tool_calls(call.id)
    assert call.end_reason == "caller_hangup"
    assert tools is not None and len(tools) == 1
    assert (tools[0].name, tools[0].arguments, tools[0].status) == ("lookup", {"id": 7}, "error")
    assert tools[0].output == '{"error":"tool failure: RuntimeError"}'
    await assert_recorded_whole(call)


async def test_a_call_ended_by_the_shutdown(tmp_path: Path) -> None:
    engine = EngineConfig(pace=0, scenario=Scenario())
    async with archived_stack(tmp_path, engine=engine, call_config=CallConfig(greeting=GREETING)) as stack:
        async with asyncio.timeout(10):
            caller = Caller(stack.media_url)
            await caller.start()
            await caller.wait_for(lambda m: m.event == "media")
            assert await stack.calls.drain(0) == 1
            await caller.wait_closed()
            call, _ = await the_call(stack)
    assert call.end_reason == "shutdown"
    await assert_recorded_whole(call)


async def test_a_call_live_when_the_server_stops(tmp_path: Path) -> None:
    engine = EngineConfig(pace=0, scenario=Scenario())
    async with asyncio.timeout(10):
        async with archived_stack(tmp_path, engine=engine, call_config=CallConfig(greeting=GREETING)) as stack:
            caller = Caller(stack.media_url)
            await caller.start()
            await caller.wait_for(lambda m: m.event == "media")
        # The server closed the socket (the caller's leg is lost), then its lifespan drained the writer.
        await caller.wait_closed()
        store = await ArchiveStore.open(f"sqlite:///{tmp_path / 'bridge.db'}")
        try:
            calls, _ = await store.list_calls()
        finally:
            await store.close()
    assert len(calls) == 1 and calls[0].end_reason == "media_lost"
    await assert_recorded_whole(calls[0])
