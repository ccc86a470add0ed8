"""WAV files in and out of ``bridge call``: any WAV to mu-law 8 kHz, and mu-law back to an 8 kHz WAV.

Decoding, downmixing and resampling are :mod:`bridge.audio.wav`'s; this module turns its errors into
the ConfigError a command reports.
"""

from __future__ import annotations

from pathlib import Path

from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.audio.wav import mono_pcm16, read_wav, write_wav
from bridge.errors import ConfigError, ProtocolError

__all__ = ["SAMPLE_RATE", "read_wav_as_ulaw", "write_ulaw_as_wav"]

SAMPLE_RATE = 8000


def read_wav_as_ulaw(path: Path) -> bytes:
    """Read a WAV (8/16-bit PCM or G.711, mono, or several channels averaged to mono) of any rate as
    mu-law 8 kHz.

    Raises:
        ConfigError: the file cannot be read or decoded, or its rate cannot be resampled to 8 kHz.
    """
    try:
        return pcm16_to_ulaw(mono_pcm16(read_wav(path), SAMPLE_RATE))
    except (OSError, ProtocolError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def write_ulaw_as_wav(path: Path, ulaw: bytes) -> None:
    """Write mu-law 8 kHz audio as a 16-bit PCM mono WAV at 8 kHz.

    Raises:
        ConfigError: the file cannot be written.
    """
    try:
        write_wav(path, ulaw_to_pcm16(ulaw), SAMPLE_RATE)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
