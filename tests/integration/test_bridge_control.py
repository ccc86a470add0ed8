"""Call control over real sockets: tools run off the pumps, hang-up and transfer through Twilio's REST API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.call.config import CallConfig
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Call, Say, Scenario
from bridge.sim.caller import Caller
from bridge.tools.base import ToolCall, ToolContext, ToolResult, TransferEffect
from bridge.web.asgi_server import serve_asgi
from tests.integration._bridge import bridge_stack, ulaw_audio

ACCOUNT = "AC" + "a" * 32
TOKEN = "twilio-token"
SILENCE = b"\xff"


@asynccontextmanager
async def fake_twilio() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, list[str]]]]]]:
    """Twilio's call-update endpoint: records (path, form) and answers with the Call resource."""
    seen: list[tuple[str, dict[str, list[str]]]] = []

    async def update_call(request: Request) -> JSONResponse:
        seen.append((request.url.path, parse_qs((await request.body()).decode())))
        return JSONResponse({"sid": request.path_params["call_sid"], "status": "completed"})

    app = Starlette(
        routes=[Route("/2010-04-01/Accounts/{account}/Calls/{call_sid}.json", update_call, methods=["POST"])]
    )
    async with serve_asgi(app) as server:
        yield server.http_url, seen


def twilio_settings(api_url: str) -> Settings:
    return Settings(twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN, twilio_api_url=api_url)


class TransferTool:
    """A tool executor whose one tool moves the caller to a human."""

    def __init__(self) -> None:
        self.contexts: list[ToolContext] = []

    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]:
        self.contexts.append(context)
        effect = TransferEffect("+15550001111", say="Transferring you now.")
        output = orjson.dumps({"status": "transferring"}).decode()
        return [ToolResult(c.call_id, c.name, c.arguments, output, "ok", 0.0, 1.0, (effect,)) for c in calls]


async def test_idle_caller_hears_the_goodbye_then_is_hung_up_through_twilio() -> None:
    config = CallConfig(greeting="Hello.", idle_s=1.0, idle_goodbye="Goodbye now.")
    async with fake_twilio() as (api_url, seen):
        async with bridge_stack(settings=twilio_settings(api_url), call_config=config) as stack:
            async with asyncio.timeout(10):
                caller = Caller(stack.media_url, auth_token=TOKEN)
                result = await caller.run()  # until the bridge closes the call
            session = stack.engine.sessions[-1]

    transcripts = [e["transcript"] for e in session.log.sent("response.output_audio_transcript.done")]
    assert transcripts == ["Hello.", "Goodbye now."]
    assert result.pending_marks == (), "the goodbye was heard before the hang-up"
    assert seen == [(f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{result.ids.call_sid}.json", {"Status": ["completed"]})]
    assert (result.ended_by, result.close_code) == ("server", 1000)
    assert stack.calls.end_reasons == {"idle_timeout": 1}


async def test_a_tool_transfer_is_announced_then_done_through_twilio(shared_audio: Path) -> None:
    tool = TransferTool()
    scenario = Scenario(turns=((Call("transfer_call", {"reason": "human"}),),))
    speech = SILENCE * 400 + ulaw_audio(shared_audio / "caller-yes.wav")
    async with fake_twilio() as (api_url, seen):
        async with bridge_stack(
            engine=EngineConfig(pace=0, scenario=scenario),
            settings=twilio_settings(api_url),
            call_config=CallConfig(),
            app_options={"tool_executor": tool},
        ) as stack:
            async with asyncio.timeout(15):
                caller = Caller(
                    stack.media_url, audio=speech, auth_token=TOKEN, parameters={"From": "+1555", "To": "+1666"}
                )
                result = await caller.run()
            session = stack.engine.sessions[-1]

    (context,) = tool.contexts
    assert (context.call_id, context.from_number, context.to_number) == (result.ids.call_sid, "+1555", "+1666")
    outputs = [e["item"] for e in session.log.received("conversation.item.create")]
    assert outputs[0]["type"] == "function_call_output" and outputs[0]["output"] == '{"status":"transferring"}'
    transcripts = [e["transcript"] for e in session.log.sent("response.output_audio_transcript.done")]
    assert transcripts[-1] == "Transferring you now."
    assert result.pending_marks == ()
    twiml = "<Response><Dial>+15550001111</Dial></Response>"
    assert seen == [(f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{result.ids.call_sid}.json", {"Twiml": [twiml]})]
    assert stack.calls.end_reasons == {"transfer": 1}


async def test_without_a_tool_registry_every_call_gets_an_error_output(shared_audio: Path) -> None:
    scenario = Scenario(turns=((Call("lookup_order", {"order_id": "A-1"}), Say("Sorry, {output.error}.")),))
    speech = SILENCE * 400 + ulaw_audio(shared_audio / "caller-yes.wav")
    async with bridge_stack(engine=EngineConfig(pace=0, scenario=scenario), call_config=CallConfig()) as stack:
        async with asyncio.timeout(15):
            async with Caller(stack.media_url, audio=speech) as caller:
                await stack.engine.wait_until(
                    lambda: (
                        bool(stack.engine.sessions)
                        and bool(stack.engine.sessions[-1].log.sent("response.output_audio_transcript.done"))
                    )
                )
            session = stack.engine.sessions[-1]
        await caller.wait_closed()

    (item,) = [e["item"] for e in session.log.received("conversation.item.create")]
    assert item["output"] == '{"error":"no tool named lookup_order"}'
    assert len(session.log.received("response.create")) == 1, "the model is asked to go on after the output"
    transcripts = [e["transcript"] for e in session.log.sent("response.output_audio_transcript.done")]
    assert transcripts == ["Sorry, no tool named lookup_order."]
    tool_notes = [n.data for n in stack.notes if n.kind == "tool_call"]
    assert [(n["name"], n["status"]) for n in tool_notes] == [("lookup_order", "error")]
