"""A CallSession whose configuration arrives after the upstream was dialled (the dialplan comes with ``start``)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.call.actions import Action, Note, ReconnectUpstream, SendUpstream
from bridge.call.config import CallConfig
from bridge.call.session import CallSession
from bridge.realtime.events import (
    ConversationItemCreate,
    InputAudioBufferAppend,
    ResponseCreate,
    ResponseCreated,
    ResponseDone,
    SessionCreated,
    SessionUpdate,
    SessionUpdated,
)
from bridge.realtime.session import SessionSettings
from bridge.telephony.events import AudioReceived, CallStarted, DtmfReceived

SPEECH = bytes(range(0, 160))

SALES = CallConfig(
    session=SessionSettings(model="gpt-realtime-mini", instructions="You sell.", voice="cedar", audio_mode="pcm16"),
    dialplan="sales",
    greeting="Sales, hello.",
    idle_s=5.0,
)


def upstream(actions: list[Action]) -> list[Any]:
    return [a.event for a in actions if isinstance(a, SendUpstream)]


def notes(actions: list[Action], kind: str) -> list[dict[str, Any]]:
    return [a.data for a in actions if isinstance(a, Note) and a.kind == kind]


def created(model: str | None = None) -> SessionCreated:
    return SessionCreated({"id": "sess_1"} if model is None else {"id": "sess_1", "model": model}, event_id="e")


def test_nothing_goes_upstream_until_the_configuration_is_known_then_all_of_it_does() -> None:
    session = CallSession(None, now=0.0)
    session.upstream_opened(0.0)
    session.receive_realtime(created(), 1.0)
    session.receive_telephony(CallStarted("CA1", "MZ1", from_number="+1", to_number="+2"), 2.0)
    session.receive_telephony(AudioReceived(SPEECH), 3.0)
    session.receive_telephony(AudioReceived(SPEECH), 4.0)
    assert upstream(session.actions()) == [], "no session.update and no audio before the configuration"
    assert session.next_deadline() == 60_004.0  # CallConfig()'s idle limit after the last speech, meanwhile

    session.configure(SALES, 5.0)
    configured = session.actions()
    assert notes(configured, "session") == [{"event": "configured", "dialplan": "sales"}]
    (update,) = upstream(configured)
    assert isinstance(update, SessionUpdate)
    assert update.session["model"] == "gpt-realtime-mini"
    assert update.session["instructions"] == "You sell."
    assert update.session["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "cedar"}
    assert session.next_deadline() == 5_004.0  # the dialplan's idle limit now

    session.receive_realtime(SessionUpdated({"id": "sess_1"}, event_id="e"), 6.0)
    ready = upstream(session.actions())
    # The audio held as mu-law goes up in the configured format: 20 ms of 24 kHz PCM16 per frame.
    assert [type(e) for e in ready] == [InputAudioBufferAppend, InputAudioBufferAppend, ResponseCreate]
    assert [len(e.audio) for e in ready[:2]] == [960, 960]
    assert ready[2].response is not None and '"Sales, hello."' in ready[2].response["instructions"]


def test_a_session_dialled_with_the_default_model_waits_for_session_created_to_name_it() -> None:
    session = CallSession(None, now=0.0)
    session.configure(CallConfig(), 0.0)
    session.upstream_opened(1.0, default_model=True)
    assert upstream(session.actions()) == []
    session.receive_realtime(created("gpt-realtime"), 2.0)
    assert [type(e) for e in upstream(session.actions())] == [SessionUpdate]


def test_a_session_of_another_model_is_replaced_once_without_counting_as_a_drop() -> None:
    session = CallSession(None, now=0.0)
    session.upstream_opened(1.0, default_model=True)
    session.receive_realtime(created("gpt-realtime"), 2.0)
    session.configure(SALES, 3.0)
    redial = session.actions()
    assert upstream(redial) == []
    assert ReconnectUpstream("model") in redial
    assert {"event": "redial", "model": "gpt-realtime-mini", "upstream_model": "gpt-realtime"} in notes(
        redial, "session"
    )

    session.upstream_closed(4.0, "closed for model")
    closed = session.actions()
    assert ReconnectUpstream("model") in closed
    assert notes(closed, "error") == []
    session.upstream_opened(5.0)  # dialled with the call's model: configured at once
    assert [type(e) for e in upstream(session.actions())] == [SessionUpdate]
    # A server that reports the model under another name is not redialled again.
    session.receive_realtime(created("gpt-realtime-mini-2025"), 6.0)
    assert session.actions() == []
    session.upstream_closed(7.0, "dropped")
    assert ReconnectUpstream("retry") in session.actions(), "the retry budget is intact"


def test_key_presses_before_the_session_is_ready_reach_the_model_after_the_greeting() -> None:
    session = CallSession(None, now=0.0)
    session.receive_telephony(DtmfReceived("5"), 1.0)
    session.configure(SALES, 2.0)
    session.upstream_opened(3.0)
    session.actions()
    session.receive_realtime(SessionUpdated({"id": "sess_1"}, event_id="e"), 4.0)
    ready = upstream(session.actions())
    assert [type(e) for e in ready] == [ConversationItemCreate, ResponseCreate]
    assert ready[0].item["content"] == [{"type": "input_text", "text": "[caller pressed 5]"}]
    assert ready[1].response is not None, "the greeting comes first"
    session.receive_realtime(ResponseCreated({"id": "resp_1", "status": "in_progress"}, event_id="e"), 5.0)
    assert upstream(session.actions()) == []
    session.receive_realtime(ResponseDone({"id": "resp_1", "status": "completed", "output": []}, event_id="e"), 6.0)
    assert upstream(session.actions()) == [ResponseCreate()]


def test_without_a_greeting_a_key_press_held_for_the_session_gets_its_answer_at_once() -> None:
    session = CallSession(CallConfig(greeting=None), now=0.0)
    session.receive_telephony(DtmfReceived("7"), 1.0)
    session.upstream_opened(2.0)
    session.actions()
    session.receive_realtime(SessionUpdated({"id": "sess_1"}, event_id="e"), 3.0)
    assert [type(e) for e in upstream(session.actions())] == [ConversationItemCreate, ResponseCreate]


def test_a_session_is_configured_once() -> None:
    session = CallSession(CallConfig(), now=0.0)
    with pytest.raises(RuntimeError):
        session.configure(SALES, 1.0)
