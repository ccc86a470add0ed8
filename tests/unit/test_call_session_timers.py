"""CallSession timers as a runner sees them: no busy loop on a blocked timer, renewal at a truly quiet moment."""

from __future__ import annotations

from bridge.call.actions import ReconnectUpstream
from bridge.call.config import CallConfig
from bridge.realtime.events import (
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    ResponseCreated,
    SessionUpdated,
)
from bridge.realtime.session import SessionSettings
from tests.unit.test_call_session import Harness

# Renewal is due at 8 s and waits for a quiet moment; from 15 s (5 s before the end) it is forced.
RENEWING = CallConfig(upstream_session_s=20, renew_margin_s=12)


def test_a_due_timer_blocked_by_a_condition_is_looked_at_again_shortly_not_at_once() -> None:
    h = Harness(RENEWING)
    h.start()
    assert h.session.next_deadline() == 8000
    h.at(7900).response("item_a", 1)  # the agent is talking when renewal comes due
    h.session.tick(8000)
    assert ReconnectUpstream("renew") not in h.drain()
    # A runner sleeping until next_deadline() must not wake again at once (it would spin while blocked).
    assert h.session.next_deadline() == 8020
    h.session.tick(8020)
    assert h.session.next_deadline() == 8040


def test_renewal_waits_for_the_servers_reply_to_a_finished_turn() -> None:
    h = Harness(RENEWING)
    h.start()
    h.at(7000).rt(InputAudioBufferSpeechStarted(0, "item_u", event_id="e"))
    h.at(7800).rt(InputAudioBufferSpeechStopped(800, "item_u", event_id="e"))
    h.session.tick(8000)
    assert ReconnectUpstream("renew") not in h.drain(), "the server is about to answer this turn"
    h.at(8010).rt(ResponseCreated({"id": "resp_r", "status": "in_progress", "output": []}, event_id="e"))
    h.at(8050).done("resp_r")
    h.session.tick(8060)
    assert ReconnectUpstream("renew") in h.drain()


def test_without_automatic_responses_a_finished_turn_does_not_hold_renewal() -> None:
    detection = {"type": "server_vad", "create_response": False, "interrupt_response": True}
    h = Harness(CallConfig(session=SessionSettings(turn_detection=detection), upstream_session_s=20, renew_margin_s=12))
    h.start()
    h.at(7000).rt(InputAudioBufferSpeechStarted(0, "item_u", event_id="e"))
    h.at(7800).rt(InputAudioBufferSpeechStopped(800, "item_u", event_id="e"))
    h.session.tick(8000)
    assert ReconnectUpstream("renew") in h.drain()


def test_a_forced_renewal_does_not_leave_a_reply_pending_on_the_new_session() -> None:
    h = Harness(RENEWING)
    h.start()
    h.at(14000).rt(InputAudioBufferSpeechStarted(0, "item_u", event_id="e"))
    h.at(14900).rt(InputAudioBufferSpeechStopped(900, "item_u", event_id="e"))
    h.session.tick(15000)  # the last 5 s: renewal is forced, reply or not
    assert ReconnectUpstream("renew") in h.drain()
    h.session.upstream_closed(15001, "closed for renewal")
    h.session.upstream_opened(15010)
    h.at(15020).rt(SessionUpdated({"id": "sess_2"}, event_id="e"))
    h.drain()
    h.session.tick(15010 + 8000)  # the new session's renewal, at a quiet moment
    assert ReconnectUpstream("renew") in h.drain()
