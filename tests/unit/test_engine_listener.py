"""The input audio buffer: turns, the idle timeout and commits, in audio time."""

from __future__ import annotations

from bridge.engine.formats import PCM, PCMU
from bridge.engine.listener import IdleTimeout, InputAudio, TurnEnded, TurnStarted
from bridge.engine.sessionconfig import TurnDetection
from bridge.engine.voice import SpeechVoice

VAD = TurnDetection(prefix_padding_ms=300, silence_duration_ms=300, idle_timeout_ms=2000)
SILENCE = bytes([0xFF])


def test_a_turn_carries_its_audio_with_the_prefix() -> None:
    speech = PCMU.encode(SpeechVoice().synthesize("Hello there", 8000)[0])
    listener = InputAudio(PCMU, VAD)
    events = listener.append(SILENCE * 8 * 1000 + speech + SILENCE * 8 * 500)
    started, ended = events
    assert isinstance(started, TurnStarted) and isinstance(ended, TurnEnded)
    assert started.audio_start_ms == ended.audio_start_ms == 700
    assert len(ended.audio) == (ended.audio_end_ms - 700) * 8
    assert listener.buffered_ms == 1000 + 715 + 500 - ended.audio_end_ms
    assert listener.take_all() == SILENCE * int(listener.position_ms - ended.audio_end_ms) * 8
    assert listener.buffered_ms == 0


def test_the_idle_timeout_counts_audio_after_the_agents_playback() -> None:
    listener = InputAudio(PCMU, VAD)
    listener.append(SILENCE * 8 * 100)
    listener.arm_idle(playback_ms=1500)
    assert listener.append(SILENCE * 8 * 3499) == []
    assert listener.append(SILENCE * 8) == [IdleTimeout(1600, 3600, SILENCE * 8 * 2000)]
    assert listener.append(SILENCE * 8 * 5000) == []  # fires once per arming


def test_no_idle_timeout_without_vad_or_setting() -> None:
    for detection in (None, TurnDetection()):
        listener = InputAudio(PCMU, detection)
        listener.arm_idle(0)
        assert listener.append(SILENCE * 8 * 60_000) == []


def test_a_new_format_empties_the_buffer() -> None:
    listener = InputAudio(PCMU, None)
    listener.append(SILENCE * 800)
    listener.reconfigure(PCM, None)
    assert listener.buffered_ms == 0 and listener.position_ms == 100
    listener.append(bytes(4801))  # odd bytes: half a sample waits for the next append
    assert listener.buffered_ms == 4801 / 48
    listener.clear()
    assert listener.take_all() == b""
