"""Client event validation over real sockets: OpenAI's error codes, messages and params; the
session goes on after each one (PROTOCOLS A.4, G.3)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.engine_support import connect, running_engine

UNKNOWN_TYPE = (
    "Invalid value: 'nope'. Supported values are: 'session.update', 'session.close', 'input_audio_buffer.append', "
    "'session.input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', "
    "'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', "
    "'conversation.item.retrieve', 'response.create', and 'response.cancel'."
)


def update(session: dict[str, Any]) -> dict[str, Any]:
    return {"type": "session.update", "event_id": "evt_42", "session": {"type": "realtime", **session}}


CASES: list[tuple[str, dict[str, Any], str, str | None, str | None]] = [
    # (name, event, code, param, message; None: not asserted literally)
    ("unknown type", {"type": "nope", "event_id": "evt_42"}, "invalid_value", "type", UNKNOWN_TYPE),
    ("missing type", {"event_id": "evt_42"}, "invalid_event", None, "The 'type' field is missing."),
    (
        "unknown parameter",
        update({"bogus_field": 1}),
        "unknown_parameter",
        "session.bogus_field",
        "Unknown parameter: 'session.bogus_field'.",
    ),
    (
        "beta field in GA",
        update({"input_audio_format": "g711_ulaw"}),
        "unknown_parameter",
        "session.input_audio_format",
        "Unknown parameter: 'session.input_audio_format'.",
    ),
    (
        "pcm rate",
        update({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}),
        "integer_below_min_value",
        "session.audio.input.format.rate",
        "Invalid 'session.audio.input.format.rate': integer below minimum value. "
        "Expected a value >= 24000, but got 16000 instead.",
    ),
    (
        "pcm without rate",
        update({"audio": {"output": {"format": {"type": "audio/pcm"}}}}),
        "missing_required_parameter",
        "session.audio.output.format.rate",
        "Missing required parameter: 'session.audio.output.format.rate'.",
    ),
    (
        "mistyped field",
        update({"instructions": 5}),
        "invalid_type",
        "session.instructions",
        "Invalid type for 'session.instructions': expected a string, but got an integer instead.",
    ),
    (
        "bad enum",
        update({"audio": {"output": {"voice": "robot"}}}),
        "invalid_value",
        "session.audio.output.voice",
        "Invalid value: 'robot'. Supported values are: 'alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', "
        "'shimmer', 'verse', 'marin', and 'cedar'.",
    ),
    (
        "bad format type",
        update({"audio": {"input": {"format": {"type": "audio/opus"}}}}),
        "invalid_value",
        "session.audio.input.format.type",
        "Invalid value: 'audio/opus'. Supported values are: 'audio/pcm', 'audio/pcmu', and 'audio/pcma'.",
    ),
    (
        "threshold above 1",
        update({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}}),
        "decimal_above_max_value",
        "session.audio.input.turn_detection.threshold",
        "Invalid 'session.audio.input.turn_detection.threshold': decimal above maximum value. "
        "Expected a value <= 1, but got 1.5 instead.",
    ),
    (
        "both modalities",
        update({"output_modalities": ["text", "audio"]}),
        "invalid_value",
        "session.output_modalities",
        None,
    ),
    ("other model", update({"model": "gpt-realtime-mini"}), "invalid_value", "session.model", None),
    (
        "session type missing",
        {"type": "session.update", "event_id": "evt_42", "session": {"instructions": "x"}},
        "missing_required_parameter",
        "session.type",
        "Missing required parameter: 'session.type'.",
    ),
    (
        "transcription session",
        update({"type": "transcription"}),
        "invalid_value",
        "session.type",
        "Invalid value: 'transcription'. Supported values are: 'realtime'.",
    ),
    (
        "missing item_id",
        {"type": "conversation.item.truncate", "event_id": "evt_42", "content_index": 0, "audio_end_ms": 10},
        "missing_required_parameter",
        "item_id",
        "Missing required parameter: 'item_id'.",
    ),
    (
        "negative audio_end_ms",
        {
            "type": "conversation.item.truncate",
            "event_id": "evt_42",
            "item_id": "x",
            "content_index": 0,
            "audio_end_ms": -1,
        },
        "integer_below_min_value",
        "audio_end_ms",
        None,
    ),
    (
        "item without content",
        {"type": "conversation.item.create", "event_id": "evt_42", "item": {"type": "message", "role": "user"}},
        "missing_required_parameter",
        "item.content",
        "Missing required parameter: 'item.content'.",
    ),
    (
        "tool choice type",
        {"type": "response.create", "event_id": "evt_42", "response": {"tool_choice": 3}},
        "invalid_type",
        "response.tool_choice",
        "Invalid type for 'response.tool_choice': expected one of a string or an object, but got an integer instead.",
    ),
    (
        "bad base64",
        {"type": "input_audio_buffer.append", "event_id": "evt_42", "audio": "not base64!"},
        "invalid_value",
        "audio",
        None,
    ),
    (
        "WebRTC-only event",
        {"type": "output_audio_buffer.clear", "event_id": "evt_42"},
        "invalid_value",
        "type",
        UNKNOWN_TYPE.replace("'nope'", "'output_audio_buffer.clear'"),
    ),
    (
        "unknown top-level field",
        {"type": "response.cancel", "event_id": "evt_42", "item_id": "x"},
        "unknown_parameter",
        "item_id",
        "Unknown parameter: 'item_id'.",
    ),
]


async def test_every_invalid_event_gets_openais_error_and_the_session_goes_on() -> None:
    async with running_engine() as server, connect(server) as client:
        for name, event, code, param, message in CASES:
            await client.send(event)
            error = (await client.expect("error"))["error"]
            assert (error["type"], error["code"], error["param"], error["event_id"]) == (
                "invalid_request_error",
                code,
                param,
                "evt_42",
            ), name
            if message is not None:
                assert error["message"] == message, name
        # Still alive and unchanged: every bad session.update was discarded whole.
        updated = await client.update({"type": "realtime"})
        assert updated["session"] == {**client.received[0]["session"]}
        assert len(server.sessions[-1].log.sent("error")) == len(CASES)


async def test_an_invalid_update_is_discarded_whole() -> None:
    async with running_engine() as server, connect(server) as client:
        await client.send(
            update({"instructions": "A", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 1}}}})
        )
        await client.expect("error")
        updated = await client.update({"type": "realtime"})
        assert updated["session"]["instructions"] == client.received[0]["session"]["instructions"]


@pytest.mark.parametrize(
    ("frame", "code", "message"),
    [
        ("not json", "invalid_json", "Invalid event: failed to parse JSON value."),
        (b"\x00\x01", "invalid_event", "Expected a text WebSocket message; binary frames are not supported."),
        ("[1, 2]", "invalid_event", "Invalid event: expected a JSON object."),
    ],
)
async def test_frames_that_are_not_events(frame: str | bytes, code: str, message: str) -> None:
    async with running_engine() as server, connect(server) as client:
        await client.ws.send(frame)
        error = (await client.expect("error"))["error"]
        assert error["code"] == code and error["param"] is None and error["event_id"] is None
        assert error["message"].startswith(message)
        await client.update({"type": "realtime"})
        entry = next(e for e in server.sessions[-1].log if e.direction == "received")
        assert entry.event is None and entry.raw == frame


async def test_state_errors() -> None:
    async with running_engine() as server, connect(server) as client:
        expected: list[tuple[dict[str, Any], str, str]] = [
            (
                {"type": "response.cancel"},
                "response_cancel_not_active",
                "Cancellation failed: no active response found",
            ),
            (
                {"type": "conversation.item.delete", "item_id": "item_x"},
                "item_delete_invalid_item_id",
                "Error deleting item: the item with id 'item_x' does not exist.",
            ),
            (
                {"type": "conversation.item.retrieve", "item_id": "item_x"},
                "item_retrieve_invalid_item_id",
                "Error retrieving item: the item with id 'item_x' does not exist.",
            ),
            (
                {"type": "conversation.item.truncate", "item_id": "item_x", "content_index": 0, "audio_end_ms": 0},
                "item_truncate_invalid_item_id",
                "Item with item_id not found: item_x",
            ),
        ]
        for event, code, message in expected:
            await client.send(event)
            error = (await client.expect("error"))["error"]
            assert (error["code"], error["message"], error["param"], error["event_id"]) == (code, message, None, None)
