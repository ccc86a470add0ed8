"""Barge-in over real sockets: the caller talks over the second of two queued replies."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

from bridge.audio.g711 import ulaw_to_pcm16
from bridge.call.config import CallConfig
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Say, Scenario
from bridge.engine.vad import EnergyVad, SpeechStopped
from bridge.sim.caller import Caller
from tests.integration._bridge import bridge_stack, ulaw_audio

FIRST = "Sure, let me see."  # about 1.1 s of speech
SECOND = "Your order left our warehouse on Monday and it should reach you by Thursday."  # about 5 s
SILENCE = b"\xff"
MS = 8  # mu-law bytes per millisecond


def turn_end_ms(audio: bytes) -> int:
    """Where the engine's VAD (default server_vad settings) ends the caller's turn in ``audio``."""
    vad = EnergyVad(rate=8000, threshold=0.5, silence_duration_ms=500)
    stops = [e for e in vad.feed(ulaw_to_pcm16(audio + SILENCE * 8000)) if isinstance(e, SpeechStopped)]
    return stops[0].end_ms


async def test_barge_in_clears_at_once_and_truncates_the_second_item_at_what_was_heard(shared_audio: Path) -> None:
    loop = asyncio.get_running_loop()
    # The engine stamps its log with this clock: Unix-like (so expires_at stays meaningful), read off loop.time().
    offset = time.time() - loop.time()
    engine = EngineConfig(
        pace=0,
        scenario=Scenario(turns=((Say(FIRST), Say(SECOND)),)),
        clock=lambda: loop.time() + offset,
    )
    yes = SILENCE * 200 * MS + ulaw_audio(shared_audio / "caller-yes.wav")
    # Both replies start at the end of the caller's turn (pace 0): talk 1.0 s into the second one.
    first_ms = len(FIRST) * 65
    interrupt_at = turn_end_ms(yes) + first_ms + 1000
    interrupt = ulaw_audio(shared_audio / "caller-interrupt.wav")[: 1200 * MS]
    audio = yes + SILENCE * (interrupt_at * MS - len(yes)) + interrupt

    async with bridge_stack(engine=engine, call_config=CallConfig()) as stack:
        async with asyncio.timeout(15):
            async with Caller(stack.media_url, audio=audio) as caller:
                clear_ms = await caller.wait_for_clear()
                t0 = loop.time() - caller.now_ms() / 1000.0  # the caller's time origin on the loop clock
                session = stack.engine.sessions[-1]
                await stack.engine.wait_until(lambda: bool(session.log.received("conversation.item.truncate")))
            result = await caller.wait_closed()
            await stack.calls.wait_empty()

    items = [e["item"]["id"] for e in session.log.sent("response.output_item.added")]
    assert len(items) >= 2
    first, second = items[0], items[1]
    first_bytes = sum(
        len(base64.b64decode(e["delta"]))
        for e in session.log.sent("response.output_audio.delta")
        if e["item_id"] == first
    )

    # clear reaches the caller within 100 ms of the engine sending speech_started (one clock: the loop's).
    started = [e for e in session.log if e.direction == "sent" and e.type == "input_audio_buffer.speech_started"]
    speech_started_at = started[1].time - offset
    clear_at = t0 + clear_ms / 1000.0
    assert 0 <= clear_at - speech_started_at < 0.100

    # The truncate names the second item, at what the caller really heard of it: it started when the
    # first item's last mark came back (the audio was queued back to back) and stopped at the clear.
    (truncate,) = session.log.received("conversation.item.truncate")
    assert truncate["item_id"] == second
    first_done = next(m.at_ms for m in result.marks if m.name.startswith(f"{first}@{first_bytes}#"))
    heard_second_ms = clear_ms - first_done
    assert 900 <= heard_second_ms <= 1200, "the caller talked about 1 s into the second reply"
    assert abs(truncate["audio_end_ms"] - heard_second_ms) <= 60
    assert result.bytes_dropped > 0

    metrics = stack.app.state.metrics.render()
    assert "bridge_barge_ins_total 1\n" in metrics
    assert "bridge_truncations_total 1\n" in metrics
