"""The energy VAD, timed in audio."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.engine.vad import MIN_SPEECH_MS, EnergyVad, SpeechStarted, SpeechStopped, threshold_dbfs

RATE = 8000


def tone(ms: int, dbfs: float, rate: int = RATE) -> bytes:
    t = np.arange(ms * rate // 1000) / rate
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)  # a sine's RMS is its peak over sqrt(2)
    return bytes(np.round(amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())


def quiet(ms: int, rate: int = RATE) -> bytes:
    return bytes(ms * rate // 1000 * 2)


def test_threshold_maps_to_a_level() -> None:
    assert (threshold_dbfs(0.0), threshold_dbfs(0.5), threshold_dbfs(0.8), threshold_dbfs(1.0)) == (
        -60.0,
        -35.0,
        -20.0,
        -10.0,
    )


def test_a_turn_starts_at_its_onset_and_stops_after_the_silence() -> None:
    vad = EnergyVad(rate=RATE, threshold=0.5, silence_duration_ms=300)
    assert vad.feed(quiet(500)) == []
    assert vad.feed(tone(MIN_SPEECH_MS - 10, -20)) == []
    assert vad.feed(tone(10, -20)) == [SpeechStarted(500)]
    assert vad.speaking
    assert vad.feed(tone(800, -20) + quiet(290)) == []
    assert vad.feed(quiet(10)) == [SpeechStopped(500 + MIN_SPEECH_MS + 800 + 300)]
    assert (vad.speaking, vad.position_ms) == (False, 1630)


def test_short_clicks_and_quiet_sounds_are_not_speech() -> None:
    vad = EnergyVad(rate=RATE, threshold=0.5, silence_duration_ms=200)
    assert vad.feed((tone(20, -10) + quiet(100)) * 5 + tone(1000, -40)) == []


def test_pauses_shorter_than_the_silence_do_not_end_the_turn() -> None:
    vad = EnergyVad(rate=RATE, threshold=0.5, silence_duration_ms=200, origin_ms=1000)
    events = vad.feed(tone(300, -20) + quiet(190) + tone(300, -20) + quiet(200))
    assert events == [SpeechStarted(1000), SpeechStopped(1000 + 300 + 190 + 300 + 200)]


def test_events_do_not_depend_on_how_audio_is_cut() -> None:
    audio = quiet(130, 24000) + tone(700, -25, 24000) + quiet(500, 24000)
    whole = EnergyVad(rate=24000, threshold=0.5, silence_duration_ms=300).feed(audio)
    cut = EnergyVad(rate=24000, threshold=0.5, silence_duration_ms=300)
    pieces = [cut.feed(audio[i : i + 333]) for i in range(0, len(audio), 333)]
    assert [e for piece in pieces for e in piece] == whole == [SpeechStarted(130), SpeechStopped(1130)]


def test_a_higher_threshold_ignores_street_noise(shared_audio: Path) -> None:
    with wave.open(str(shared_audio / "noise-street.wav")) as wav:
        noise = wav.readframes(wav.getnframes())
    assert EnergyVad(rate=RATE, threshold=0.5, silence_duration_ms=500).feed(noise)
    assert EnergyVad(rate=RATE, threshold=0.8, silence_duration_ms=500).feed(noise) == []
    with wave.open(str(shared_audio / "caller-yes.wav")) as wav:
        yes = wav.readframes(wav.getnframes())
    events = EnergyVad(rate=RATE, threshold=0.8, silence_duration_ms=500).feed(yes + quiet(600))
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]


def test_rates_must_divide_into_frames() -> None:
    with pytest.raises(ValueError):
        EnergyVad(rate=11025, threshold=0.5, silence_duration_ms=200)
