"""The PocketSphinx recognizer on the shared test recordings."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from bridge.engine.recognizer import transcribe

EXPECTED = {"what", "are", "your", "opening", "hours", "on", "saturday"}


def test_the_recognizer_hears_the_shared_recording(shared_audio: Path) -> None:
    with wave.open(str(shared_audio / "caller-opening-hours.wav")) as wav:
        pcm = wav.readframes(wav.getnframes())
    heard = transcribe(pcm, 8000)
    assert len(set(heard.split()) & EXPECTED) >= 2, heard
    assert transcribe(pcm, 8000) == heard  # deterministic
    # The same speech at 24 kHz (as a PCM session carries it) is heard too.
    upsampled = resample_poly(np.frombuffer(pcm, dtype="<i2").astype(np.float64), 3, 1)
    heard_24k = transcribe(np.clip(np.round(upsampled), -32768, 32767).astype("<i2").tobytes(), 24000)
    assert len(set(heard_24k.split()) & EXPECTED) >= 2, heard_24k


def test_silence_and_nothing_give_no_words(shared_audio: Path) -> None:
    with wave.open(str(shared_audio / "silence-3s.wav")) as wav:
        assert transcribe(wav.readframes(8000), 8000) == ""
    assert transcribe(b"", 8000) == ""
