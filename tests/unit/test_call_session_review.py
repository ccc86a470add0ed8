"""CallSession: one response at a time from the create on, readiness, heard text and reconnects."""

from __future__ import annotations

from typing import Any

from bridge.call.actions import EndCall, ReconnectUpstream
from bridge.call.config import CallConfig
from bridge.call.tooling import ALREADY_ACTIVE, say_exactly
from bridge.call.transcript import heard_words
from bridge.realtime.events import (
    ConversationItemCreate,
    ErrorEvent,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    ResponseCreate,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDone,
    SessionCreated,
    SessionUpdate,
    SessionUpdated,
)
from bridge.realtime.session import SessionSettings
from bridge.telephony.events import CallStarted, DtmfReceived, HangUp, MarkPlayed
from bridge.tools.base import ToolResult
from tests.unit.test_call_session import Harness, to_caller, upstream

GOODBYE = CallConfig().idle_goodbye
SERVER_VAD = CallConfig(
    session=SessionSettings(turn_detection={"type": "server_vad", "create_response": True, "interrupt_response": True})
)


def rejected() -> ErrorEvent:
    return ErrorEvent(
        type="invalid_request_error",
        code=ALREADY_ACTIVE,
        message="Conversation already has an active response in progress",
        param=None,
        client_event_id=None,
        event_id="e",
    )


def creates(actions: list[Any]) -> list[ResponseCreate]:
    return [e for e in upstream(actions) if isinstance(e, ResponseCreate)]


def test_a_key_press_while_the_greeting_is_on_its_way_waits_for_it() -> None:
    h = Harness(CallConfig(greeting="Hi"))
    assert creates(h.start()) == [say_exactly("Hi")]
    out = h.at(50).tel(DtmfReceived("1"))  # before response.created
    assert [type(e) for e in upstream(out)] == [ConversationItemCreate]
    rid, _ = h.at(100).response("item_hi", 1)
    assert creates(h.done(rid)) == [ResponseCreate()]


def test_a_second_key_press_before_response_created_is_answered_after_the_first() -> None:
    h = Harness()
    h.start()
    assert creates(h.at(100).tel(DtmfReceived("1"))) == [ResponseCreate()]
    assert creates(h.at(200).tel(DtmfReceived("2"))) == []
    h.at(300).rt(ResponseCreated({"id": "r1", "status": "in_progress"}, event_id="e"))
    # The server took the create before the second key press: that one gets its own answer afterwards.
    assert creates(h.done("r1")) == [ResponseCreate()]


def test_a_goodbye_asked_for_while_a_tool_answer_is_on_its_way_is_said_after_it() -> None:
    h = Harness()
    h.start()
    rid, _ = h.response("item_q", 0)
    h.rt(ResponseFunctionCallArgumentsDone(rid, "i", 0, "call_1", "lookup", "{}", event_id="e"))
    h.done(rid)
    h.session.tool_results([ToolResult("call_1", "lookup", "{}", "{}", "ok", 0, 1)], 10)
    assert creates(h.drain()) == [ResponseCreate()]
    h.session.tick(61_000)  # idle: the goodbye must not be a second response.create
    assert creates(h.drain()) == []
    answer, answer_marks = h.at(61_100).response("item_answer", 1)
    assert creates(h.done(answer)) == [say_exactly(GOODBYE)]
    h.at(61_200).tel(MarkPlayed(answer_marks[0]))
    assert not any(isinstance(a, EndCall) for a in h.log), "the tool answer was taken for the goodbye"
    bye, bye_marks = h.at(61_300).response("item_bye", 1)
    h.done(bye)
    out = h.at(61_400).tel(MarkPlayed(bye_marks[0]))
    assert HangUp("idle_timeout") in to_caller(out)


def test_a_rejected_goodbye_is_said_after_the_response_that_got_in_first() -> None:
    h = Harness()
    h.start()
    h.session.tick(61_000)
    assert creates(h.drain()) == [say_exactly(GOODBYE)]
    h.at(61_050).rt(ResponseCreated({"id": "r_turn", "status": "in_progress"}, event_id="e"))  # the server's own
    h.rt(rejected())
    assert creates(h.at(61_100).done("r_turn")) == [say_exactly(GOODBYE)]
    bye, bye_marks = h.at(61_200).response("item_bye", 1)
    h.done(bye)
    out = h.at(61_300).tel(MarkPlayed(bye_marks[0]))
    assert HangUp("idle_timeout") in to_caller(out)


def test_a_rejected_response_create_is_sent_again_after_the_active_response() -> None:
    h = Harness()
    h.start()
    assert creates(h.tel(DtmfReceived("1"))) == [ResponseCreate()]
    h.at(10).rt(ResponseCreated({"id": "r_turn", "status": "in_progress"}, event_id="e"))
    h.rt(rejected())
    assert creates(h.at(20).done("r_turn")) == [ResponseCreate()]


def test_after_a_turn_detected_cancel_the_servers_answer_to_the_turn_replaces_a_wanted_response() -> None:
    h = Harness(SERVER_VAD)
    h.start()
    rid, _ = h.response("item_a", 2)
    assert creates(h.at(10).tel(DtmfReceived("1"))) == []  # wanted after the active response
    h.at(20).rt(InputAudioBufferSpeechStarted(20, "item_u", event_id="e"))
    cancelled = {"id": rid, "status": "cancelled", "status_details": {"reason": "turn_detected"}, "output": []}
    assert creates(h.at(30).rt(ResponseDone(cancelled, event_id="e"))) == [], "the caller is still talking"
    assert creates(h.at(40).tel(DtmfReceived("2"))) == []
    h.at(500).rt(InputAudioBufferSpeechStopped(500, "item_u", event_id="e"))
    turn, _ = h.at(600).response("item_b", 1)
    assert creates(h.done(turn)) == [], "the turn's answer came after the key presses: it answered them"
    assert creates(h.at(700).tel(DtmfReceived("3"))) == [ResponseCreate()]


def test_a_new_upstream_session_has_no_response_on_its_way() -> None:
    h = Harness()
    h.start()
    assert creates(h.tel(DtmfReceived("1"))) == [ResponseCreate()]
    h.session.upstream_closed(100, "connection lost")
    h.session.upstream_opened(200)
    h.session.receive_realtime(SessionUpdated({"id": "s2"}, event_id="e"), 300)
    h.drain()
    assert creates(h.at(400).tel(DtmfReceived("2"))) == [ResponseCreate()]


def opened(h: Harness) -> None:
    h.session.receive_telephony(CallStarted("CA1", "MZ1"), 0)
    h.session.upstream_opened(0)
    h.session.receive_realtime(SessionCreated({"id": "s"}, event_id="e"), 0)
    assert any(isinstance(e, SessionUpdate) for e in upstream(h.drain()))


def test_a_session_update_never_confirmed_ends_the_call() -> None:
    h = Harness()
    opened(h)
    assert h.session.next_deadline() == 10_000
    h.session.tick(9_999)
    assert not h.session.ended
    h.session.tick(10_000)
    assert EndCall("upstream_unavailable") in h.drain()


def test_an_error_before_the_session_is_ready_ends_the_call_with_its_code() -> None:
    h = Harness()
    opened(h)
    error = ErrorEvent(
        "invalid_request_error", "invalid_value", "bad voice", "session.audio.output.voice", None, event_id="e"
    )
    assert EndCall("upstream_rejected:invalid_value") in h.at(100).rt(error)


def test_an_error_once_the_session_is_ready_does_not_end_the_call() -> None:
    h = Harness()
    h.start()
    error = ErrorEvent("invalid_request_error", "response_cancel_not_active", "no response", None, None, event_id="e")
    h.at(100).rt(error)
    assert not h.session.ended


def test_what_the_caller_heard_is_worked_out_when_the_transcript_comes_after_the_cut() -> None:
    h = Harness()
    h.start()
    h.rt(ResponseCreated({"id": "r1", "status": "in_progress"}, event_id="e"))
    for _ in range(10):  # one second of audio, generated at once
        h.rt(ResponseOutputAudioDelta("r1", "A", 0, 0, b"\x55" * 800, event_id="e"))
    h.at(500).rt(InputAudioBufferSpeechStarted(500, "u1", event_id="e"))
    text = "one two three four five six"
    h.at(510).rt(ResponseOutputAudioTranscriptDone("r1", "A", 0, 0, text, event_id="e"))
    seg = h.session.transcript.get("A")
    assert seg is not None and seg.cut and seg.heard_ms is not None
    assert seg.heard_text == heard_words(text, seg.heard_ms, 1000) != ""


def test_what_the_caller_heard_is_worked_out_from_the_response_done_transcript() -> None:
    h = Harness()
    h.start()
    h.rt(ResponseCreated({"id": "r1", "status": "in_progress"}, event_id="e"))
    for _ in range(10):
        h.rt(ResponseOutputAudioDelta("r1", "A", 0, 0, b"\x55" * 800, event_id="e"))
    h.at(500).rt(InputAudioBufferSpeechStarted(500, "u1", event_id="e"))
    text = "one two three four five six"
    content = [{"type": "output_audio", "transcript": text}]
    item = {"id": "A", "type": "message", "role": "assistant", "content": content}
    h.at(520).rt(ResponseDone({"id": "r1", "status": "cancelled", "output": [item]}, event_id="e"))
    seg = h.session.transcript.get("A")
    assert seg is not None and seg.heard_ms is not None
    assert seg.heard_text == heard_words(text, seg.heard_ms, 1000) != ""
    assert h.session.transcript.summary() == f"Agent: {seg.heard_text}"


def test_a_failed_reconnect_at_renewal_uses_a_retry() -> None:
    h = Harness(CallConfig(upstream_session_s=60, renew_margin_s=10, idle_s=1000))
    h.start()
    h.session.tick(50_000)
    assert ReconnectUpstream("renew") in h.drain()
    h.session.upstream_closed(50_000, "closed for renew")
    assert ReconnectUpstream("renew") in h.drain()
    h.session.upstream_failed(50_100, "cannot connect: HTTP 503")
    out = h.drain()
    assert ReconnectUpstream("retry") in out and not h.session.ended
    h.session.upstream_failed(51_000, "cannot connect: HTTP 503")
    assert EndCall("upstream_unavailable") in h.drain()
