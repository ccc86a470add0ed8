"""The three Realtime audio formats, by their GA and beta names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridge.audio.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16

__all__ = ["PCM", "PCMA", "PCMU", "AudioFormat", "by_beta_name", "by_ga_type"]


def _same(data: bytes) -> bytes:
    return data


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One wire audio format: its names, sample rate, and codec to and from PCM16."""

    ga_type: str
    beta_name: str
    rate: int
    bytes_per_ms: int
    sample_bytes: int
    decode: Callable[[bytes], bytes]
    encode: Callable[[bytes], bytes]

    def ga(self) -> dict[str, object]:
        """The GA ``format`` object (``audio/pcm`` carries its rate)."""
        if self.ga_type == "audio/pcm":
            return {"type": self.ga_type, "rate": self.rate}
        return {"type": self.ga_type}

    def ms(self, nbytes: int) -> float:
        """Audio duration of ``nbytes`` in this format."""
        return nbytes / self.bytes_per_ms


# PCM is 16-bit little-endian mono at 24 kHz (48 bytes/ms); G.711 is 8 kHz, one byte a sample.
PCM = AudioFormat("audio/pcm", "pcm16", 24000, 48, 2, _same, _same)
PCMU = AudioFormat("audio/pcmu", "g711_ulaw", 8000, 8, 1, ulaw_to_pcm16, pcm16_to_ulaw)
PCMA = AudioFormat("audio/pcma", "g711_alaw", 8000, 8, 1, alaw_to_pcm16, pcm16_to_alaw)

_ALL = (PCM, PCMU, PCMA)


def by_ga_type(name: str) -> AudioFormat:
    """The format with GA type ``name`` (validated upstream, so it exists)."""
    return next(f for f in _ALL if f.ga_type == name)


def by_beta_name(name: str) -> AudioFormat:
    """The format with beta name ``name`` (validated upstream, so it exists)."""
    return next(f for f in _ALL if f.beta_name == name)
