"""The bridge's session.update: GA and beta shapes, checked against PROTOCOLS.md and the SDK's types."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bridge.errors import ConfigError
from bridge.realtime.events import Dialect, SessionUpdate, parse_client_event
from bridge.realtime.session import (
    SessionSettings,
    audio_format_bytes_per_ms,
    build_session_update,
    session_update_json,
)
from tests.unit._realtime_sdk import assert_sdk_accepts

TRANSFER_TOOL = {
    "type": "function",
    "name": "transfer_call",
    "description": "…",
    "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
}
FULL = SessionSettings(
    instructions="You are a phone agent…",
    transcription={"model": "gpt-4o-transcribe", "language": "en"},
    tools=(TRANSFER_TOOL,),
    noise_reduction={"type": "near_field"},
    speed=1.0,
    turn_detection={
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "idle_timeout_ms": 8000,
        "create_response": True,
        "interrupt_response": True,
    },
)
VARIANTS = {
    "defaults": SessionSettings(),
    "full": FULL,
    "pcm16-manual": SessionSettings(audio_mode="pcm16", turn_detection=None, voice="alloy", speed=0.9),
    "semantic-vad": SessionSettings(turn_detection={"type": "semantic_vad", "eagerness": "high"}, tool_choice="none"),
}


def test_ga_session_is_the_a2_example() -> None:
    # PROTOCOLS.md A.2, minus the three server defaults the bridge does not set.
    a2 = {
        "type": "realtime",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "You are a phone agent…",
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "noise_reduction": {"type": "near_field"},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "idle_timeout_ms": 8000,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0},
        },
        "tools": [TRANSFER_TOOL],
        "tool_choice": "auto",
    }
    assert build_session_update(FULL, "ga") == SessionUpdate(a2)


def test_default_ga_session_json() -> None:
    assert session_update_json(SessionSettings(instructions="Be brief."), "ga") == (
        '{"type":"session.update","session":{"type":"realtime","model":"gpt-realtime","output_modalities":["audio"],'
        '"instructions":"Be brief.","audio":{"input":{"format":{"type":"audio/pcmu"},"transcription":null,'
        '"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,'
        '"silence_duration_ms":500,"create_response":true,"interrupt_response":true}},'
        '"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}},"tools":[],"tool_choice":"auto"}}'
    )


def test_default_beta_session_json() -> None:
    assert session_update_json(SessionSettings(instructions="Be brief.", voice="alloy"), "beta") == (
        '{"type":"session.update","session":{"modalities":["audio","text"],"instructions":"Be brief.",'
        '"voice":"alloy","turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,'
        '"silence_duration_ms":500,"create_response":true,"interrupt_response":true},'
        '"input_audio_format":"g711_ulaw","output_audio_format":"g711_ulaw","input_audio_transcription":null,'
        '"input_audio_noise_reduction":null,"tools":[],"tool_choice":"auto"}}'
    )


def test_pcm16_manual_turns_in_both_dialects() -> None:
    settings = VARIANTS["pcm16-manual"]
    ga = orjson.loads(session_update_json(settings, "ga"))["session"]
    assert ga["audio"] == {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": None,
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 0.9},
    }
    beta = orjson.loads(session_update_json(settings, "beta"))["session"]
    assert {k: beta[k] for k in ("input_audio_format", "output_audio_format", "turn_detection", "speed")} == {
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "turn_detection": None,
        "speed": 0.9,
    }


def test_beta_session_has_no_model_or_idle_timeout() -> None:
    beta = orjson.loads(session_update_json(FULL, "beta"))["session"]
    assert "model" not in beta and "type" not in beta
    assert beta["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }
    assert beta["input_audio_transcription"] == {"model": "gpt-4o-transcribe", "language": "en"}
    assert beta["input_audio_noise_reduction"] == {"type": "near_field"}
    assert beta["tools"] == [TRANSFER_TOOL]


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_session_update_matches_sdk_types(name: str, dialect: Dialect) -> None:
    text = session_update_json(VARIANTS[name], dialect)
    assert_sdk_accepts(text, "client", dialect)
    parsed = parse_client_event(text, dialect)
    assert isinstance(parsed, SessionUpdate)
    expected: dict[str, Any] = build_session_update(VARIANTS[name], dialect).session
    if dialect == "beta" and name == "full":  # beta cannot carry the idle timeout
        del expected["audio"]["input"]["turn_detection"]["idle_timeout_ms"]
    assert parsed.session == expected


def test_settings_are_not_shared() -> None:
    first, second = SessionSettings(), SessionSettings()
    assert first.turn_detection == second.turn_detection
    assert first.turn_detection is not second.turn_detection
    session = build_session_update(FULL, "ga").session
    session["audio"]["input"]["turn_detection"]["threshold"] = 0.9
    session["tools"][0]["name"] = "changed"
    assert FULL.turn_detection is not None and FULL.turn_detection["threshold"] == 0.5
    assert FULL.tools[0]["name"] == "transfer_call"


@pytest.mark.parametrize(("mode", "per_ms"), [("passthrough", 8), ("pcm16", 48)])
def test_audio_bytes_per_ms(mode: Any, per_ms: int) -> None:
    assert audio_format_bytes_per_ms(mode) == per_ms


def test_unknown_audio_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="g722"):
        audio_format_bytes_per_ms("g722")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="g722"):
        SessionSettings(audio_mode="g722")  # type: ignore[arg-type]
