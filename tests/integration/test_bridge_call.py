"""Whole calls over real sockets: caller simulator <-> bridge <-> bundled engine."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from bridge.call.config import CallConfig
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Say, Scenario
from bridge.realtime.session import AudioMode, SessionSettings
from bridge.sim.caller import Caller
from bridge.sim.ids import new_call_ids
from bridge.sim.stream import TwilioStream
from tests.integration._bridge import bridge_stack, ulaw_audio

GREETING = "Hello."
REPLY = "Nine to five."
SILENCE = b"\xff"


def scenario(*replies: str) -> Scenario:
    """One turn per reply, each a single spoken message."""
    return Scenario(turns=tuple((Say(text),) for text in replies))


def deltas(events: list[dict[str, object]]) -> bytes:
    return b"".join(base64.b64decode(str(e["delta"])) for e in events)


def heard(caller: Caller) -> bytes:
    return b"".join(base64.b64decode(m.json["media"]["payload"]) for m in caller.received if m.event == "media")


def bridge_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("bridge-call-")]


@pytest.mark.parametrize("mode", ["passthrough", "pcm16"])
async def test_full_call_greeting_turn_reply_and_hangup(mode: AudioMode, shared_audio: Path) -> None:
    config = CallConfig(session=SessionSettings(audio_mode=mode), greeting=GREETING)
    engine = EngineConfig(pace=0, scenario=scenario(REPLY))
    speech = SILENCE * 4800 + ulaw_audio(shared_audio / "caller-opening-hours.wav")
    async with bridge_stack(engine=engine, call_config=config) as stack:
        async with asyncio.timeout(15):
            async with Caller(stack.media_url, audio=speech) as caller:

                def reply_heard() -> bool:
                    # Both responses are out, the bridge forwarded every delta (one mark each), all played.
                    sessions = stack.engine.sessions
                    if not sessions or len(sessions[-1].log.sent("response.done")) < 2:
                        return False
                    marks = sum(1 for m in caller.received if m.event == "mark")
                    return marks == len(sessions[-1].log.sent("response.output_audio.delta")) == len(caller.marks)

                await caller.wait_until(reply_heard)
            result = await caller.wait_closed()
            await stack.calls.wait_empty()
        session = stack.engine.sessions[-1]

    assert result.protocol_errors == ()
    assert (result.ended_by, result.close_code) == ("hangup", 1000)
    transcripts = [e["transcript"] for e in session.log.sent("response.output_audio_transcript.done")]
    assert transcripts == [GREETING, REPLY]
    assert session.log.sent("input_audio_buffer.speech_stopped"), "the engine heard the caller's turn"
    sent = deltas(session.log.sent("response.output_audio.delta"))
    appended = b"".join(base64.b64decode(e["audio"]) for e in session.log.received("input_audio_buffer.append"))
    if mode == "passthrough":
        # Byte-exact both ways: the caller heard exactly what the engine said, the engine got exactly the caller.
        received = b"".join(base64.b64decode(m.json["media"]["payload"]) for m in result.received if m.event == "media")
        assert received == sent
        assert result.bytes_heard == len(sent) and result.bytes_dropped == 0
        spoken = (speech + SILENCE * (160 * result.frames_sent))[: 160 * result.frames_sent]
        assert appended == spoken
    else:
        # 24 kHz PCM16 upstream (48 bytes/ms), mu-law 8 kHz to the caller (8 bytes/ms), less the filter delay.
        assert len(appended) == result.frames_sent * 20 * 48
        assert len(sent) // 6 - 16 <= result.bytes_heard <= len(sent) // 6
    assert stack.calls.end_reasons == {"caller_hangup": 1}
    latency = [n for n in stack.notes if n.kind == "latency"]
    assert len(latency) == 1 and 0 < latency[0].data["ms"] < 1000
    assert "bridge_response_latency_seconds_count 1" in stack.app.state.metrics.render()
    assert bridge_tasks() == []


async def test_caller_hangup_mid_reply_closes_upstream_at_once_and_leaves_no_task(shared_audio: Path) -> None:
    long_reply = "Your order left our warehouse on Monday and should reach you by Thursday at the latest."
    engine = EngineConfig(pace=1, scenario=scenario(long_reply))
    speech = ulaw_audio(shared_audio / "caller-yes.wav")
    async with bridge_stack(engine=engine, call_config=CallConfig()) as stack:
        before = set(asyncio.all_tasks())
        async with asyncio.timeout(10):
            caller = Caller(stack.media_url, audio=speech)
            await caller.start()
            await caller.wait_for(lambda m: m.event == "media")
            session = stack.engine.sessions[-1]
            assert session.active_response is not None, "the reply is still being spoken"
            hung_up_at = asyncio.get_running_loop().time()
            await caller.hangup()
            await stack.engine.wait_until(lambda: session.closed)
            closed_after = asyncio.get_running_loop().time() - hung_up_at
            await stack.calls.wait_empty()
        assert closed_after < 0.25
        assert not session.log.sent("response.done"), "the engine was cut off mid-reply"
        assert stack.calls.end_reasons == {"caller_hangup": 1}
        assert bridge_tasks() == []
        # Nothing of the call is left running on the bridge's side: no pump, no upstream client task.
        bridge_side = ("/bridge/call/", "/bridge/realtime/", "/bridge/web/", "/websockets/asyncio/")
        stray = [t for t in asyncio.all_tasks() - before if any(p in repr(t) for p in bridge_side)]
        assert stray == []


async def test_malformed_media_frames_are_counted_and_the_call_goes_on() -> None:
    async with bridge_stack(call_config=CallConfig(greeting=GREETING)) as stack:
        ids = new_call_ids(7)
        stream = TwilioStream(ids)
        async with asyncio.timeout(10), connect(stack.media_url, compression=None) as ws:
            await ws.send(stream.connected(), text=True)
            await ws.send(stream.start(), text=True)
            await ws.send("not json")
            media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": "!!!"}
            bad_base64 = {"event": "media", "sequenceNumber": "9", "media": media, "streamSid": ids.stream_sid}
            await ws.send(orjson.dumps(bad_base64), text=True)
            await ws.send(orjson.dumps({"event": "bogus", "streamSid": ids.stream_sid}), text=True)
            for _ in range(10):
                await ws.send(stream.media(SILENCE * 160), text=True)
            # The call is alive: the greeting comes.
            while orjson.loads(await ws.recv())["event"] != "media":
                pass
            await ws.send(stream.stop(), text=True)
            await stack.calls.wait_empty()
        session = stack.engine.sessions[-1]
        metrics = stack.app.state.metrics.render()

    assert "bridge_malformed_frames_total 3\n" in metrics
    assert stack.calls.end_reasons == {"caller_hangup": 1}
    assert len(session.log.received("input_audio_buffer.append")) == 10


async def test_beta_dialect_call(shared_audio: Path) -> None:
    settings = Settings(realtime_dialect="beta", realtime_model="gpt-4o-realtime-preview")
    engine = EngineConfig(pace=0, scenario=scenario(REPLY))
    speech = ulaw_audio(shared_audio / "caller-yes.wav")
    async with bridge_stack(engine=engine, settings=settings, call_config=CallConfig(dialect="beta")) as stack:
        async with asyncio.timeout(10):
            async with Caller(stack.media_url, audio=speech, fast=True) as caller:
                sessions = stack.engine.sessions
                await stack.engine.wait_until(lambda: bool(sessions and sessions[-1].log.sent("response.done")))
                session = stack.engine.sessions[-1]
                said = deltas(session.log.sent("response.audio.delta"))
                await caller.wait_until(lambda: heard(caller) == said)
            await stack.calls.wait_empty()

    assert session.dialect == "beta"
    (update,) = session.log.received("session.update")
    assert update["session"]["input_audio_format"] == update["session"]["output_audio_format"] == "g711_ulaw"
    assert said and stack.calls.end_reasons == {"caller_hangup": 1}
