from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.errors import ConfigError
from bridge.sim.wavfile import read_wav_as_ulaw, write_ulaw_as_wav


def write_wav(path: Path, frames: bytes, *, rate: int, width: int, channels: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def tone(rate: int, seconds: float, hz: float = 440.0, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def test_8khz_16bit_mono_is_encoded_sample_for_sample(tmp_path: Path) -> None:
    pcm = tone(8000, 0.1).tobytes()
    path = write_wav(tmp_path / "a.wav", pcm, rate=8000, width=2, channels=1)
    assert read_wav_as_ulaw(path) == pcm16_to_ulaw(pcm)


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left = tone(8000, 0.05, amplitude=6000.0)
    right = np.zeros_like(left)
    stereo = np.column_stack([left, right]).astype("<i2").tobytes()
    path = write_wav(tmp_path / "s.wav", stereo, rate=8000, width=2, channels=2)
    expected = np.round(left.astype(np.float64) / 2).astype("<i2").tobytes()
    assert read_wav_as_ulaw(path) == pcm16_to_ulaw(expected)


def test_8bit_unsigned_is_centred_and_scaled(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "b.wav", bytes([128, 192, 64, 255]), rate=8000, width=1, channels=1)
    expected = np.array([0, 64 * 256, -64 * 256, 127 * 256], dtype="<i2").tobytes()
    assert read_wav_as_ulaw(path) == pcm16_to_ulaw(expected)


def test_other_rates_are_resampled_to_8khz_keeping_the_tone(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "w.wav", tone(44100, 0.5, hz=1000.0).tobytes(), rate=44100, width=2, channels=1)
    ulaw = read_wav_as_ulaw(path)
    assert len(ulaw) == 4000
    pcm = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm[500:3500]))
    peak_hz = np.argmax(spectrum) * 8000 / 3000
    assert abs(peak_hz - 1000.0) < 5.0
    assert 7000 < np.max(np.abs(pcm[500:3500])) < 9000


def test_g711_wav_is_accepted(tmp_path: Path) -> None:
    ulaw = pcm16_to_ulaw(tone(8000, 0.05).tobytes())
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(ulaw)) + ulaw
    path = tmp_path / "u.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    assert read_wav_as_ulaw(path) == ulaw


def test_a_rate_too_odd_to_resample_is_a_config_error(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "odd.wav", tone(8001, 0.05).tobytes(), rate=8001, width=2, channels=1)
    with pytest.raises(ConfigError, match="cannot read .*too fine a ratio"):
        read_wav_as_ulaw(path)


def test_24bit_is_refused(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "c.wav", bytes(30), rate=8000, width=3, channels=1)
    with pytest.raises(ConfigError, match="24-bit"):
        read_wav_as_ulaw(path)


def test_missing_or_broken_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_wav_as_ulaw(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ConfigError, match="cannot read"):
        read_wav_as_ulaw(tmp_path / "junk.wav")


def test_heard_audio_is_written_as_8khz_pcm16_mono(tmp_path: Path) -> None:
    ulaw = bytes(range(0, 100)) + b"\xff" * 60
    path = tmp_path / "heard.wav"
    write_ulaw_as_wav(path, ulaw)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (1, 2, 8000, 160)
        assert wav.readframes(160) == ulaw_to_pcm16(ulaw)
    assert read_wav_as_ulaw(path) == ulaw


def test_unwritable_recording_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        write_ulaw_as_wav(tmp_path / "no such dir" / "heard.wav", b"\xff")
