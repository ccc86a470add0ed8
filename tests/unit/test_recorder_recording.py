"""StereoRecording: caller frames and agent playout placed on the call's timeline."""

from __future__ import annotations

import numpy as np

from bridge.audio.g711 import ulaw_to_pcm16
from bridge.call.recording import CALLER_LAG_MS, StereoRecording, stereo_pcm16, wav_size

MS = 8  # samples (mu-law bytes) per millisecond
S = 0xFF  # mu-law silence


def tone(value: int, ms: float) -> bytes:
    return bytes([value]) * round(ms * MS)


def silence(ms: float) -> bytes:
    return tone(S, ms)


def test_agent_audio_is_heard_from_when_it_was_sent_and_queued_audio_follows_back_to_back() -> None:
    rec = StereoRecording()
    rec.caller_audio(silence(400), 400.0)  # keep the caller's channel ahead so take() is agent-bound
    rec.agent_audio(tone(0x10, 100), 50.0)
    rec.agent_audio(tone(0x20, 100), 100.0)  # sent while the first still plays: it follows at 150 ms
    rec.agent_audio(tone(0x30, 20), 300.0)  # sent into silence: plays at once
    _, agent = rec.take(400.0)
    assert agent == silence(50) + tone(0x10, 100) + tone(0x20, 100) + silence(50) + tone(0x30, 20) + silence(80)


def test_clear_cuts_what_had_not_played_yet() -> None:
    rec = StereoRecording()
    rec.caller_audio(silence(500), 500.0)
    rec.agent_audio(tone(0x10, 300), 0.0)
    rec.agent_clear(120.0)
    rec.agent_audio(tone(0x20, 50), 200.0)  # later audio plays normally
    _, agent = rec.take(500.0)
    assert agent == tone(0x10, 120) + silence(80) + tone(0x20, 50) + silence(250)


def test_caller_frames_follow_the_stream_clock_and_missing_frames_become_silence() -> None:
    rec = StereoRecording()
    rec.caller_audio(tone(1, 20), 45.0, stream_ms=0)  # ends when it arrived: placed at 25..45 ms
    rec.caller_audio(tone(2, 20), 67.0, stream_ms=20)  # jitter does not move it
    rec.caller_audio(tone(3, 20), 106.0, stream_ms=60)  # the frame at 40 never came
    rec.caller_audio(tone(4, 20), 110.0, stream_ms=40)  # ...or came late: appended, never dropped
    caller, _ = rec.finish(150.0)
    assert caller == silence(25) + tone(1, 20) + tone(2, 20) + silence(20) + tone(3, 20) + tone(4, 20) + silence(25)


def test_without_a_stream_clock_arrival_time_marks_gaps_beyond_one_frame_of_jitter() -> None:
    rec = StereoRecording()
    rec.caller_audio(tone(1, 20), 20.0)
    rec.caller_audio(tone(2, 20), 55.0)  # 15 ms late: jitter, back to back
    rec.caller_audio(tone(3, 20), 140.0)  # 80 ms after the channel's end: frames went missing
    caller, _ = rec.finish(140.0)
    assert caller == tone(1, 20) + tone(2, 20) + silence(80) + tone(3, 20)


def test_take_hands_out_what_both_channels_have_decided_in_equal_lengths() -> None:
    rec = StereoRecording()
    for n in range(10):  # caller frames up to 200 ms
        rec.caller_audio(tone(n + 1, 20), 20.0 * (n + 1), stream_ms=20 * n)
    rec.agent_audio(tone(0x40, 40), 100.0)
    caller, agent = rec.take(150.0)  # the agent's channel is decided to 150 ms only
    assert len(caller) == len(agent) == 150 * MS
    assert agent == silence(100) + tone(0x40, 40) + silence(10)
    caller2, agent2 = rec.take(150.0)
    assert caller2 == agent2 == b""
    caller3, agent3 = rec.take(400.0)  # now the caller's channel (200 ms) is the shorter
    assert len(caller3) == len(agent3) == 50 * MS
    assert rec.samples == 200 * MS
    assert caller + caller3 == b"".join(tone(n + 1, 20) for n in range(10))


def test_a_stalled_caller_stream_holds_the_recording_back_only_so_long() -> None:
    rec = StereoRecording()
    rec.caller_audio(tone(1, 20), 20.0, stream_ms=0)
    rec.agent_audio(tone(0x40, 100), 0.0)
    caller, agent = rec.take(CALLER_LAG_MS + 500.0)
    assert len(caller) == len(agent) == 500 * MS  # the caller's silence is assumed from lag on
    assert caller == tone(1, 20) + silence(480)
    assert agent == tone(0x40, 100) + silence(400)


def test_finish_pads_the_shorter_channel_and_stops_recording() -> None:
    rec = StereoRecording()
    rec.caller_audio(tone(1, 20), 20.0, stream_ms=0)
    rec.agent_audio(tone(0x40, 200), 10.0)  # still playing at the end: the rest was never heard
    caller, agent = rec.finish(100.0)
    assert caller == tone(1, 20) + silence(80)
    assert agent == silence(10) + tone(0x40, 90)
    rec.caller_audio(tone(2, 20), 120.0, stream_ms=20)
    rec.agent_audio(tone(0x40, 20), 120.0)
    assert rec.take(200.0) == (b"", b"")
    assert rec.finish(200.0) == (b"", b"")
    assert rec.samples == 100 * MS


def test_stereo_pcm16_puts_the_caller_left_and_the_agent_right() -> None:
    caller = bytes([0x10, 0x20, S])
    agent = bytes([S, 0x90, 0x00])
    frames = np.frombuffer(stereo_pcm16(caller, agent), dtype="<i2").reshape(-1, 2)
    assert frames[:, 0].tobytes() == ulaw_to_pcm16(caller)
    assert frames[:, 1].tobytes() == ulaw_to_pcm16(agent)
    assert wav_size(3) == 44 + 12


def test_a_late_first_frame_does_not_shift_the_caller_channel() -> None:
    rec = StereoRecording()
    rec.caller_audio(tone(1, 20), 60.0, stream_ms=0)  # 15 ms late: a busy start
    rec.caller_audio(tone(2, 20), 65.0, stream_ms=20)  # on time: frame 0 belongs at 25..45 ms
    rec.caller_audio(tone(3, 20), 84.0, stream_ms=40)  # early by 1 ms: re-anchored again
    caller, _ = rec.take(1000.0)
    assert caller == silence(24) + tone(1, 20) + tone(2, 20) + tone(3, 20)
    rec.caller_audio(tone(4, 20), 90.0, stream_ms=60)  # early again, but after the first take the anchor stays
    caller, _ = rec.finish(1000.0)
    assert caller == tone(4, 20) + silence(896)
