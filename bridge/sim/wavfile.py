"""WAV files in and out of ``bridge call``: any PCM WAV to mu-law 8 kHz, and mu-law back to an 8 kHz WAV."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.errors import ConfigError

__all__ = ["SAMPLE_RATE", "read_wav_as_ulaw", "write_ulaw_as_wav"]

SAMPLE_RATE = 8000


def read_wav_as_ulaw(path: Path) -> bytes:
    """Read an 8- or 16-bit PCM WAV (mono, or several channels averaged to mono) of any rate as mu-law 8 kHz.

    Raises:
        ConfigError: the file cannot be read or is not 8/16-bit PCM.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if width == 1:
        # 8-bit WAV is unsigned, centred on 128.
        samples = (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif width == 2:
        samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    else:
        raise ConfigError(f"{path}: {8 * width}-bit samples; only 8- and 16-bit PCM WAV is supported")
    samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE:
        common = math.gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // common, rate // common)
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()
    return pcm16_to_ulaw(pcm)


def write_ulaw_as_wav(path: Path, ulaw: bytes) -> None:
    """Write mu-law 8 kHz audio as a 16-bit PCM mono WAV at 8 kHz.

    Raises:
        ConfigError: the file cannot be written.
    """
    try:
        # Open the file ourselves: wave.open(path) leaves a half-built writer behind when open() fails.
        with open(path, "wb") as file, wave.open(file, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(ulaw_to_pcm16(ulaw))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
