"""A whole call into the archive: caller sim -> bridge -> bundled engine, then read back over the REST API.

The caller asks about an order; the agent answers "Let me look that up", calls a tool, and starts a long
reply that the caller talks over. The archive must then hold the call, its timeline (with the barge-in),
a transcript marking the cut, the tool call, and a stereo recording whose left channel is exactly the
caller's frames and whose right channel is exactly what the caller heard, aligned to each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bridge.audio.g711 import ulaw_to_pcm16
from bridge.audio.wav import parse_wav
from bridge.call.config import call_config_from_dialplan
from bridge.config import Settings
from bridge.dialplan.loader import load_dialplan_text
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Call, Say, Scenario
from bridge.engine.vad import EnergyVad, SpeechStopped
from bridge.sim.caller import Caller
from bridge.tools.registry import ToolRegistry
from bridge.tools.runner import ToolRunner
from tests.archive_fixtures import BACKENDS, pg_execute, postgres_url, unique_name
from tests.integration._bridge import bridge_stack, ulaw_audio

FIRST = "Let me look that up."  # about 1.3 s of speech
LONG = (
    "Your order {output.order_id} is {output.status}. It left our warehouse on Monday "
    "and it should reach you by Thursday at the latest."
)
HEARD_TEXT = "I would like to check my order"  # what the engine's (fake) recognizer hears in every turn
SILENCE = b"\xff"
MS = 8  # mu-law bytes (samples) per millisecond
FRAME = 160

DIALPLAN = textwrap.dedent(
    """\
    name: e2e
    greeting: null
    transcription: {model: gpt-4o-mini-transcribe}
    record: true
    tools:
      - name: lookup_order
        parameters:
          type: object
          properties: {order_id: {type: string}}
          required: [order_id]
        static: {order_id: A-1001, status: shipped}
    """
)


def turn_end_ms(audio: bytes) -> int:
    """Where the engine's VAD (the dialplan's server_vad: 500 ms of silence) ends the caller's turn."""
    vad = EnergyVad(rate=8000, threshold=0.5, silence_duration_ms=500)
    stops = [e for e in vad.feed(ulaw_to_pcm16(audio + SILENCE * 8000)) if isinstance(e, SpeechStopped)]
    return stops[0].end_ms


@contextlib.asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh archive database: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'bridge.db'}"
        return
    url = postgres_url()
    name = unique_name("bridge_e2e")
    await pg_execute(url, f'CREATE DATABASE "{name}"')
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def channels(wav_bytes: bytes) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    wav = parse_wav(wav_bytes)
    assert (wav.rate, wav.channels) == (8000, 2)
    frames = np.frombuffer(wav.pcm, dtype="<i2").reshape(-1, 2)
    return frames[:, 0], frames[:, 1]


def sound(samples: np.ndarray[Any, Any]) -> tuple[int, int]:
    """First and one-past-last non-zero sample."""
    (nonzero,) = np.nonzero(samples)
    assert nonzero.size, "no sound at all"
    return int(nonzero[0]), int(nonzero[-1]) + 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_call_with_a_tool_and_a_barge_in_reaches_the_archive_whole(
    backend: str, tmp_path: Path, shared_audio: Path
) -> None:
    plan = load_dialplan_text(DIALPLAN, "e2e.yaml", {})
    engine = EngineConfig(
        pace=0,
        scenario=Scenario(turns=((Say(FIRST), Call("lookup_order", {"order_id": "A-1001"}), Say(LONG)),)),
        recognizer=lambda pcm, rate: HEARD_TEXT,
    )
    question = SILENCE * 200 * MS + ulaw_audio(shared_audio / "caller-yes.wav")
    # Both replies go out at the end of the turn (pace 0) and play back to back: talk 1.5 s into the long one.
    interrupt_at = turn_end_ms(question) + len(FIRST) * 65 + 1500
    interrupt = ulaw_audio(shared_audio / "caller-interrupt.wav")[: 1000 * MS]
    audio = question + SILENCE * (interrupt_at * MS - len(question)) + interrupt
    seconds = (len(audio) // MS + 1000) / 1000  # time for the last turn to end and be transcribed, then hang up

    async with database(backend, tmp_path) as url:
        settings = Settings(database_url=url, data_dir=tmp_path / "recordings")
        app_options = {"tool_executor": ToolRunner(ToolRegistry.from_dialplan(plan))}
        config = call_config_from_dialplan(plan, settings)
        async with bridge_stack(engine=engine, settings=settings, call_config=config, app_options=app_options) as stack:
            async with asyncio.timeout(20):
                parameters = {"From": "+15550001", "To": "+15550002"}
                result = await Caller(stack.media_url, audio=audio, parameters=parameters, seconds=seconds).run()
                await stack.calls.wait_empty()
                await stack.app.state.archive.writer.flush()
            session = stack.engine.sessions[-1]
            async with httpx.AsyncClient(base_url=f"{stack.bridge.http_url}/api") as api:
                calls = (await api.get("/calls")).json()["data"]
                assert len(calls) == 1
                call_id = calls[0]["id"]
                call = (await api.get(f"/calls/{call_id}")).json()
                events = (await api.get(f"/calls/{call_id}/events")).json()["data"]
                transcript = (await api.get(f"/calls/{call_id}/transcript")).json()["data"]
                text = (await api.get(f"/calls/{call_id}/transcript", params={"format": "txt"})).text
                tools = (await api.get(f"/calls/{call_id}/tool_calls")).json()["data"]
                recording = await api.get(f"/calls/{call_id}/recording.wav")
                jobs = await api.get("/jobs")  # the post-call jobs API is mounted beside the calls
            metrics = stack.app.state.metrics.render()

    # The call.
    assert result.protocol_errors == ()
    assert call == calls[0]
    assert (call["call_sid"], call["stream_sid"]) == (result.ids.call_sid, result.ids.stream_sid)
    assert (call["from"], call["to"], call["dialplan"]) == ("+15550001", "+15550002", "e2e")
    assert (call["model"], call["voice"], call["audio_mode"]) == ("gpt-realtime", "marin", "passthrough")
    assert (call["end_reason"], call["barge_ins"], call["upstream_errors"]) == ("caller_hangup", 1, 0)
    assert call["total_tokens"] > 0
    assert call["has_recording"] and call["recording_bytes"] == len(recording.content)
    # The bridge's clock starts when it accepts the socket, the caller's when it sends ``start``: a handshake apart.
    assert 0 <= call["duration_s"] * 1000 - result.duration_ms < 100

    # The timeline: the barge-in truncated the long reply where the engine was told it was.
    (truncate,) = session.log.received("conversation.item.truncate")
    (barge_in,) = [e for e in events if e["kind"] == "barge_in"]
    assert barge_in["data"]["truncated"] == [{"item_id": truncate["item_id"], "audio_end_ms": truncate["audio_end_ms"]}]
    assert 1300 <= truncate["audio_end_ms"] <= 1800, "the caller talked about 1.5 s into the long reply"
    kinds = [e["kind"] for e in events]
    assert kinds.index("tool_call") < kinds.index("barge_in") < kinds.index("end") == len(kinds) - 1
    assert [e["seq"] for e in events] == list(range(len(events)))

    # The transcript: both caller turns, the first reply whole, the long one cut.
    speakers = [(s["speaker"], s["cut"]) for s in transcript]
    assert speakers == [("caller", False), ("agent", False), ("agent", True), ("caller", False)]
    question_seg, first_seg, long_seg, interrupt_seg = transcript
    assert question_seg["text"] == interrupt_seg["text"] == HEARD_TEXT
    assert first_seg["text"] == FIRST and first_seg["heard_text"] is None
    said = LONG.replace("{output.order_id}", "A-1001").replace("{output.status}", "shipped")
    assert long_seg["text"] == said and long_seg["item_id"] == truncate["item_id"]
    assert said.startswith(long_seg["heard_text"]) and 0 < len(long_seg["heard_text"]) < len(said)
    assert long_seg["end_ms"] - long_seg["start_ms"] == truncate["audio_end_ms"]
    assert f"Agent: {long_seg['heard_text']} [cut]" in text

    # The tool call.
    assert [(t["name"], t["arguments"], t["status"]) for t in tools] == [("lookup_order", {"order_id": "A-1001"}, "ok")]
    assert tools[0]["output"] == '{"order_id":"A-1001","status":"shipped"}'

    # The recording: left is exactly the caller's frames, right exactly what the caller heard.
    assert recording.status_code == 200 and recording.headers["content-type"] == "audio/wav"
    left, right = channels(recording.content)
    sent = (audio + SILENCE * FRAME * result.frames_sent)[: FRAME * result.frames_sent]  # the frames, silence after
    spoken = np.frombuffer(ulaw_to_pcm16(sent), dtype="<i2")
    first_voice = sound(spoken)[0]
    offset = sound(left)[0] - first_voice  # where frame 0 sits on the recording's timeline
    assert offset >= 0
    assert np.array_equal(left[offset : offset + spoken.size], spoken)
    assert not left[:offset].any() and not left[offset + spoken.size :].any()
    # The recording spans the whole call (to the sample: the playout decides whole samples).
    assert left.size == right.size and abs(left.size - call["duration_s"] * 8000) <= 1

    heard = np.frombuffer(ulaw_to_pcm16(result.heard), dtype="<i2")
    h_start, h_end = sound(heard)
    r_start, r_end = sound(right)
    length = min(h_end - h_start, r_end - r_start)
    assert abs((h_end - h_start) - (r_end - r_start)) <= FRAME, "cut at the same point, within a frame"
    assert np.array_equal(right[r_start : r_start + length], heard[h_start : h_start + length])
    # The two channels keep the caller's timing: the reply starts as long after the caller's first frame
    # in the recording as it did on the phone (within a frame).
    assert abs((r_start - offset) - h_start) <= FRAME
    assert result.bytes_dropped > 0

    assert jobs.status_code == 200 and jobs.json()["data"] == []

    for name in ("written", "retried", "dropped", "rejected"):
        assert f"bridge_archive_{name}_total " in metrics
    assert "bridge_archive_dropped_total 0\n" in metrics and "bridge_archive_rejected_total 0\n" in metrics
    assert "bridge_archive_pending 0\n" in metrics
