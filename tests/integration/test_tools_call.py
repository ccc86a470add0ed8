"""Tools in whole calls: engine function call -> bridge ToolRunner -> function_call_output, and DTMF keys."""

from __future__ import annotations

import asyncio
import textwrap

import orjson

from bridge.call.config import call_config_from_dialplan
from bridge.config import Settings
from bridge.dialplan.loader import load_dialplan_text
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Call, Say, Scenario
from bridge.sim.caller import Caller
from bridge.tools.registry import ToolRegistry
from bridge.tools.runner import ToolRunner
from tests.integration._bridge import bridge_stack

DIALPLAN = textwrap.dedent(
    """\
    name: tools
    greeting: null
    turn_detection: null
    dtmf: {"#": end_call}
    tools:
      - name: opening_hours
        static: "Monday to Friday, 9 to 5"
      - name: lookup_order
        parameters:
          type: object
          properties: {order_id: {type: string, pattern: "^A-[0-9]{6}$"}}
          required: [order_id]
        static: {status: shipped}
      - {name: end_call, builtin: hangup, say: "Goodbye!"}
    """
)


async def test_the_models_function_calls_are_answered_by_the_dialplans_tools() -> None:
    plan = load_dialplan_text(DIALPLAN, "tools.yaml", {})
    settings = Settings()
    turn = (
        Call("opening_hours"),
        Call("lookup_order", {"order_id": "nope"}),
        Call("lookup_order", {"order_id": "A-123456"}),
        Call("no_such_tool"),
        Say("Done."),
    )
    engine = EngineConfig(pace=0, scenario=Scenario(turns=(turn,)))
    registry = ToolRegistry.from_dialplan(plan)
    app_options = {"tool_executor": ToolRunner(registry)}
    async with bridge_stack(
        engine=engine, call_config=call_config_from_dialplan(plan, settings), app_options=app_options
    ) as stack:
        async with asyncio.timeout(15):
            # A key no tool is mapped to reaches the model as text, which starts the scenario's turn.
            async with Caller(stack.media_url, dtmf=[("5", 0.1)]) as caller:

                def answered() -> bool:
                    sessions = stack.engine.sessions
                    return bool(sessions) and len(sessions[-1].log.received("conversation.item.create")) >= 5

                await stack.engine.wait_until(answered)
                await caller.hangup()
            await stack.calls.wait_empty()
        session = stack.engine.sessions[-1]

    outputs = [e["item"] for e in session.log.received("conversation.item.create")][1:]
    assert [item["type"] for item in outputs] == ["function_call_output"] * 4
    assert [orjson.loads(item["output"]) for item in outputs] == [
        "Monday to Friday, 9 to 5",
        {"error": "invalid arguments: $.order_id: 'nope' does not match '^A-[0-9]{6}$'"},
        {"status": "shipped"},
        {"error": "unknown tool 'no_such_tool'; available tools: opening_hours, lookup_order, end_call"},
    ]
    assert outputs[0]["output"] == '"Monday to Friday, 9 to 5"'  # encoded once
    calls = [e["item"] for e in session.log.sent("response.output_item.done") if e["item"]["type"] == "function_call"]
    assert [item["call_id"] for item in calls] == [item["call_id"] for item in outputs]
    notes = [n.data for n in stack.notes if n.kind == "tool_call"]
    assert [(n["name"], n["status"]) for n in notes] == [
        ("opening_hours", "ok"),
        ("lookup_order", "error"),
        ("lookup_order", "ok"),
        ("no_such_tool", "error"),
    ]


async def test_a_key_mapped_to_hangup_says_goodbye_and_ends_the_call() -> None:
    plan = load_dialplan_text(DIALPLAN, "tools.yaml", {})
    engine = EngineConfig(pace=0, scenario=Scenario())
    app_options = {"tool_executor": ToolRunner(ToolRegistry.from_dialplan(plan))}
    config = call_config_from_dialplan(plan, Settings())
    async with bridge_stack(engine=engine, call_config=config, app_options=app_options) as stack:
        async with asyncio.timeout(15):
            result = await Caller(stack.media_url, dtmf=[("#", 0.1)], fast=True).run()
            await stack.calls.wait_empty()
        session = stack.engine.sessions[-1]

    assert result.ended_by == "server"
    transcripts = [e["transcript"] for e in session.log.sent("response.output_audio_transcript.done")]
    assert transcripts == ["Goodbye!"]
    # A key press is not the model's call: no function_call_output goes upstream.
    assert session.log.received("conversation.item.create") == []
    [note] = [n.data for n in stack.notes if n.kind == "tool_call"]
    assert (note["name"], note["source"], note["status"]) == ("end_call", "dtmf", "ok")
    assert stack.calls.end_reasons == {"agent_hangup": 1}
