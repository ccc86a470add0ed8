"""Many calls in one bridge process at once, each checked byte for byte."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from bridge.audio.g711 import pcm16_to_ulaw
from bridge.call.config import CallConfig
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Say, Scenario
from bridge.engine.voice import SpeechVoice
from bridge.sim.caller import Caller, CallResult
from tests.integration._bridge import bridge_stack, ulaw_audio

CALLS = 50
REPLY = "Nine to five."


def received_audio(caller: Caller) -> bytes:
    return b"".join(base64.b64decode(m.json["media"]["payload"]) for m in caller.received if m.event == "media")


async def test_fifty_concurrent_calls_all_complete_with_correct_audio(shared_audio: Path) -> None:
    expected = pcm16_to_ulaw(SpeechVoice().synthesize(REPLY, 8000)[0])  # what the engine says, in mu-law
    speech = ulaw_audio(shared_audio / "caller-yes.wav")
    engine = EngineConfig(pace=0, scenario=Scenario(turns=((Say(REPLY),),)))

    async with bridge_stack(engine=engine, call_config=CallConfig()) as stack:

        async def call(seed: int) -> CallResult:
            async with Caller(stack.media_url, audio=speech, fast=True, seed=seed) as caller:

                def reply_played() -> bool:
                    marks = sum(1 for m in caller.received if m.event == "mark")
                    return len(received_audio(caller)) >= len(expected) and len(caller.marks) == marks

                await caller.wait_until(reply_played)
            assert received_audio(caller) == expected
            return await caller.wait_closed()

        async with asyncio.timeout(30):
            results = await asyncio.gather(*(call(seed) for seed in range(CALLS)))
            await stack.calls.wait_empty()
        sessions = list(stack.engine.sessions)

    assert len({r.ids.call_sid for r in results}) == CALLS
    for result in results:
        assert (result.ended_by, result.close_code, result.protocol_errors) == ("hangup", 1000, ())
        assert result.bytes_heard == len(expected) and result.bytes_dropped == 0
    assert len(sessions) == CALLS
    for session in sessions:
        said = b"".join(base64.b64decode(e["delta"]) for e in session.log.sent("response.output_audio.delta"))
        assert said == expected
    assert stack.calls.end_reasons == {"caller_hangup": CALLS}
