"""The engine over real sockets, GA dialect: session, VAD turns in every format, manual commits."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest

from bridge.engine import Scenario
from bridge.engine.formats import PCM, AudioFormat
from bridge.engine.ids import decode_seconds
from bridge.engine.vad import EnergyVad, SpeechStarted, SpeechStopped
from bridge.engine.voice import MS_PER_CHAR
from tests.integration.engine_support import (
    FORMATS,
    connect,
    decode_audio,
    ga_session,
    running_engine,
    silence,
    speech,
)

REPLY = "I see. Could you tell me a little more about that?"  # the demo agent's first answer
ID = re.compile(r"^(event|sess|conv|item|resp|call)_[0-9A-Za-z]{21}$")

# session.created as the real GA server sent it (PROTOCOLS G.4), the values we mirror.
G4_SESSION: dict[str, Any] = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_Ct1OVZ9vNW62W3cUpSCqj",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "…",
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "tracing": None,
    "truncation": "auto",
    "prompt": None,
    "expires_at": 1767233035,
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": None,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.0},
    },
    "include": None,
}


def shape(value: Any) -> Any:
    """Keys (in order) all the way down, values replaced by their JSON type."""
    if isinstance(value, dict):
        return [(key, shape(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


async def test_session_created_is_the_g4_object() -> None:
    async with running_engine() as server:
        async with connect(server) as client:
            created = client.received[0]
        assert shape(created["session"]) == shape(G4_SESSION)
        session = created["session"]
        for key in ("type", "object", "model", "output_modalities", "tools", "tool_choice", "audio", "include"):
            assert session[key] == G4_SESSION[key]
        assert ID.match(created["event_id"]) and ID.match(session["id"])
        assert session["expires_at"] == decode_seconds(session["id"]) + 3600
        assert abs(decode_seconds(session["id"]) - time.time()) < 5
        assert list(created) == ["type", "event_id", "session"]
        assert server.sessions[-1].log.types() == ["session.created"]


async def test_session_update_changes_only_what_is_given_and_echoes_everything() -> None:
    async with running_engine() as server, connect(server) as client:
        before = client.received[0]["session"]
        updated = await client.update(
            {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}
        )
        after = updated["session"]
        assert after["instructions"] == "Be brief."
        assert after["audio"]["output"] == {**before["audio"]["output"], "voice": "marin"}
        assert {k: v for k, v in after.items() if k not in ("instructions", "audio")} == {
            k: v for k, v in before.items() if k not in ("instructions", "audio")
        }
        # A turn_detection object replaces the previous one, with documented defaults for the rest.
        updated = await client.update(
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}}}
        )
        assert updated["session"]["audio"]["input"]["turn_detection"] == {
            "type": "server_vad",
            "threshold": 0.7,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
            "idle_timeout_ms": None,
            "create_response": True,
            "interrupt_response": True,
        }
        assert updated["session"]["instructions"] == "Be brief."


def expected_vad(audio: bytes, fmt: AudioFormat, silence_ms: int) -> tuple[int, int]:
    events = EnergyVad(rate=fmt.rate, threshold=0.5, silence_duration_ms=silence_ms).feed(fmt.decode(audio))
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
    assert isinstance(events[0], SpeechStarted) and isinstance(events[1], SpeechStopped)
    return events[0].onset_ms, events[1].end_ms


@pytest.mark.parametrize("fmt_name", list(FORMATS))
async def test_a_vad_turn_in_every_format(fmt_name: str) -> None:
    fmt = FORMATS[fmt_name]
    text = "What are your opening hours on Saturday?"
    audio = silence(1000, fmt) + speech(text, fmt) + silence(1000, fmt)
    onset, end = expected_vad(audio, fmt, 400)
    # The voice starts speaking at 1000 ms and stops after 65 ms a character.
    assert 1000 <= onset <= 1030
    assert 1000 + len(text) * MS_PER_CHAR + 300 <= end <= 1000 + len(text) * MS_PER_CHAR + 410
    async with running_engine() as server, connect(server) as client:
        detection = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 400}
        await client.update(ga_session(fmt, turn_detection=detection))
        await client.append(audio, fmt)
        events = await client.until("response.done")

    deltas = ("response.output_audio.delta", "response.output_audio_transcript.delta")
    assert [e["type"] for e in events if e["type"] not in deltas] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    started, stopped, committed, user_added, user_done = events[:5]
    user_id = started["item_id"]
    assert started == {
        "type": started["type"],
        "event_id": started["event_id"],
        "audio_start_ms": onset - 300,
        "item_id": user_id,
    }
    assert stopped["audio_end_ms"] == end and stopped["item_id"] == user_id
    assert committed == {**committed, "previous_item_id": None, "item_id": user_id}
    user_item = {
        "id": user_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    assert user_added["item"] == user_done["item"] == user_item
    assert user_added["previous_item_id"] is None

    created = next(e for e in events if e["type"] == "response.created")["response"]
    assert created["status"] == "in_progress" and created["output"] == [] and created["usage"] is None
    assert created["audio"] == {"output": {"format": fmt.ga(), "voice": "alloy"}}
    assistant_added = [e for e in events if e["type"] == "conversation.item.added"][1]
    assert assistant_added["previous_item_id"] == user_id
    assert assistant_added["item"]["status"] == "in_progress" and assistant_added["item"]["content"] == []

    audio_deltas = [e for e in events if e["type"] == "response.output_audio.delta"]
    reply_ms = len(REPLY) * MS_PER_CHAR
    assert len(audio_deltas) == math.ceil(reply_ms / 100)
    sizes = {len(decode_audio([e])) for e in audio_deltas[:-1]}
    assert sizes == {100 * fmt.bytes_per_ms}
    assert len(decode_audio(events)) == reply_ms * fmt.bytes_per_ms
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == REPLY
    assert all(e["obfuscation"] for e in events if e["type"] == "response.output_audio_transcript.delta")

    done = events[-1]["response"]
    assert done["status"] == "completed" and done["status_details"] is None
    assert done["output"] == [
        {
            "id": assistant_added["item"]["id"],
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_audio", "transcript": REPLY}],
        }
    ]
    usage = done["usage"]
    assert usage["output_token_details"]["audio_tokens"] == math.ceil(reply_ms / 50)
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids) and all(ID.match(i) for i in ids)


async def test_appends_get_no_acknowledgement_and_silence_starts_nothing() -> None:
    async with running_engine() as server, connect(server) as client:
        await client.update(ga_session(PCM))
        await client.append(silence(2000, PCM), PCM)
        await client.send({"type": "input_audio_buffer.clear", "event_id": "evt_clear"})
        cleared = await client.recv()
        assert cleared["type"] == "input_audio_buffer.cleared"
        assert server.sessions[-1].log.types("received").count("input_audio_buffer.append") == 100


async def test_manual_turns_commit_and_clear() -> None:
    fmt = FORMATS["audio/pcmu"]
    async with running_engine() as server, connect(server) as client:
        await client.update(ga_session(fmt, turn_detection=None))
        await client.append(speech("Hello there", fmt)[: 50 * 8], fmt)
        await client.send({"type": "input_audio_buffer.commit", "event_id": "evt_c1"})
        error = await client.expect("error")
        assert error["error"] == {
            "type": "invalid_request_error",
            "code": "input_audio_buffer_commit_empty",
            "message": "Error committing input audio buffer: buffer too small. "
            "Expected at least 100ms of audio, but buffer only has 50.00ms of audio.",
            "param": None,
            "event_id": "evt_c1",
        }
        await client.send({"type": "input_audio_buffer.clear"})
        await client.expect("input_audio_buffer.cleared")
        await client.send({"type": "input_audio_buffer.commit"})
        assert "0.00ms" in (await client.expect("error"))["error"]["message"]

        await client.append(speech("Hello there", fmt), fmt)
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.expect("input_audio_buffer.committed")
        added = await client.expect("conversation.item.added")
        await client.expect("conversation.item.done")
        assert added["item"]["id"] == committed["item_id"]
        # Manual mode never answers by itself; response.create does.
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
        assert events[0]["type"] == "response.created"
        assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == REPLY
        log = server.sessions[-1].log
        assert "input_audio_buffer.speech_started" not in log.types()


async def test_text_output_modality() -> None:
    async with running_engine() as server, connect(server) as client:
        await client.update({"type": "realtime", "output_modalities": ["text"]})
        await client.send({"type": "response.create"})
        events = await client.until("response.done")
    kinds = [e["type"] for e in events]
    assert "response.output_audio.delta" not in kinds
    part = next(e for e in events if e["type"] == "response.content_part.added")["part"]
    assert part == {"type": "text", "text": ""}
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "Hello, this is the bridge's demo agent. How can I help?"
    assert next(e for e in events if e["type"] == "response.output_text.done")["text"] == text
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "output_text", "text": text}]
    assert events[-1]["response"]["output_modalities"] == ["text"]


# Shapes the real GA server sent (PROTOCOLS G.1, G.3); values are placeholders.
G1_RESPONSE_DONE: dict[str, Any] = {
    "object": "realtime.response",
    "id": "resp_CsZyL",
    "status": "completed",
    "status_details": None,
    "output": [
        {
            "id": "item_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_audio", "transcript": "Claro"}],
        }
    ],
    "conversation_id": "conv_1",
    "output_modalities": ["audio"],
    "max_output_tokens": "inf",
    "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
    "usage": {
        "total_tokens": 320,
        "input_tokens": 132,
        "output_tokens": 188,
        "input_token_details": {
            "text_tokens": 59,
            "audio_tokens": 73,
            "image_tokens": 0,
            "cached_tokens": 64,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 64, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 41, "audio_tokens": 147},
    },
    "metadata": None,
}
G1_RATE_LIMITS = {
    "type": "rate_limits.updated",
    "event_id": "event_Ct1OgR5h",
    "rate_limits": [{"name": "tokens", "limit": 40000, "remaining": 38490, "reset_seconds": 2.265}],
}
G3_ERROR = {
    "type": "error",
    "event_id": "event_CdulTJIOI2YjBMxYUiRzZ",
    "error": {
        "type": "invalid_request_error",
        "code": "conversation_already_has_active_response",
        "message": "…",
        "param": None,
        "event_id": None,
    },
}


async def test_responses_and_errors_have_the_observed_shapes() -> None:
    scenario = Scenario(
        greeting="A long greeting that is still being spoken when the client asks again.", fallback=("OK.",)
    )
    async with running_engine(pace=4.0, scenario=scenario) as server, connect(server) as client:
        await client.send({"type": "response.create"})
        await client.expect("response.created")
        rate_limits = await client.expect("rate_limits.updated")
        await client.send({"type": "response.create"})
        error = await client.until("error")
        await client.send({"type": "response.cancel"})
        await client.until("response.done")
        await client.send({"type": "response.create"})
        done = await client.until("response.done")
    assert shape(rate_limits) == shape(G1_RATE_LIMITS)
    assert shape(error[-1]) == shape(G3_ERROR)
    assert shape(done[-1]["response"]) == shape(G1_RESPONSE_DONE)
