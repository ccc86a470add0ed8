"""Client event validation and the session configuration, without sockets."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.engine.formats import PCMA, PCMU
from bridge.engine.schema import ClientError, Int, MapOf, Num, OneOf, Str, quote_values
from bridge.engine.sessionconfig import SessionConfig, TurnDetection
from bridge.engine.validate import BETA_EVENT_TYPES, GA_EVENT_TYPES, validate_event


def error_of(event: Any, dialect: str = "ga") -> ClientError:
    with pytest.raises(ClientError) as caught:
        validate_event(event, "beta" if dialect == "beta" else "ga")
    return caught.value


def test_value_lists_read_like_openais() -> None:
    assert quote_values(["a"]) == "'a'"
    assert quote_values(["a", "b"]) == "'a' and 'b'"
    assert quote_values(["a", "b", "c"]) == "'a', 'b', and 'c'"


def test_specs_name_types_and_ranges() -> None:
    with pytest.raises(ClientError, match="expected an integer, but got a boolean instead"):
        Int().check(True, "x")
    with pytest.raises(ClientError, match="expected a decimal, but got a string instead"):
        Num().check("1", "x")
    with pytest.raises(ClientError, match="expected an object, but got an array instead"):
        MapOf(Str()).check([], "m")
    error = pytest.raises(ClientError, MapOf(Str()).check, {"k": 1}, "metadata").value
    assert error.param == "metadata.k"
    with pytest.raises(ClientError, match="expected one of an integer or a string, but got a decimal instead"):
        OneOf(Int(1, 4096), Str()).check(2.5, "max_output_tokens")
    Num(0, 1).check(1, "threshold")  # integers are decimals too


def test_valid_events_of_both_dialects_pass() -> None:
    validate_event(
        {
            "type": "session.update",
            "event_id": "e",
            "session": {
                "type": "realtime",
                "model": "gpt-realtime",
                "output_modalities": ["audio"],
                "instructions": "x",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "noise_reduction": {"type": "near_field"},
                        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                        "turn_detection": {"type": "server_vad", "threshold": 0.5, "idle_timeout_ms": None},
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": {"id": "voice_1"},
                        "speed": 1.2,
                    },
                },
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}, {"name": "g"}],
                "tool_choice": {"type": "function", "name": "f"},
                "max_output_tokens": "inf",
                "tracing": {"workflow_name": "w"},
                "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
                "prompt": None,
            },
        },
        "ga",
    )
    validate_event(
        {
            "type": "session.update",
            "session": {
                "modalities": ["text", "audio"],
                "input_audio_format": "g711_ulaw",
                "turn_detection": {"silence_duration_ms": 300},
                "temperature": 0.8,
                "max_response_output_tokens": 200,
            },
        },
        "beta",
    )
    validate_event({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "i"}]}}, "ga")


def test_each_dialect_lists_its_own_event_types() -> None:
    ga = error_of({"type": "transcription_session.update"})
    assert ga.param == "type" and "'session.close'" in ga.message
    beta = error_of({"type": "session.close"}, "beta")
    supported = beta.message.split("Supported values are: ")[1]
    assert "'session.close'" not in supported and "'response.cancel'" in supported
    assert set(BETA_EVENT_TYPES) < set(GA_EVENT_TYPES)
    assert error_of({"type": 3}).message.startswith("Invalid value: '3'.")


def test_beta_items_need_their_fields() -> None:
    error = error_of(
        {"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "x"}}, "beta"
    )
    assert (error.code, error.param) == ("missing_required_parameter", "item.call_id")
    error = error_of(
        {"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}}, "beta"
    )
    assert (error.code, error.param) == ("invalid_value", "item.role")


def test_session_config_updates_and_renders() -> None:
    config = SessionConfig(model="gpt-realtime")
    updated = config.updated_ga(
        {
            "type": "realtime",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "turn_detection": None,
                    "noise_reduction": {"type": "far_field"},
                },
                "output": {"format": {"type": "audio/pcma"}, "speed": 1.1},
            },
            "tools": [{"type": "function", "name": "f"}],
            "parallel_tool_calls": True,
        }
    )
    assert (updated.input_format, updated.output_format, updated.turn_detection) == (PCMU, PCMA, None)
    rendered = updated.render_ga("sess_1", 99)
    assert rendered["audio"]["input"] == {
        "format": {"type": "audio/pcmu"},
        "transcription": None,
        "noise_reduction": {"type": "far_field"},
        "turn_detection": None,
    }
    assert rendered["audio"]["output"] == {"format": {"type": "audio/pcma"}, "voice": "alloy", "speed": 1.1}
    assert rendered["parallel_tool_calls"] is True and "reasoning" not in rendered
    assert config.input_format != updated.input_format  # updates build a new config

    beta = config.updated_beta(
        {"output_audio_format": "g711_ulaw", "turn_detection": {"type": "semantic_vad"}, "temperature": 0.7}
    )
    assert beta.render_beta("sess_1", 99)["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    assert (beta.output_format, beta.temperature) == (PCMU, 0.7)
    assert TurnDetection(type="semantic_vad", eagerness="low").silence_ms == 1000
    assert TurnDetection(silence_duration_ms=250).silence_ms == 250
