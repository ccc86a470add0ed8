from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from bridge.archive.jobs_audio import channel_chunks, mono_wav
from bridge.audio.wav import WavAudio, interleave_stereo


def ramp(count: int, start: int = 1) -> bytes:
    return np.arange(start, start + count, dtype="<i2").tobytes()


def read(data: bytes) -> tuple[int, int, int, bytes]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.readframes(wav.getnframes())


def test_mono_wav_is_a_pcm16_file() -> None:
    pcm = ramp(100)
    data = mono_wav(pcm, 8000)
    assert len(data) == 44 + len(pcm)
    assert read(data) == (1, 2, 8000, pcm)


def test_each_channel_of_a_stereo_recording_in_chunks() -> None:
    caller, agent = ramp(2000), ramp(2000, start=5000)
    audio = WavAudio(rate=8000, channels=2, pcm=interleave_stereo(caller, agent))
    chunks = channel_chunks(audio, "caller", chunk_ms=100)  # 800 samples each
    assert [(c.index, c.start_ms, c.end_ms) for c in chunks] == [(0, 0, 100), (1, 100, 200), (2, 200, 250)]
    assert b"".join(read(c.wav)[3] for c in chunks) == caller
    (whole,) = channel_chunks(audio, "agent", chunk_ms=1000)
    assert (whole.start_ms, whole.end_ms) == (0, 250)
    assert read(whole.wav) == (1, 2, 8000, agent)


def test_silent_chunks_are_skipped() -> None:
    caller = bytes(1600) + ramp(800) + bytes(1600)  # silence, 100 ms of signal, silence
    audio = WavAudio(rate=8000, channels=2, pcm=interleave_stereo(caller, bytes(len(caller))))
    chunks = channel_chunks(audio, "caller", chunk_ms=100)
    assert [(c.index, c.start_ms, c.end_ms) for c in chunks] == [(1, 100, 200)]
    assert channel_chunks(audio, "agent", chunk_ms=100) == []
    assert channel_chunks(WavAudio(rate=8000, channels=2, pcm=b""), "caller") == []


def test_a_mono_recording_has_only_the_caller() -> None:
    audio = WavAudio(rate=16000, channels=1, pcm=ramp(160))
    (chunk,) = channel_chunks(audio, "caller")
    assert (chunk.end_ms, read(chunk.wav)[2:]) == (10, (16000, ramp(160)))
    with pytest.raises(ValueError, match="1 channel"):
        channel_chunks(audio, "agent")


def test_chunk_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_ms"):
        channel_chunks(WavAudio(rate=8000, channels=1, pcm=ramp(8)), "caller", chunk_ms=0)
