"""Realtime events: round trips, GA/beta mapping, malformed input, and the official SDK's types."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.errors import ProtocolError
from bridge.realtime import events as ev
from bridge.realtime.events import (
    ClientEvent,
    Dialect,
    dump_client_event,
    dump_server_event,
    parse_client_event,
    parse_server_event,
)
from tests.unit._realtime_sdk import assert_sdk_accepts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DIALECTS: tuple[Dialect, ...] = ("ga", "beta")


def _lines(side: str, dialect: Dialect) -> list[str]:
    return (FIXTURES / f"realtime_{side}_{dialect}.jsonl").read_text(encoding="utf-8").splitlines()


def _line_with(side: str, dialect: Dialect, event_id: str) -> str:
    """The fixture line of the event with this ``event_id``."""
    return next(line for line in _lines(side, dialect) if f'"event_id":"{event_id}"' in line)


def _cases(side: str) -> list[Any]:
    return [
        pytest.param(dialect, line, id=f"{dialect}-{number}")
        for dialect in DIALECTS
        for number, line in enumerate(_lines(side, dialect), start=1)
    ]


# Keys the real server sends (PROTOCOLS.md G.1, G.4, beta captures) that the SDK does not declare.
SERVER_KEYS_NOT_IN_SDK: dict[Dialect, frozenset[str]] = {
    # GA: the SDK types session.created/updated with the request shape (no id/object/expires_at).
    "ga": frozenset(
        {
            "obfuscation",
            "session.id",
            "session.object",
            "session.expires_at",
            "response.usage.input_token_details.cached_tokens_details",
        }
    ),
    "beta": frozenset({"session.object", "session.expires_at"}),
}
GA_ONLY = {ev.ConversationItemDone, ev.InputAudioBufferTimeoutTriggered}

# -- server events: fixtures ---------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "line"), _cases("server"))
def test_server_fixture_round_trips(dialect: Dialect, line: str) -> None:
    assert dump_server_event(parse_server_event(line, dialect), dialect) == line


@pytest.mark.parametrize(("dialect", "line"), _cases("server"))
def test_server_fixture_matches_sdk_types(dialect: Dialect, line: str) -> None:
    assert_sdk_accepts(line, "server", dialect, not_in_sdk=SERVER_KEYS_NOT_IN_SDK[dialect])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_server_fixtures_cover_every_event_class(dialect: Dialect) -> None:
    seen = {type(parse_server_event(line, dialect)) for line in _lines("server", dialect)}
    every = {cls for cls in vars(ev).values() if isinstance(cls, type) and cls.__module__.endswith("_server_events")}
    expected = every if dialect == "ga" else every - GA_ONLY
    assert seen == expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_parsed_server_events_are_bytes_too(dialect: Dialect) -> None:
    for line in _lines("server", dialect):
        assert parse_server_event(line.encode(), dialect) == parse_server_event(line, dialect)


# -- server events: literal shapes from PROTOCOLS.md ----------------------------------------------


def test_g1_vad_turn_events() -> None:
    started = parse_server_event(
        '{"type":"input_audio_buffer.speech_started","event_id":"event_Ct1OXIluGYDuYDr0t7VDt",'
        '"audio_start_ms":1236,"item_id":"item_Ct1OXLqYLre7VW2Bz9Eoy"}',
        "ga",
    )
    assert started == ev.InputAudioBufferSpeechStarted(
        1236, "item_Ct1OXLqYLre7VW2Bz9Eoy", event_id="event_Ct1OXIluGYDuYDr0t7VDt"
    )
    committed = parse_server_event(
        '{"type":"input_audio_buffer.committed","event_id":"event_Ct1OZlX2FE6f7S0veUG5B",'
        '"previous_item_id":null,"item_id":"item_Ct1OXLqYLre7VW2Bz9Eoy"}',
        "ga",
    )
    assert committed == ev.InputAudioBufferCommitted(
        "item_Ct1OXLqYLre7VW2Bz9Eoy", None, event_id="event_Ct1OZlX2FE6f7S0veUG5B"
    )
    transcript = parse_server_event(
        '{"type":"response.output_audio_transcript.delta","event_id":"event_Ct1Ok70EO4KZfMtv7bHV3",'
        '"response_id":"resp_Ct1OkhbgNQBuFX2HeE0P9","item_id":"item_Ct1OkNEvGW5s0xZERnV95","output_index":0,'
        '"content_index":0,"delta":"The","obfuscation":"LBqdwEYsSEHbF"}',
        "ga",
    )
    assert transcript == ev.ResponseOutputAudioTranscriptDelta(
        "resp_Ct1OkhbgNQBuFX2HeE0P9",
        "item_Ct1OkNEvGW5s0xZERnV95",
        0,
        0,
        "The",
        event_id="event_Ct1Ok70EO4KZfMtv7bHV3",
        extra={"obfuscation": "LBqdwEYsSEHbF"},
    )


def test_g4_session_created() -> None:
    line = _line_with("server", "ga", "event_Ct1OVqJmiaDhg4nkh3JWr")
    event = parse_server_event(line, "ga")
    assert isinstance(event, ev.SessionCreated)
    assert event.event_id == "event_Ct1OVqJmiaDhg4nkh3JWr"
    assert event.session == orjson.loads(line)["session"]
    assert event.session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200


@pytest.mark.parametrize(
    ("dialect", "line", "expected"),
    [
        (
            "beta",
            '{"type":"error","event_id":"event_AOTheE0Xl3nJeu2iVnVeI","error":{"type":"invalid_request_error",'
            '"code":null,"message":"Audio content of 13600ms is already shorter than 55960ms","param":null,'
            '"event_id":null}}',
            ev.ErrorEvent(
                "invalid_request_error",
                None,
                "Audio content of 13600ms is already shorter than 55960ms",
                None,
                None,
                event_id="event_AOTheE0Xl3nJeu2iVnVeI",
            ),
        ),
        (
            "ga",
            '{"type":"error","event_id":"event_CdulTJIOI2YjBMxYUiRzZ","error":{"type":"invalid_request_error",'
            '"code":"conversation_already_has_active_response","message":"Conversation already has an active '
            "response in progress: resp_CdulSkgwnvcvHPA8FsqBM. Wait until the response is finished before "
            'creating a new one.","param":null,"event_id":null}}',
            ev.ErrorEvent(
                "invalid_request_error",
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress: resp_CdulSkgwnvcvHPA8FsqBM. Wait until "
                "the response is finished before creating a new one.",
                None,
                None,
                event_id="event_CdulTJIOI2YjBMxYUiRzZ",
            ),
        ),
        (  # the documentation's example puts event_id first: parsed the same, dumped in canonical order
            "ga",
            '{"event_id":"event_890","type":"error","error":{"type":"invalid_request_error","code":"invalid_event",'
            '"message":"The \'type\' field is missing.","param":null,"event_id":"event_567"}}',
            ev.ErrorEvent(
                "invalid_request_error",
                "invalid_event",
                "The 'type' field is missing.",
                None,
                "event_567",
                event_id="event_890",
            ),
        ),
    ],
)
def test_g3_error_payloads(dialect: Dialect, line: str, expected: ev.ErrorEvent) -> None:
    assert parse_server_event(line, dialect) == expected
    assert orjson.loads(dump_server_event(expected, dialect)) == orjson.loads(line)


def test_error_fields_absent_from_the_error_object_dump_as_null() -> None:
    event = parse_server_event('{"type":"error","event_id":"e","error":{"type":"server_error","message":"x"}}', "ga")
    assert event == ev.ErrorEvent("server_error", None, "x", None, None, event_id="e")
    assert dump_server_event(event, "ga") == (
        '{"type":"error","event_id":"e","error":{"type":"server_error","code":null,"message":"x",'
        '"param":null,"event_id":null}}'
    )


def test_response_done_accessors() -> None:
    done = parse_server_event(_line_with("server", "ga", "event_CsZyNdzXT4hWhvq6Pv8ad"), "ga")
    assert isinstance(done, ev.ResponseDone)
    assert done.response_id == "resp_CsZyL5IuqSgPEut0cI82K"
    assert done.status == "completed"
    assert done.status_reason is None
    assert done.usage is not None and done.usage["total_tokens"] == 320
    assert [item["content"][0]["type"] for item in done.output] == ["output_audio"]


def test_response_done_cancelled_by_turn_detection() -> None:
    done = parse_server_event(
        '{"type":"response.done","event_id":"e","response":{"id":"resp_1","status":"cancelled",'
        '"status_details":{"type":"cancelled","reason":"turn_detected"},"output":"odd","usage":[]}}',
        "ga",
    )
    assert isinstance(done, ev.ResponseDone)
    assert (done.status, done.status_reason, done.usage, done.output) == ("cancelled", "turn_detected", None, [])


def test_response_created_accessors_while_running() -> None:
    created = parse_server_event(_line_with("server", "ga", "event_Ct1OZ4pf0LWcnAxuHWRFN"), "ga")
    assert isinstance(created, ev.ResponseCreated)
    assert (created.response_id, created.status, created.status_reason) == (
        "resp_Ct1OZ5ukpGEZNeUWx1iOH",
        "in_progress",
        None,
    )
    assert (created.usage, created.output) == (None, [])


def test_unknown_events_keep_the_whole_object() -> None:
    dtmf = '{"type":"input_audio_buffer.dtmf_event_received","event":"5","received_at":1767233040}'
    event = parse_server_event(dtmf, "ga")
    assert event == ev.UnknownEvent("input_audio_buffer.dtmf_event_received", orjson.loads(dtmf))
    assert event.event_id is None
    started = parse_server_event('{"type":"output_audio_buffer.started","event_id":"event_1","response_id":"r"}', "ga")
    assert isinstance(started, ev.UnknownEvent) and started.event_id == "event_1"


# -- server events: one internal form for both dialects ---------------------------------------------

_PART_IDS = '"event_id":"e1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0'


@pytest.mark.parametrize(
    ("ga_line", "beta_line", "expected"),
    [
        (
            '{"type":"response.output_audio.delta",' + _PART_IDS + ',"delta":"/38A"}',
            '{"type":"response.audio.delta",' + _PART_IDS + ',"delta":"/38A"}',
            ev.ResponseOutputAudioDelta("resp_1", "item_1", 0, 0, b"\xff\x7f\x00", event_id="e1"),
        ),
        (
            '{"type":"response.output_audio.done",' + _PART_IDS + "}",
            '{"type":"response.audio.done",' + _PART_IDS + "}",
            ev.ResponseOutputAudioDone("resp_1", "item_1", 0, 0, event_id="e1"),
        ),
        (
            '{"type":"response.output_audio_transcript.delta",' + _PART_IDS + ',"delta":"Hi"}',
            '{"type":"response.audio_transcript.delta",' + _PART_IDS + ',"delta":"Hi"}',
            ev.ResponseOutputAudioTranscriptDelta("resp_1", "item_1", 0, 0, "Hi", event_id="e1"),
        ),
        (
            '{"type":"response.output_audio_transcript.done",' + _PART_IDS + ',"transcript":"Hi there"}',
            '{"type":"response.audio_transcript.done",' + _PART_IDS + ',"transcript":"Hi there"}',
            ev.ResponseOutputAudioTranscriptDone("resp_1", "item_1", 0, 0, "Hi there", event_id="e1"),
        ),
        (
            '{"type":"response.output_text.delta",' + _PART_IDS + ',"delta":"Hi"}',
            '{"type":"response.text.delta",' + _PART_IDS + ',"delta":"Hi"}',
            ev.ResponseOutputTextDelta("resp_1", "item_1", 0, 0, "Hi", event_id="e1"),
        ),
        (
            '{"type":"response.output_text.done",' + _PART_IDS + ',"text":"Hi there"}',
            '{"type":"response.text.done",' + _PART_IDS + ',"text":"Hi there"}',
            ev.ResponseOutputTextDone("resp_1", "item_1", 0, 0, "Hi there", event_id="e1"),
        ),
        (
            '{"type":"conversation.item.added","event_id":"e1","previous_item_id":"item_0","item":{"id":"item_1",'
            '"type":"message","role":"assistant","content":[{"type":"output_audio","transcript":"Hi"},'
            '{"type":"output_text","text":"Hi"}]}}',
            '{"type":"conversation.item.created","event_id":"e1","previous_item_id":"item_0","item":{"id":"item_1",'
            '"type":"message","role":"assistant","content":[{"type":"audio","transcript":"Hi"},'
            '{"type":"text","text":"Hi"}]}}',
            ev.ConversationItemAdded(
                {
                    "id": "item_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_audio", "transcript": "Hi"}, {"type": "output_text", "text": "Hi"}],
                },
                "item_0",
                event_id="e1",
            ),
        ),
    ],
)
def test_ga_and_beta_parse_to_one_event(ga_line: str, beta_line: str, expected: ev.ServerEvent) -> None:
    assert parse_server_event(ga_line, "ga") == expected
    assert parse_server_event(beta_line, "beta") == expected
    assert dump_server_event(expected, "ga") == ga_line
    assert dump_server_event(expected, "beta") == beta_line


def test_function_call_arguments_done_name_is_ga_only() -> None:
    ids = '"event_id":"e1","response_id":"resp_1","item_id":"item_1","output_index":0,"call_id":"call_1"'
    ga = parse_server_event(
        '{"type":"response.function_call_arguments.done",' + ids + ',"name":"transfer_call","arguments":"{}"}', "ga"
    )
    beta = parse_server_event('{"type":"response.function_call_arguments.done",' + ids + ',"arguments":"{}"}', "beta")
    assert ga == ev.ResponseFunctionCallArgumentsDone(
        "resp_1", "item_1", 0, "call_1", "transfer_call", "{}", event_id="e1"
    )
    assert beta == dataclasses.replace(ga, name=None)
    # beta has no name to send; GA always has one.
    assert (
        dump_server_event(ga, "beta") == '{"type":"response.function_call_arguments.done",' + ids + ',"arguments":"{}"}'
    )
    with pytest.raises(ProtocolError) as err:
        parse_server_event('{"type":"response.function_call_arguments.done",' + ids + ',"arguments":"{}"}', "ga")
    assert err.value.field == "name"


def test_beta_session_is_normalised_to_ga() -> None:
    event = parse_server_event(_line_with("server", "beta", "event_AHBMRa1bC2dE3fG4hI5jK"), "beta")
    assert isinstance(event, ev.SessionUpdated)
    assert event.session == {
        "type": "realtime",
        "id": "sess_AHBMPG1ztUb3ZREx87NFG",
        "object": "realtime.session",
        "model": "gpt-4o-realtime-preview-2024-12-17",
        "expires_at": 1728659509,
        "output_modalities": ["audio", "text"],
        "instructions": "You are a phone agent for Acme. Keep answers short.",
        "audio": {
            "input": {
                "format": {"type": "audio/pcmu"},
                "transcription": {"model": "whisper-1", "language": "en", "prompt": None},
                "noise_reduction": {"type": "near_field"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {"format": {"type": "audio/pcmu"}, "voice": "alloy", "speed": 1.0},
        },
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_output_tokens": "inf",
        "tools": [
            {
                "type": "function",
                "name": "transfer_call",
                "description": "Transfer the caller to a human agent.",
                "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
            }
        ],
        "tracing": None,
    }


def test_beta_response_is_normalised_to_ga() -> None:
    done = parse_server_event(_line_with("server", "beta", "event_AHBMTr1bC2dE3fG4hI5jK"), "beta")
    assert isinstance(done, ev.ResponseDone)
    response = dict(done.response)
    assert response.pop("usage")["total_tokens"] == 287
    assert response == {
        "object": "realtime.response",
        "id": "resp_AHBMTe1bC2dE3fG4hI5jK",
        "status": "completed",
        "status_details": None,
        "output": [
            {
                "id": "item_AHBMTi1bC2dE3fG4hI5jK",
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_audio", "transcript": "Sure, I can help with that."}],
            }
        ],
        "conversation_id": "conv_AHBMQf1bC2dE3fG4hI5jK",
        "output_modalities": ["audio", "text"],
        "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "alloy"}},
        "temperature": 0.8,
        "max_output_tokens": "inf",
        "metadata": None,
    }


def test_ga_legacy_item_created_parses_as_added() -> None:
    created = '{"type":"conversation.item.created","event_id":"e1","previous_item_id":null,"item":{"id":"item_1"}}'
    event = parse_server_event(created, "ga")
    assert event == ev.ConversationItemAdded({"id": "item_1"}, None, event_id="e1")
    assert dump_server_event(event, "ga") == created.replace("item.created", "item.added")


@pytest.mark.parametrize(
    "event",
    [
        ev.ConversationItemDone({"id": "item_1"}, None, event_id="e1"),
        ev.InputAudioBufferTimeoutTriggered(0, 8000, "item_1", event_id="e1"),
    ],
)
def test_ga_only_events_do_not_dump_as_beta(event: ev.ServerEvent) -> None:
    with pytest.raises(ProtocolError, match="no beta equivalent"):
        dump_server_event(event, "beta")


def test_ga_only_event_names_are_unknown_in_beta() -> None:
    line = '{"type":"conversation.item.done","event_id":"e1","previous_item_id":null,"item":{"id":"item_1"}}'
    assert parse_server_event(line, "beta") == ev.UnknownEvent("conversation.item.done", orjson.loads(line))


def test_events_built_in_code_dump_in_both_dialects() -> None:
    delta = ev.ResponseOutputAudioDelta("resp_1", "item_1", 0, 0, b"\xff" * 6, event_id="event_9")
    assert dump_server_event(delta, "ga") == (
        '{"type":"response.output_audio.delta","event_id":"event_9","response_id":"resp_1","item_id":"item_1",'
        '"output_index":0,"content_index":0,"delta":"////////"}'
    )
    assert dump_server_event(delta, "beta") == dump_server_event(delta, "ga").replace("output_audio", "audio")


def test_modelled_fields_win_over_stray_extra_keys() -> None:
    event = ev.ConversationItemDeleted("item_1", event_id="e1", extra={"item_id": "stale", "note": 1})
    assert dump_server_event(event, "ga") == (
        '{"type":"conversation.item.deleted","event_id":"e1","item_id":"item_1","note":1}'
    )


def test_audio_delta_with_an_extra_key_keeps_it() -> None:
    line = '{"type":"response.output_audio.delta",' + _PART_IDS + ',"delta":"/38A","obfuscation":"x"}'
    event = parse_server_event(line, "ga")
    assert event == ev.ResponseOutputAudioDelta(
        "resp_1", "item_1", 0, 0, b"\xff\x7f\x00", event_id="e1", extra={"obfuscation": "x"}
    )
    assert dump_server_event(event, "ga") == line


def test_transcription_delta_optional_fields_stay_absent() -> None:
    event = parse_server_event(_line_with("server", "ga", "event_Ct1OmL6mN7oP8qR9sT0uV"), "ga")
    assert event == ev.InputAudioTranscriptionDelta(
        "item_Ct1OXLqYLre7VW2Bz9Eoy", None, None, event_id="event_Ct1OmL6mN7oP8qR9sT0uV"
    )


# -- server events: malformed input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dialect", "field"),
    [
        ("not json", "ga", None),
        (b"\xff\xfe", "ga", None),
        ("[1, 2]", "ga", None),
        ('{"event_id":"e"}', "ga", "type"),
        ('{"type":7}', "ga", "type"),
        ('{"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":1}', "ga", "item_id"),
        ('{"type":"input_audio_buffer.speech_stopped","event_id":"e","audio_end_ms":"5","item_id":"i"}', "ga",
         "audio_end_ms"),
        ('{"type":"input_audio_buffer.speech_stopped","event_id":"e","audio_end_ms":true,"item_id":"i"}', "ga",
         "audio_end_ms"),
        ('{"type":"input_audio_buffer.cleared"}', "ga", "event_id"),
        ('{"type":"input_audio_buffer.cleared","event_id":5}', "beta", "event_id"),
        ('{"type":"response.output_audio.delta",' + _PART_IDS + ',"delta":"not base64!"}', "ga", "delta"),
        ('{"type":"response.audio.delta",' + _PART_IDS + ',"delta":"/38"}', "beta", "delta"),
        ('{"type":"response.output_audio.delta",' + _PART_IDS + ',"delta":"é"}', "ga", "delta"),
        ('{"type":"response.output_audio.delta",' + _PART_IDS.replace('"output_index":0', '"output_index":false')
         + ',"delta":"/38A"}', "ga", "output_index"),
        ('{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,'
         '"delta":"/38A","extra":1}', "ga", "content_index"),
        ('{"type":"error","event_id":"e","error":"boom"}', "ga", "error"),
        ('{"type":"error","event_id":"e","error":{"type":"server_error"}}', "ga", "error.message"),
        ('{"type":"error","event_id":"e","error":{"type":"t","message":"m","code":404}}', "beta", "error.code"),
        ('{"type":"response.done","event_id":"e","response":{"status":"completed"}}', "ga", "response.id"),
        ('{"type":"response.created","event_id":"e","response":{"id":"r","status":null}}', "beta",
         "response.status"),
        ('{"type":"session.created","event_id":"e","session":[]}', "ga", "session"),
        ('{"type":"session.created","event_id":"e","session":{"input_audio_format":"mp3"}}', "beta",
         "session.input_audio_format"),
        ('{"type":"conversation.item.added","event_id":"e","previous_item_id":null,"item":null}', "ga", "item"),
        ('{"type":"conversation.item.added","event_id":"e","previous_item_id":3,"item":{}}', "ga", "previous_item_id"),
        ('{"type":"rate_limits.updated","event_id":"e","rate_limits":{}}', "ga", "rate_limits"),
        ('{"type":"conversation.item.input_audio_transcription.delta","event_id":"e","item_id":"i","delta":1}', "ga",
         "delta"),
    ],
)  # fmt: skip
def test_malformed_server_events_name_the_field(data: str | bytes, dialect: Dialect, field: str | None) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_server_event(data, dialect)
    assert err.value.field == field
    if field is not None:
        assert field in str(err.value)


# -- client events ---------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "line"), _cases("client"))
def test_client_fixture_round_trips(dialect: Dialect, line: str) -> None:
    assert dump_client_event(parse_client_event(line, dialect), dialect) == line


@pytest.mark.parametrize(("dialect", "line"), _cases("client"))
def test_client_fixture_matches_sdk_types(dialect: Dialect, line: str) -> None:
    assert_sdk_accepts(line, "client", dialect)


def test_client_fixtures_cover_every_event_class() -> None:
    every = {cls for cls in vars(ev).values() if isinstance(cls, type) and cls.__module__.endswith("_client_events")}
    for dialect in DIALECTS:
        assert {type(parse_client_event(line, dialect)) for line in _lines("client", dialect)} == every


FUNCTION_RESULT = {"type": "function_call_output", "call_id": "call_1", "output": '{"ok":true}'}
ASSISTANT_TEXT = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Welcome."}]}
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello?"}]}
SYSTEM_TEXT = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Be brief."}]}
RESPONSE_PARAMS = {
    "conversation": "auto",
    "output_modalities": ["audio"],
    "instructions": "Greet the caller.",
    "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}},
    "tools": [
        {"type": "function", "name": "hang_up", "description": "End the call.", "parameters": {"type": "object"}}
    ],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "metadata": {"turn": "greeting"},
    "input": [USER_TEXT, ASSISTANT_TEXT],
}
# Every client event the bridge emits (session.update is checked in test_realtime_session.py).
BRIDGE_CLIENT_EVENTS: list[ClientEvent] = [
    ev.InputAudioBufferAppend(b"\xff" * 160),
    ev.InputAudioBufferAppend(bytes(range(256)) * 4, event_id="evt_1"),
    ev.InputAudioBufferCommit(),
    ev.InputAudioBufferClear(event_id="evt_2"),
    ev.ConversationItemCreate(FUNCTION_RESULT),
    ev.ConversationItemCreate(USER_TEXT, "item_0", event_id="evt_3"),
    ev.ConversationItemCreate(ASSISTANT_TEXT),
    ev.ConversationItemCreate(SYSTEM_TEXT),
    ev.ConversationItemRetrieve("item_1"),
    ev.ConversationItemTruncate("item_1", 0, 1500),
    ev.ConversationItemDelete("item_1", event_id="evt_4"),
    ev.ResponseCreate(),
    ev.ResponseCreate(RESPONSE_PARAMS, event_id="evt_5"),
    ev.ResponseCancel(),
    ev.ResponseCancel("resp_1"),
    ev.OutputAudioBufferClear(),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("event", BRIDGE_CLIENT_EVENTS, ids=lambda e: type(e).__name__)
def test_bridge_client_events_match_sdk_and_parse_back(dialect: Dialect, event: ClientEvent) -> None:
    text = dump_client_event(event, dialect)
    assert_sdk_accepts(text, "client", dialect)
    assert parse_client_event(text, dialect) == event


def test_append_is_minimal_json() -> None:
    assert dump_client_event(ev.InputAudioBufferAppend(b"\xff\x7f\x00"), "ga") == (
        '{"type":"input_audio_buffer.append","audio":"/38A"}'
    )
    assert dump_client_event(ev.InputAudioBufferAppend(b"", event_id='a"b'), "beta") == (
        '{"type":"input_audio_buffer.append","event_id":"a\\"b","audio":""}'
    )


def test_one_item_create_in_both_dialects() -> None:
    event = ev.ConversationItemCreate(ASSISTANT_TEXT)
    assert dump_client_event(event, "ga") == (
        '{"type":"conversation.item.create","item":{"type":"message","role":"assistant",'
        '"content":[{"type":"output_text","text":"Welcome."}]}}'
    )
    assert dump_client_event(event, "beta") == (
        '{"type":"conversation.item.create","item":{"type":"message","role":"assistant",'
        '"content":[{"type":"text","text":"Welcome."}]}}'
    )
    # user and system content types are the same in both dialects
    user = ev.ConversationItemCreate(USER_TEXT)
    assert dump_client_event(user, "beta") == dump_client_event(user, "ga")


def test_one_response_create_in_both_dialects() -> None:
    event = ev.ResponseCreate(
        {
            "output_modalities": ["audio"],
            "instructions": "Say goodbye.",
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
            "max_output_tokens": 200,
        }
    )
    assert dump_client_event(event, "ga") == (
        '{"type":"response.create","response":{"output_modalities":["audio"],"instructions":"Say goodbye.",'
        '"audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"alloy"}},"max_output_tokens":200}}'
    )
    assert dump_client_event(event, "beta") == (
        '{"type":"response.create","response":{"modalities":["audio"],"instructions":"Say goodbye.",'
        '"voice":"alloy","output_audio_format":"pcm16","max_response_output_tokens":200}}'
    )


def test_one_session_update_in_both_dialects() -> None:
    event = ev.SessionUpdate(
        {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcma"},
                    "turn_detection": {"type": "server_vad", "idle_timeout_ms": 8000, "create_response": True},
                },
                "output": {"voice": "alloy", "format": {"type": "audio/pcma"}, "speed": 1.1},
            },
            "max_output_tokens": 512,
        },
        event_id="evt_1",
    )
    assert dump_client_event(event, "beta") == (
        '{"type":"session.update","event_id":"evt_1","session":{"modalities":["audio"],"voice":"alloy",'
        '"turn_detection":{"type":"server_vad","create_response":true},"input_audio_format":"g711_alaw",'
        '"output_audio_format":"g711_alaw","speed":1.1,"max_response_output_tokens":512}}'
    )
    assert orjson.loads(dump_client_event(event, "ga"))["session"] == event.session


def test_null_audio_formats_map_to_null() -> None:
    event = ev.SessionUpdate({"type": "realtime", "audio": {"input": {"format": None}}})
    beta = '{"type":"session.update","session":{"input_audio_format":null}}'
    assert dump_client_event(event, "beta") == beta
    assert parse_client_event(beta, "beta") == event


def test_beta_client_events_parse_to_ga_shape() -> None:
    session = parse_client_event(_line_with("client", "beta", "evt_client_1"), "beta")
    assert session == ev.SessionUpdate(
        {
            "type": "realtime",
            "output_modalities": ["audio", "text"],
            "instructions": "",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": None,
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy", "speed": 1.2},
            },
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_output_tokens": 4096,
        },
        event_id="evt_client_1",
    )
    response = parse_client_event(_line_with("client", "beta", "evt_client_6"), "beta")
    assert response == ev.ResponseCreate(
        {
            "conversation": "none",
            "output_modalities": ["audio", "text"],
            "instructions": "Greet the caller.",
            "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "alloy"}},
            "temperature": 0.8,
            "max_output_tokens": 1024,
            "metadata": {"purpose": "greeting"},
            "input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi"}]}],
        },
        event_id="evt_client_6",
    )


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (ev.SessionUpdate({"type": "transcription"}), "session.type"),
        (ev.SessionUpdate({"type": "realtime", "audio": None}), "session.audio"),
        (ev.SessionUpdate({"type": "realtime", "audio": {"middle": {}}}), "session.audio.middle"),
        (ev.SessionUpdate({"type": "realtime", "audio": {"input": {"bogus": 1}}}), "session.audio.input.bogus"),
        (
            ev.SessionUpdate(
                {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}
            ),
            "session.audio.input.format",
        ),
        (
            ev.SessionUpdate({"type": "realtime", "audio": {"output": {"format": {"type": "audio/opus"}}}}),
            "session.audio.output.format",
        ),
        (
            ev.SessionUpdate(
                {"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu", "rate": 8000}}}}
            ),
            "session.audio.output.format",
        ),
        (ev.ResponseCreate({"audio": {"input": {}}}), "response.audio.input"),
        (ev.ResponseCreate({"audio": {"output": {"speed": 1.0}}}), "response.audio.output.speed"),
    ],
)
def test_ga_only_client_shapes_do_not_dump_as_beta(event: ClientEvent, field: str) -> None:
    with pytest.raises(ProtocolError) as err:
        dump_client_event(event, "beta")
    assert err.value.field == field


@pytest.mark.parametrize(
    ("data", "dialect", "field"),
    [
        ("{", "ga", None),
        ('"session.update"', "ga", None),
        ('{"type":"nope"}', "ga", "type"),
        ('{"type":"transcription_session.update","session":{}}', "beta", "type"),
        ('{"type":"input_audio_buffer.commit","bogus":1}', "ga", "bogus"),
        ('{"type":"input_audio_buffer.append"}', "ga", "audio"),
        ('{"type":"input_audio_buffer.append","audio":"a b"}', "ga", "audio"),
        ('{"type":"input_audio_buffer.append","audio":"/38A","event_id":7}', "beta", "event_id"),
        ('{"type":"conversation.item.truncate","item_id":"i","content_index":0}', "ga", "audio_end_ms"),
        ('{"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":1.5}', "ga",
         "audio_end_ms"),
        ('{"type":"conversation.item.create","item":"x"}', "ga", "item"),
        ('{"type":"response.create","response":[]}', "ga", "response"),
        ('{"type":"response.cancel","response_id":1}', "ga", "response_id"),
        ('{"type":"session.update"}', "ga", "session"),
        ('{"type":"session.update","session":{"output_audio_format":"opus"}}', "beta", "session.output_audio_format"),
    ],
)  # fmt: skip
def test_malformed_client_events_name_the_field(data: str, dialect: Dialect, field: str | None) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_client_event(data, dialect)
    assert err.value.field == field


def test_null_client_fields_read_as_absent() -> None:
    assert parse_client_event('{"type":"response.create","event_id":null,"response":null}', "ga") == ev.ResponseCreate()


@pytest.mark.parametrize(
    ("text", "side", "dialect"),
    [
        ('{"type":"input_audio_buffer.append","audio":"","bogus":1}', "client", "ga"),
        ('{"type":"session.update","session":{"type":"realtime","audio":{"input":{"formatt":{}}}}}', "client", "ga"),
        ('{"type":"session.update","session":{"type":"realtime","output_modalities":["audio"]}}', "client", "beta"),
        ('{"type":"response.create","response":{"modalities":["audio"]}}', "client", "ga"),
        ('{"type":"input_audio_buffer.cleared","event_id":"e","item_id":"i"}', "server", "ga"),
    ],
)
def test_sdk_check_rejects_unknown_keys(text: str, side: str, dialect: Dialect) -> None:
    with pytest.raises(AssertionError, match="keys the SDK does not know"):
        assert_sdk_accepts(text, side, dialect)
