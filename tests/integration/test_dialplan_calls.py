"""Dialplans chosen per call over real sockets: the webhook routes, the media stream's ``start`` configures."""

from __future__ import annotations

import asyncio
import base64
import textwrap
from pathlib import Path
from typing import Any

import httpx

from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Scenario
from bridge.sim.caller import Caller
from bridge.telephony.twilio.webhook import twiml_connect_stream
from bridge.web.dialplans import LiveDialplans
from tests.integration._bridge import Stack, bridge_stack

FILES = {
    "default": "name: default\ngreeting: Front desk.\nturn_detection: null\ninstructions: You are the front desk.\n",
    "sales": textwrap.dedent(
        """\
        name: sales
        match: {to: ["+15550001000"]}
        model: gpt-realtime-mini
        voice: cedar
        audio: pcm16
        instructions: You are the sales line.
        greeting: "Sales, how can I help?"
        turn_detection: null
        """
    ),
    "support": textwrap.dedent(
        """\
        name: support
        match: {to: ["+15550002*"], from: ["+44*"]}
        instructions: You are the support line.
        turn_detection: null
        """
    ),
}
SALES_CALL = {"From": "+13125550100", "To": "+15550001000", "CallSid": "CA" + "1" * 32}


def live_dialplans(tmp_path: Path) -> LiveDialplans:
    for name, text in FILES.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return LiveDialplans(tmp_path, Settings(), env={})


def session_settings(stack: Stack) -> dict[str, Any]:
    """The configuration the engine's latest session ended up with."""
    updated: dict[str, Any] = stack.engine.sessions[-1].log.sent("session.updated")[-1]["session"]
    return updated


async def test_the_webhook_routes_by_to_and_from_and_the_twiml_names_the_dialplan(tmp_path: Path) -> None:
    async with bridge_stack(app_options={"dialplans": live_dialplans(tmp_path)}) as stack:
        async with httpx.AsyncClient(base_url=stack.bridge.http_url) as client:
            answers = [
                (await client.post("/twilio/voice", data=form)).text
                for form in (
                    SALES_CALL,
                    {"From": "+447700900123", "To": "+15550002123", "CallSid": "CA2"},
                    {"From": "+13125550100", "To": "+15550002123", "CallSid": "CA3"},
                )
            ]
            status = (await client.get("/dialplans")).json()

    stream_url = f"wss://127.0.0.1:{stack.bridge.port}/twilio/media"
    assert answers == [
        twiml_connect_stream(stream_url, {**SALES_CALL, "dialplan": "sales"}),
        twiml_connect_stream(
            stream_url, {"From": "+447700900123", "To": "+15550002123", "CallSid": "CA2", "dialplan": "support"}
        ),
        twiml_connect_stream(
            stream_url, {"From": "+13125550100", "To": "+15550002123", "CallSid": "CA3", "dialplan": "default"}
        ),
    ]
    assert (status["dialplans"], status["default"], status["last_error"]) == (
        ["default", "sales", "support"],
        "default",
        None,
    )


async def test_a_call_runs_with_its_dialplans_model_voice_instructions_and_audio_mode(tmp_path: Path) -> None:
    async with bridge_stack(
        engine=EngineConfig(pace=0, scenario=Scenario()), app_options={"dialplans": live_dialplans(tmp_path)}
    ) as stack:
        async with asyncio.timeout(15):
            # What the TwiML above hands back in ``start``.
            async with Caller(stack.media_url, parameters={**SALES_CALL, "dialplan": "sales"}) as caller:

                def greeting_heard() -> bool:
                    # The greeting is out, the bridge forwarded every delta (one mark each), all played.
                    sessions = stack.engine.sessions
                    if len(sessions) < 2 or not sessions[1].log.sent("response.done"):
                        return False
                    marks = sum(1 for m in caller.received if m.event == "mark")
                    return marks == len(sessions[1].log.sent("response.output_audio.delta")) == len(caller.marks)

                await caller.wait_until(greeting_heard)
            result = await caller.wait_closed()
            await stack.calls.wait_empty()
        early, call = stack.engine.sessions

    # The early dial used the default model; the call's own model replaced it before any session.update.
    assert (early.model, early.log.received("session.update"), early.closed) == ("gpt-realtime", [], True)
    session = session_settings(stack)
    assert (call.model, session["model"]) == ("gpt-realtime-mini", "gpt-realtime-mini")
    assert session["instructions"] == "You are the sales line."
    assert session["audio"]["output"]["voice"] == "cedar"
    pcm = {"type": "audio/pcm", "rate": 24000}
    assert (session["audio"]["input"]["format"], session["audio"]["output"]["format"]) == (pcm, pcm)
    (greeting,) = [e["transcript"] for e in call.log.sent("response.output_audio_transcript.done")]
    assert greeting == "Sales, how can I help?"
    # 24 kHz PCM16 (48 bytes a ms) upstream, mu-law (8 bytes a ms) to the caller: all of it heard.
    sent = sum(len(base64.b64decode(e["delta"])) for e in call.log.sent("response.output_audio.delta"))
    assert result.bytes_heard == sent // 6
    assert result.pending_marks == ()
    configured = [n.data for n in stack.notes if n.kind == "session" and n.data["event"] in ("configured", "redial")]
    assert configured == [
        {"event": "configured", "dialplan": "sales"},
        {"event": "redial", "model": "gpt-realtime-mini", "upstream_model": "gpt-realtime"},
    ]


async def configured_instructions(stack: Stack, parameters: dict[str, str]) -> str:
    """The instructions a call with these ``start`` parameters gets upstream."""
    before = len(stack.engine.sessions)

    def configured() -> bool:
        sessions = stack.engine.sessions
        return len(sessions) > before and bool(sessions[-1].log.sent("session.updated"))

    async with Caller(stack.media_url, parameters=parameters, fast=True):
        await stack.engine.wait_until(configured)
    await stack.calls.wait_empty()
    instructions: str = session_settings(stack)["instructions"]
    return instructions


async def test_a_stream_without_a_known_dialplan_is_routed_by_its_numbers(tmp_path: Path) -> None:
    uk_to_support = {"From": "+447700900123", "To": "+15550002123"}
    async with bridge_stack(app_options={"dialplans": live_dialplans(tmp_path)}) as stack:
        async with asyncio.timeout(15):
            instructions = [
                await configured_instructions(stack, {**uk_to_support, "dialplan": "no-longer-there"}),
                await configured_instructions(stack, uk_to_support),
                await configured_instructions(stack, {}),
            ]

    assert instructions == ["You are the support line.", "You are the support line.", "You are the front desk."]
