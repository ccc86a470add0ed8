from __future__ import annotations

from bridge.call.actions import SendUpstream
from bridge.call.outbox import Outbox
from bridge.call.uplink import Uplink
from bridge.realtime.events import InputAudioBufferAppend


def sent(out: Outbox) -> list[bytes]:
    audio = []
    for action in out.drain():
        assert isinstance(action, SendUpstream) and isinstance(action.event, InputAudioBufferAppend)
        audio.append(action.event.audio)
    return audio


def frame(n: int) -> bytes:
    return bytes([n]) * 160  # 20 ms of mu-law


def test_audio_is_held_until_ready_keeping_the_newest_then_sent_in_order() -> None:
    out = Outbox(started_at=0.0)
    uplink = Uplink(out, pcm16=False, max_held_ms=40)
    for n in range(1, 5):
        uplink.caller_audio(frame(n), b"", float(n), ready=False)
    assert out.drain() == []
    uplink.flush(10.0)
    assert sent(out) == [frame(3), frame(4)]
    uplink.caller_audio(frame(5), b"", 11.0, ready=True)
    assert sent(out) == [frame(5)]
    uplink.flush(12.0)
    assert out.drain() == []


def test_pcm16_mode_sends_24_khz_pcm() -> None:
    out = Outbox(started_at=0.0)
    uplink = Uplink(out, pcm16=True, max_held_ms=1000)
    uplink.caller_audio(frame(0xFF), bytes(320), 0.0, ready=True)
    assert sent(out) == [bytes(960)]


def test_input_positions_map_back_to_the_time_they_were_forwarded() -> None:
    out = Outbox(started_at=0.0)
    uplink = Uplink(out, pcm16=False, max_held_ms=1000)
    for at in (100.0, 120.0, 140.0):
        uplink.caller_audio(frame(1), b"", at, ready=True)
    assert uplink.time_of(50, now=999.0) == 130.0  # input reached 40 ms at 120; 50 ms is 10 ms later
    assert uplink.time_of(10, now=999.0) == 999.0  # before anything was clocked: unknown
    uplink.new_session()
    assert uplink.time_of(50, now=500.0) == 500.0
