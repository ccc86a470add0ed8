from __future__ import annotations

from typing import Any

from bridge.call.actions import Action, EndCall, Note, ReconnectUpstream, RunTools, SendToCaller, SendUpstream
from bridge.call.config import CallConfig
from bridge.call.session import CallSession
from bridge.realtime.events import (
    ConversationItemCreate,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    ResponseCancel,
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
from bridge.telephony.events import (
    AudioReceived,
    CallStarted,
    CallStopped,
    ClearPlayback,
    DtmfReceived,
    HangUp,
    MarkPlayed,
    PlayAudio,
    SetMark,
    Transfer,
)
from bridge.tools.base import HangupEffect, SendDtmfEffect, ToolResult, TransferEffect, WaitEffect

SILENCE = b"\xff" * 160
SPEECH = bytes(range(0, 160))  # loud mu-law codes


class Harness:
    """Drives one CallSession through a scripted call, collecting its actions."""

    def __init__(self, config: CallConfig | None = None) -> None:
        self.now = 0.0
        self.session = CallSession(config or CallConfig(), now=self.now)
        self.log: list[Action] = []
        self.resp = 0

    def drain(self) -> list[Action]:
        out = self.session.actions()
        self.log.extend(out)
        return out

    def at(self, now: float) -> Harness:
        self.now = now
        return self

    def start(self) -> list[Action]:
        self.session.receive_telephony(CallStarted("CA1", "MZ1", from_number="+1", to_number="+2"), self.now)
        self.session.upstream_opened(self.now)
        self.session.receive_realtime(SessionCreated({"id": "sess_1"}, event_id="e"), self.now)
        self.session.receive_realtime(SessionUpdated({"id": "sess_1"}, event_id="e"), self.now)
        return self.drain()

    def rt(self, event: Any) -> list[Action]:
        self.session.receive_realtime(event, self.now)
        return self.drain()

    def tel(self, event: Any) -> list[Action]:
        self.session.receive_telephony(event, self.now)
        return self.drain()

    def response(self, item_id: str, chunks: int, chunk_bytes: int = 800) -> tuple[str, list[str]]:
        """A whole audio response: created, deltas, done. Returns (response id, mark names)."""
        self.resp += 1
        rid = f"resp_{self.resp}"
        self.rt(ResponseCreated({"id": rid, "status": "in_progress", "output": []}, event_id="e"))
        marks = []
        for _ in range(chunks):
            out = self.rt(ResponseOutputAudioDelta(rid, item_id, 0, 0, b"\x55" * chunk_bytes, event_id="e"))
            marks += [a.command.name for a in out if isinstance(a, SendToCaller) and isinstance(a.command, SetMark)]
        return rid, marks

    def done(self, rid: str, status: str = "completed", output: list[dict[str, Any]] | None = None) -> list[Action]:
        return self.rt(ResponseDone({"id": rid, "status": status, "output": output or []}, event_id="e"))


def upstream(actions: list[Action]) -> list[Any]:
    return [a.event for a in actions if isinstance(a, SendUpstream)]


def to_caller(actions: list[Action]) -> list[Any]:
    return [a.command for a in actions if isinstance(a, SendToCaller)]


def test_session_update_then_greeting_after_session_updated() -> None:
    h = Harness(CallConfig(greeting="Thanks for calling Acme."))
    h.session.receive_telephony(CallStarted("CA1", "MZ1"), 0)
    h.session.upstream_opened(0)
    first = upstream(h.drain())
    assert isinstance(first[0], SessionUpdate)
    assert first[0].session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    h.rt(SessionCreated({"id": "s"}, event_id="e"))
    greeting = upstream(h.rt(SessionUpdated({"id": "s"}, event_id="e")))
    assert len(greeting) == 1 and isinstance(greeting[0], ResponseCreate)
    assert greeting[0].response is not None
    assert '"Thanks for calling Acme."' in greeting[0].response["instructions"]


def test_passthrough_forwards_caller_bytes_untouched() -> None:
    h = Harness()
    h.start()
    events = upstream(h.tel(AudioReceived(SPEECH, 0)))
    assert events == [InputAudioBufferAppend(audio=SPEECH)]


def test_caller_audio_before_session_ready_is_held_then_flushed_in_order() -> None:
    h = Harness()
    h.session.upstream_opened(0)
    h.drain()
    assert upstream(h.tel(AudioReceived(b"\x01" * 160))) == []
    assert upstream(h.tel(AudioReceived(b"\x02" * 160))) == []
    flushed = upstream(h.rt(SessionUpdated({"id": "s"}, event_id="e")))
    assert [e.audio[:1] for e in flushed] == [b"\x01", b"\x02"]


def test_pcm16_mode_resamples_both_ways() -> None:
    h = Harness(CallConfig(session=SessionSettings(audio_mode="pcm16")))
    h.start()
    up = upstream(h.tel(AudioReceived(SILENCE)))
    assert len(up) == 1 and len(up[0].audio) == 160 * 3 * 2  # 20 ms of 24 kHz PCM16
    h.rt(ResponseCreated({"id": "r", "status": "in_progress"}, event_id="e"))
    out = to_caller(h.rt(ResponseOutputAudioDelta("r", "item_a", 0, 0, b"\x00\x00" * 2400, event_id="e")))
    plays = [c for c in out if isinstance(c, PlayAudio)]
    assert plays and sum(len(p.payload) for p in plays) <= 800
    assert sum(len(p.payload) for p in plays) >= 800 - 8  # the filter delay holds back at most 1 ms


def test_agent_audio_goes_out_with_one_mark_per_delta() -> None:
    h = Harness()
    h.start()
    _, marks = h.response("item_a", 3)
    assert len(marks) == 3
    plays = [c for c in to_caller(h.log) if isinstance(c, PlayAudio)]
    assert [len(p.payload) for p in plays] == [800, 800, 800]


MANUAL_INTERRUPT = CallConfig(
    session=SessionSettings(turn_detection={"type": "server_vad", "interrupt_response": False})
)


def test_barge_in_clears_truncates_the_heard_item_and_cancels_active_response() -> None:
    h = Harness(MANUAL_INTERRUPT)
    h.start()
    rid, marks = h.response("item_a", 3)  # 300 ms, response still active
    h.at(100).tel(MarkPlayed(marks[0]))
    out = h.at(160).rt(InputAudioBufferSpeechStarted(0, "item_user", event_id="e"))
    commands = to_caller(out)
    events = upstream(out)
    assert commands == [ClearPlayback()]
    assert events == [ConversationItemTruncate(item_id="item_a", content_index=0, audio_end_ms=160), ResponseCancel()]
    assert out.index(next(a for a in out if isinstance(a, SendToCaller))) < out.index(
        next(a for a in out if isinstance(a, SendUpstream))
    ), "clear goes out before anything else"
    # Late deltas of the cut response are dropped.
    assert to_caller(h.rt(ResponseOutputAudioDelta(rid, "item_a", 0, 0, b"\x55" * 800, event_id="e"))) == []
    assert h.session.barge_ins == 1


def test_barge_in_after_response_done_sends_no_cancel() -> None:
    h = Harness()
    h.start()
    rid, marks = h.response("item_a", 2)
    h.done(rid)
    out = h.at(50).rt(InputAudioBufferSpeechStarted(0, "item_user", event_id="e"))
    assert upstream(out) == [ConversationItemTruncate(item_id="item_a", content_index=0, audio_end_ms=50)]


def test_speech_with_nothing_unheard_sends_nothing() -> None:
    h = Harness()
    h.start()
    rid, marks = h.response("item_a", 1)
    h.done(rid)
    h.at(100).tel(MarkPlayed(marks[0]))
    out = h.at(150).rt(InputAudioBufferSpeechStarted(0, "item_user", event_id="e"))
    assert upstream(out) == [] and to_caller(out) == []


def test_queued_replies_truncate_the_second_item() -> None:
    h = Harness()
    h.start()
    r1, m1 = h.response("item_a", 2)
    h.done(r1)
    r2, m2 = h.response("item_b", 3)
    for i, mark in enumerate(m1 + m2[:1]):
        h.at(100 * (i + 1)).tel(MarkPlayed(mark))
    out = h.at(300 + 40).rt(InputAudioBufferSpeechStarted(0, "u", event_id="e"))
    truncates = [e for e in upstream(out) if isinstance(e, ConversationItemTruncate)]
    assert truncates == [ConversationItemTruncate(item_id="item_b", content_index=0, audio_end_ms=140)]


def test_barge_in_off_keeps_playing() -> None:
    h = Harness(CallConfig(barge_in=False))
    h.start()
    h.response("item_a", 3)
    out = h.at(50).rt(InputAudioBufferSpeechStarted(0, "u", event_id="e"))
    assert to_caller(out) == [] and upstream(out) == []


def test_transcript_marks_what_the_caller_heard() -> None:
    h = Harness()
    h.start()
    rid, marks = h.response("item_a", 4)  # 400 ms
    h.rt(ResponseOutputAudioTranscriptDone(rid, "item_a", 0, 0, "one two three four", event_id="e"))
    h.at(100).tel(MarkPlayed(marks[0]))
    h.at(200).rt(InputAudioBufferSpeechStarted(0, "u", event_id="e"))
    seg = h.session.transcript.get("item_a")
    assert seg is not None and seg.cut
    assert seg.text == "one two three four"
    assert seg.heard_text == "one two"


def test_latency_note_from_end_of_caller_speech_to_first_agent_audio() -> None:
    h = Harness()
    h.start()
    for i in range(10):  # 200 ms of caller audio forwarded at 20 ms steps
        h.at(i * 20).tel(AudioReceived(SPEECH))
    h.at(700).rt(InputAudioBufferSpeechStopped(200, "u", event_id="e"))
    h.at(900)
    h.response("item_a", 1)
    latency = [n for n in h.log if isinstance(n, Note) and n.kind == "latency"]
    assert latency and latency[0].data["ms"] == 900 - 180


def test_function_calls_run_after_response_done_and_answer_together() -> None:
    h = Harness()
    h.start()
    h.rt(ResponseCreated({"id": "r1", "status": "in_progress"}, event_id="e"))
    h.rt(ResponseFunctionCallArgumentsDone("r1", "i1", 0, "call_1", "lookup", '{"id": 1}', event_id="e"))
    h.rt(ResponseFunctionCallArgumentsDone("r1", "i2", 1, "call_2", "hours", "{}", event_id="e"))
    out = h.done("r1")
    runs = [a for a in out if isinstance(a, RunTools)]
    assert len(runs) == 1 and [c.call_id for c in runs[0].calls] == ["call_1", "call_2"]
    results = [
        ToolResult("call_1", "lookup", '{"id": 1}', '{"ok":true}', "ok", 0, 5),
        ToolResult("call_2", "hours", "{}", '"9 to 5"', "ok", 0, 1),
    ]
    h.session.tool_results(results, 10)
    events = upstream(h.drain())
    assert events == [
        ConversationItemCreate(item={"type": "function_call_output", "call_id": "call_1", "output": '{"ok":true}'}),
        ConversationItemCreate(item={"type": "function_call_output", "call_id": "call_2", "output": '"9 to 5"'}),
        ResponseCreate(),
    ]


def test_tool_answer_waits_for_active_response() -> None:
    h = Harness()
    h.start()
    h.rt(ResponseCreated({"id": "r1", "status": "in_progress"}, event_id="e"))
    h.rt(ResponseFunctionCallArgumentsDone("r1", "i1", 0, "call_1", "lookup", "{}", event_id="e"))
    h.done("r1")
    h.rt(ResponseCreated({"id": "r2", "status": "in_progress"}, event_id="e"))  # the caller spoke meanwhile
    h.session.tool_results([ToolResult("call_1", "lookup", "{}", "{}", "ok", 0, 1)], 5)
    assert [type(e) for e in upstream(h.drain())] == [ConversationItemCreate]
    assert upstream(h.done("r2")) == [ResponseCreate()]


def test_beta_function_call_name_comes_from_the_output_item() -> None:
    h = Harness()
    h.start()
    h.rt(ResponseCreated({"id": "r1", "status": "in_progress"}, event_id="e"))
    h.rt(ResponseFunctionCallArgumentsDone("r1", "i1", 0, "call_1", None, "{}", event_id="e"))
    item = {"type": "function_call", "id": "i1", "call_id": "call_1", "name": "hours", "arguments": "{}"}
    out = h.done("r1", output=[item])
    runs = [a for a in out if isinstance(a, RunTools)]
    assert runs[0].calls[0].name == "hours"


def test_hangup_effect_waits_until_goodbye_is_heard() -> None:
    h = Harness()
    h.start()
    rid, marks = h.response("item_bye", 2)
    h.rt(ResponseFunctionCallArgumentsDone(rid, "i", 1, "call_1", "end_call", "{}", event_id="e"))
    h.done(rid)
    h.session.tool_results([ToolResult("call_1", "end_call", "{}", "{}", "ok", 0, 0, (HangupEffect(),))], 10)
    out = h.drain()
    assert not any(isinstance(a, EndCall) for a in out)
    assert not any(isinstance(e, ResponseCreate) for e in upstream(out))
    h.at(100).tel(MarkPlayed(marks[0]))
    assert not any(isinstance(a, EndCall) for a in h.log)
    out = h.at(200).tel(MarkPlayed(marks[1]))
    assert HangUp("agent_hangup") in to_caller(out)
    assert EndCall("agent_hangup") in out


def test_transfer_says_then_transfers_unless_interrupted() -> None:
    h = Harness()
    h.start()
    h.session.tool_results(
        [ToolResult("call_1", "transfer", "{}", "{}", "ok", 0, 0, (TransferEffect("+15557654321", "One moment."),))], 0
    )
    say = upstream(h.drain())
    assert isinstance(say[-1], ResponseCreate) and "One moment." in say[-1].response["instructions"]  # type: ignore[index]
    rid, marks = h.response("item_say", 2)
    h.done(rid)
    out = h.at(50).rt(InputAudioBufferSpeechStarted(0, "u", event_id="e"))
    assert ClearPlayback() in to_caller(out)
    assert any(isinstance(n, Note) and n.data.get("event") == "transfer_cancelled" for n in out)
    assert not any(isinstance(c, Transfer) for c in to_caller(h.log))


def test_transfer_after_say_heard() -> None:
    h = Harness()
    h.start()
    h.session.tool_results(
        [ToolResult("call_1", "transfer", "{}", "{}", "ok", 0, 0, (TransferEffect("+15557654321", "Bye."),))], 0
    )
    h.drain()
    rid, marks = h.response("item_say", 1)
    h.done(rid)
    out = h.at(100).tel(MarkPlayed(marks[0]))
    assert Transfer("+15557654321") in to_caller(out)
    assert EndCall("transfer") in out


def test_send_dtmf_plays_tones_and_wait_holds_the_next_response() -> None:
    h = Harness()
    h.start()
    effects = (SendDtmfEffect("12"), WaitEffect(2.0))
    h.session.tool_results([ToolResult("c", "press", "{}", "{}", "ok", 0, 0, effects)], 0)
    out = h.drain()
    plays = [c for c in to_caller(out) if isinstance(c, PlayAudio)]
    assert len(plays) == 1 and len(plays[0].payload) == 2 * (800 + 480)
    assert not any(isinstance(e, ResponseCreate) for e in upstream(out))
    assert h.session.next_deadline() == 2000
    h.session.tick(2000)
    assert upstream(h.drain()) == [ResponseCreate()]


def test_dtmf_goes_to_model_as_text_or_to_mapped_tool() -> None:
    h = Harness(CallConfig(dtmf_tools={"0": "transfer_to_human"}))
    h.start()
    events = upstream(h.tel(DtmfReceived("5")))
    assert events[0] == ConversationItemCreate(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[caller pressed 5]"}]}
    )
    assert events[1] == ResponseCreate()
    out = h.tel(DtmfReceived("0"))
    runs = [a for a in out if isinstance(a, RunTools)]
    assert runs[0].calls[0].name == "transfer_to_human" and runs[0].calls[0].source == "dtmf"


def test_idle_timeout_says_goodbye_then_hangs_up() -> None:
    h = Harness(CallConfig(idle_s=10))
    h.start()
    h.tel(AudioReceived(SILENCE))
    assert h.session.next_deadline() == 10_000
    h.session.tick(10_000)
    out = h.drain()
    assert "no longer there" in upstream(out)[0].response["instructions"]
    rid, marks = h.at(10_100).response("item_bye", 1)
    h.done(rid)
    out = h.at(10_300).tel(MarkPlayed(marks[0]))
    assert EndCall("idle_timeout") in out


def test_max_duration_hard_stop_after_grace() -> None:
    h = Harness(CallConfig(max_call_s=60, idle_s=1000, goodbye_grace_s=5))
    h.start()
    h.session.tick(60_000)
    h.drain()
    h.session.tick(65_000)
    out = h.drain()
    assert HangUp("max_duration") in to_caller(out)
    assert EndCall("max_duration") in out


def test_upstream_drop_retries_once_then_ends() -> None:
    h = Harness()
    h.start()
    h.session.upstream_closed(1000, "connection lost")
    assert ReconnectUpstream("retry") in h.drain()
    h.session.upstream_opened(1200)
    h.drain()
    h.session.receive_realtime(SessionUpdated({"id": "s2"}, event_id="e"), 1300)
    h.drain()
    h.session.upstream_closed(5000, "lost again")
    assert ReconnectUpstream("retry") in h.drain(), "a session that came back earns a new retry"
    h.session.tick(7000)
    assert EndCall("upstream_lost") in h.drain()


def test_renewal_at_quiet_point_carries_the_conversation() -> None:
    h = Harness(CallConfig(upstream_session_s=10, renew_margin_s=2))
    h.start()
    h.session.receive_realtime(ResponseOutputAudioTranscriptDone("r", "item_a", 0, 0, "Hello there", event_id="e"), 100)
    h.session.transcript.segment("agent", "item_a", 100)
    h.session.tick(8000)
    assert ReconnectUpstream("renew") in h.drain()
    h.session.upstream_closed(8001, "closed for renewal")
    assert ReconnectUpstream("renew") in h.drain()
    h.session.upstream_opened(8100)
    update = upstream(h.drain())[0]
    assert isinstance(update, SessionUpdate)
    assert "Agent: Hello there" in update.session["instructions"]
    assert "do not greet" in update.session["instructions"]


def test_caller_hangup_ends_call() -> None:
    h = Harness()
    h.start()
    assert EndCall("caller_hangup") in h.tel(CallStopped())
    assert h.session.ended
    assert h.tel(AudioReceived(SPEECH)) == []


def test_barge_in_leaves_cancelling_to_the_server_when_it_interrupts() -> None:
    h = Harness()  # default turn detection: interrupt_response true
    h.start()
    rid, marks = h.response("item_a", 3)
    out = h.at(50).rt(InputAudioBufferSpeechStarted(0, "item_user", event_id="e"))
    assert upstream(out) == [ConversationItemTruncate(item_id="item_a", content_index=0, audio_end_ms=50)]
    # The cut response's late deltas are still dropped.
    assert to_caller(h.rt(ResponseOutputAudioDelta(rid, "item_a", 0, 0, b"\x55" * 800, event_id="e"))) == []
