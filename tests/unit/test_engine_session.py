"""EngineSession, sans-I/O: fed events and times, drained of actions. No sockets, no clock."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from bridge.engine import EngineConfig, Scenario
from bridge.engine.formats import PCMU
from bridge.engine.session import Close, EngineSession, Send, Transcribe
from bridge.engine.validate import Dialect
from bridge.engine.voice import MS_PER_CHAR, SpeechVoice

T0 = 1_767_000_000.0
GREETING = "Hello there, this is a test of the pacing."


def make(dialect: Dialect = "ga", model: str | None = "gpt-realtime", **config: Any) -> EngineSession:
    options: dict[str, Any] = {"pace": 0.0, "scenario": Scenario(greeting=GREETING, fallback=("Sure.",)), **config}
    return EngineSession(EngineConfig(**options), dialect=dialect, model=model, now=T0, seed=1)


def send(session: EngineSession, event: dict[str, Any], now: float = T0) -> None:
    session.receive_text(orjson.dumps(event), now)


def events(actions: list[Any]) -> list[dict[str, Any]]:
    return [action.event for action in actions if isinstance(action, Send)]


def kinds(actions: list[Any]) -> list[str]:
    return [event["type"] for event in events(actions)]


def pcmu_session(session: EngineSession, **detection: Any) -> None:
    vad = {"type": "server_vad", "silence_duration_ms": 300, **detection}
    fmt = {"type": "audio/pcmu"}
    send(
        session,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"format": fmt, "turn_detection": vad}, "output": {"format": fmt}},
            },
        },
    )


def append(session: EngineSession, audio: bytes, now: float = T0) -> None:
    for start in range(0, len(audio), 160):
        send(
            session,
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio[start : start + 160]).decode()},
            now,
        )


def speech(text: str) -> bytes:
    pcm, _ = SpeechVoice().synthesize(text, 8000)
    return PCMU.encode(pcm)


def test_deltas_go_out_at_pace() -> None:
    session = make(pace=4.0)
    session.poll(T0)
    send(session, {"type": "response.create"})
    first = session.poll(T0)
    assert kinds(first)[:3] == ["response.created", "rate_limits.updated", "response.output_item.added"]
    assert kinds(first).count("response.output_audio.delta") == 1
    step = 0.1 / 4  # 100 ms of audio every 25 ms
    assert session.next_deadline() == pytest.approx(T0 + step)
    assert session.poll(T0 + step - 0.001) == []
    assert kinds(session.poll(T0 + step)).count("response.output_audio.delta") == 1
    chunks = -(-len(GREETING) * MS_PER_CHAR // 100)
    rest = session.poll(T0 + chunks * step)
    assert kinds(rest).count("response.output_audio.delta") == chunks - 2
    assert kinds(rest)[-1] == "response.done" and session.active_response is None
    assert session.next_deadline() == T0 + 3600


def test_barge_in_mid_stream_cancels_with_what_was_sent() -> None:
    session = make(pace=1.0)
    pcmu_session(session)
    session.poll(T0)
    send(session, {"type": "response.create"})
    session.poll(T0 + 0.25)  # three 100 ms chunks are out: 0, 0.1 and 0.2 s
    append(session, speech("Stop please"), T0 + 0.26)
    actions = session.poll(T0 + 0.26)
    assert kinds(actions)[0] == "input_audio_buffer.speech_started"
    done = events(actions)[-1]
    assert done["type"] == "response.done"
    response = done["response"]
    assert response["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    item = session.conversation.get(response["output"][0]["id"])
    assert item is not None and item.audio_ms == 300 and item.status == "incomplete"
    assert response["output"][0]["content"][0]["transcript"] == "Hello"  # "there," starts at 455 ms
    assert session.active_response is None
    assert session.poll(T0 + 10) == []  # nothing of the cancelled response is left


def test_pace_zero_sends_everything_at_once_and_the_turn_is_answered() -> None:
    session = make()
    pcmu_session(session)
    session.poll(T0)
    append(session, bytes([0xFF]) * 800 + speech("Is anyone there?") + bytes([0xFF]) * 4000)
    actions = session.poll(T0)
    assert kinds(actions)[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert kinds(actions)[-1] == "response.done"
    assert events(actions)[-1]["response"]["output"][0]["content"][0]["transcript"] == "Sure."


def test_the_session_limit_and_fatal_errors() -> None:
    session = make(session_limit_s=60)
    assert kinds(session.poll(T0)) == ["session.created"]
    assert session.next_deadline() == T0 + 60
    assert session.poll(T0 + 59.9) == []
    actions = session.poll(T0 + 60)
    assert events(actions)[0]["error"]["code"] == "session_expired"
    assert actions[-1] == Close(1001, "Your session hit the maximum duration of 1 minute.")
    assert session.closed and session.next_deadline() is None
    send(session, {"type": "response.create"}, T0 + 61)
    assert session.poll(T0 + 61) == []

    no_model = make(model=None)
    actions = no_model.poll(T0)
    assert events(actions)[0]["error"]["code"] == "missing_model"
    assert actions[-1] == Close(4000, "invalid_request_error.missing_model")


def test_session_close_and_disconnect() -> None:
    session = make()
    session.poll(T0)
    send(session, {"type": "session.close"})
    assert session.poll(T0) == [Close(1000, "")]
    other = make()
    other.disconnected(T0)
    assert other.closed and other.poll(T0) == []


@pytest.mark.parametrize(
    ("dialect", "setting", "expected"),
    [("ga", None, False), ("ga", True, True), ("beta", None, True), ("beta", False, False)],
)
def test_conversation_created_follows_the_dialect(dialect: Dialect, setting: bool | None, expected: bool) -> None:
    session = make(dialect=dialect, send_conversation_created=setting)
    assert ("conversation.created" in kinds(session.poll(T0))) is expected


def test_transcription_is_asked_for_and_reported() -> None:
    session = make()
    fmt = {"type": "audio/pcmu"}
    send(
        session,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"format": fmt, "turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}
                },
            },
        },
    )
    audio = speech("Hello")
    append(session, audio)
    send(session, {"type": "input_audio_buffer.commit"})
    actions = session.poll(T0)
    transcribe = next(a for a in actions if isinstance(a, Transcribe))
    assert (transcribe.rate, transcribe.pcm16) == (8000, PCMU.decode(audio))
    session.transcription_done(transcribe.item_id, "hello", T0 + 1)
    completed = events(session.poll(T0 + 1))[0]
    assert (completed["type"], completed["item_id"], completed["transcript"]) == (
        "conversation.item.input_audio_transcription.completed",
        transcribe.item_id,
        "hello",
    )
    item = session.conversation.get(transcribe.item_id)
    assert item is not None and item.content[0]["transcript"] == "hello"


def test_the_voice_is_locked_once_the_agent_has_spoken() -> None:
    session = make()
    session.poll(T0)
    send(session, {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}}})
    send(session, {"type": "response.create"})
    session.poll(T0)
    send(
        session,
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}, "instructions": "x"},
        },
    )
    send(session, {"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "cedar"}}}})
    updated, error = events(session.poll(T0))
    assert updated["session"]["instructions"] == "x"
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "cannot_update_voice",
        "message": "Cannot update a conversation's voice if assistant audio is present.",
        "param": None,
        "event_id": None,
    }
    assert session.settings.voice == "ash"


def test_responses_can_override_the_format_and_stay_out_of_band() -> None:
    session = make()
    session.poll(T0)
    params = {"conversation": "none", "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "sage"}}}
    send(session, {"type": "response.create", "response": params})
    sent = events(session.poll(T0))
    assert "conversation.item.added" not in [e["type"] for e in sent]
    response = sent[-1]["response"]
    assert response["conversation_id"] is None
    assert response["audio"] == {"output": {"format": {"type": "audio/pcmu"}, "voice": "sage"}}
    deltas = [base64.b64decode(e["delta"]) for e in sent if e["type"] == "response.output_audio.delta"]
    assert len(deltas[0]) == 800 and len(session.conversation) == 0


def test_cancel_names_the_response() -> None:
    session = make(pace=1.0)
    session.poll(T0)
    send(session, {"type": "response.create"})
    session.poll(T0)
    send(session, {"type": "response.cancel", "response_id": "resp_other"})
    assert events(session.poll(T0))[0]["error"]["code"] == "response_cancel_not_active"
    assert session.active_response is not None
    send(session, {"type": "response.cancel", "response_id": session.active_response.id})
    assert kinds(session.poll(T0))[-1] == "response.done"


def test_semantic_vad_runs_on_energy_with_a_silence_from_eagerness() -> None:
    session = make()
    pcmu_session(session)
    send(
        session,
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}},
            },
        },
    )
    updated = events(session.poll(T0))[-1]
    assert updated["session"]["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "low",
        "create_response": True,
        "interrupt_response": True,
    }
    append(session, speech("Hi") + bytes([0xFF]) * 8 * 800)
    assert "input_audio_buffer.speech_stopped" not in kinds(session.poll(T0))
    append(session, bytes([0xFF]) * 8 * 400)
    assert "input_audio_buffer.speech_stopped" in kinds(session.poll(T0))


def test_the_log_records_both_ways() -> None:
    session = make()
    session.poll(T0)
    send(session, {"type": "input_audio_buffer.clear", "event_id": "evt_1"}, T0 + 1)
    session.receive_binary(b"\x01", T0 + 2)
    session.poll(T0 + 2)
    log = session.log
    assert log.types("received") == ["input_audio_buffer.clear", ""]
    assert log.types() == ["session.created", "input_audio_buffer.cleared", "error"]
    assert log.received("input_audio_buffer.clear") == [{"type": "input_audio_buffer.clear", "event_id": "evt_1"}]
    assert log.first("error")["error"]["code"] == "invalid_event"
    assert [entry.time for entry in log] == [T0, T0 + 1, T0 + 2, T0 + 2, T0 + 2]
    assert len(log) == 5 and log.sent("error", "session.created") == [log.sent()[0], log.sent()[2]]
    with pytest.raises(LookupError):
        log.first("response.done")
    quiet = make(keep_log=False)
    quiet.poll(T0)
    assert len(quiet.log) == 0


def test_seeded_sessions_are_reproducible() -> None:
    def run() -> list[dict[str, Any]]:
        session = make()
        pcmu_session(session)
        append(session, speech("Good morning") + bytes([0xFF]) * 4000, T0 + 1)
        return events(session.poll(T0 + 1))

    assert run() == run()


def test_words_of_a_truncated_item() -> None:
    session = make()
    session.poll(T0)
    send(session, {"type": "response.create"})
    item_id = events(session.poll(T0))[-1]["response"]["output"][0]["id"]
    send(session, {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 1, "audio_end_ms": 0})
    assert events(session.poll(T0))[0]["error"]["param"] == "content_index"
    send(session, {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 0})
    assert kinds(session.poll(T0)) == ["conversation.item.truncated"]
    item = session.conversation.get(item_id)
    assert item is not None and item.content[0]["transcript"] == "" and item.audio_ms == 0


class FixedVoice:
    """A voice that says every text as one second of a constant sample."""

    def synthesize(self, text: str, rate: int) -> tuple[bytes, list[tuple[str, int, int]]]:
        words = text.split()
        step = 1000 // len(words)
        return b"\x10\x00" * rate, [(word, i * step, (i + 1) * step) for i, word in enumerate(words)]


def test_the_voice_is_pluggable() -> None:
    session = make(voice=FixedVoice(), delta_ms=250)
    session.poll(T0)
    send(session, {"type": "response.create"})
    sent = events(session.poll(T0))
    audio = [base64.b64decode(e["delta"]) for e in sent if e["type"] == "response.output_audio.delta"]
    assert [len(chunk) for chunk in audio] == [250 * 48] * 4 and audio[0][:2] == b"\x10\x00"
    deltas = [e["delta"] for e in sent if e["type"] == "response.output_audio_transcript.delta"]
    assert "".join(deltas) == GREETING


def test_a_barge_in_and_its_end_in_one_append_get_an_answer() -> None:
    session = make(pace=1.0)
    pcmu_session(session)
    session.poll(T0)
    send(session, {"type": "response.create"})
    session.poll(T0)
    audio = speech("Stop please") + bytes([0xFF]) * 8 * 400
    send(session, {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}, T0 + 0.05)
    sent = events(session.poll(T0 + 0.05))
    done = [e["response"] for e in sent if e["type"] == "response.done"]
    assert [r["status"] for r in done] == ["cancelled"]
    assert kinds(session.poll(T0 + 0.05)) == []
    order = [e["type"] for e in sent]
    assert (
        order.index("response.done")
        < order.index("input_audio_buffer.speech_stopped")
        < order.index("response.created")
    )
    created = [e for e in sent if e["type"] == "response.created"]
    assert len(created) == 1 and session.active_response is not None
    assert created[0]["response"]["id"] == session.active_response.id != done[0]["id"]
