"""The engine's voice: text in, PCM16 and word timings out.

``Voice`` is the plug point. ``SpeechVoice``, the default, is a tiny formant synthesiser: not
intelligible, but shaped like speech where it matters to a phone bridge and its VADs. Each word is
a run of voiced syllables (a harmonic series on a gliding pitch, weighted by three formant
resonances that move from one vowel target to the next), with a syllable-rate loudness
contour, and words are separated by short silent gaps. Every character of the text lasts
``ms_per_char`` (65 ms by default: about 170 words a minute), so the audio is as long as the text
would be spoken. The randomness (pitch, vowels) is seeded by the text: the same text gives the same
audio at every rate.
"""

from __future__ import annotations

import functools
import zlib
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["MS_PER_CHAR", "SpeechVoice", "Voice", "WordTiming"]

MS_PER_CHAR = 65

WordTiming = tuple[str, int, int]
"""A word and where it is spoken: (word, start_ms, end_ms)."""

# (F1, F2, F3) of a few vowels, Hz (Peterson & Barney averages).
_VOWELS = np.array(
    [
        (730, 1090, 2440),
        (270, 2290, 3010),
        (300, 870, 2240),
        (530, 1840, 2480),
        (570, 840, 2410),
        (660, 1720, 2410),
        (490, 1350, 1690),
    ],
    dtype=np.float64,
)
_BANDWIDTHS = np.array([80.0, 110.0, 160.0])
_BLOCK_MS = 10
_PEAK = 32767 * 10 ** (-6 / 20)  # -6 dBFS peak: loud enough for any VAD, no clipping


class Voice(Protocol):
    """Turns text into speech audio."""

    def synthesize(self, text: str, rate: int) -> tuple[bytes, list[WordTiming]]:
        """PCM16 (little-endian mono at ``rate``) and when each word is spoken, in ms."""
        ...


class SpeechVoice:
    """The default voice: speech-shaped, deterministic, the right length for the text."""

    def __init__(self, ms_per_char: int = MS_PER_CHAR) -> None:
        self.ms_per_char = ms_per_char

    def synthesize(self, text: str, rate: int) -> tuple[bytes, list[WordTiming]]:
        """Speak ``text`` at ``rate`` Hz; results are cached (they are deterministic)."""
        pcm, timings = _synthesize(text, rate, self.ms_per_char)
        return pcm, list(timings)


def _timeline(words: list[str], ms_per_char: int) -> tuple[WordTiming, ...]:
    timings: list[WordTiming] = []
    position = 0
    for index, word in enumerate(words):
        if index:
            position += ms_per_char  # the space between words is a silent gap
        timings.append((word, position, position + len(word) * ms_per_char))
        position += len(word) * ms_per_char
    return tuple(timings)


@functools.lru_cache(maxsize=256)
def _synthesize(text: str, rate: int, ms_per_char: int) -> tuple[bytes, tuple[WordTiming, ...]]:
    words = text.split()
    timings = _timeline(words, ms_per_char)
    if not timings:
        return b"", timings
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    base_f0 = rng.uniform(105.0, 150.0)
    total_ms = timings[-1][2]
    out = np.zeros(total_ms * rate // 1000, dtype=np.float64)
    for index, (word, start_ms, end_ms) in enumerate(timings):
        # Declination: pitch falls slowly over the utterance, as in statements.
        f0 = base_f0 * (1.0 - 0.15 * index / max(1, len(timings) - 1))
        segment = _word(len(word), (end_ms - start_ms) * rate // 1000, rate, f0, rng)
        first = start_ms * rate // 1000
        out[first : first + len(segment)] = segment
    peak = float(np.max(np.abs(out)))
    out *= _PEAK / peak
    return np.round(out).astype("<i2").tobytes(), timings


def _word(chars: int, samples: int, rate: int, f0: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    syllables = max(1, round(chars / 3))
    t = np.arange(samples, dtype=np.float64)
    # Targets at syllable centres; pitch, formants and loudness glide between them.
    centres = (np.arange(syllables) + 0.5) * samples / syllables
    pitch = np.interp(t, centres, f0 * rng.uniform(0.9, 1.15, syllables))
    formants = _VOWELS[rng.integers(0, len(_VOWELS), syllables)]
    tracks = [np.interp(t, centres, formants[:, i]) for i in range(3)]
    within = (t * syllables / samples) % 1.0
    loudness = 0.15 + 0.85 * np.sin(np.pi * within) ** 0.7  # syllable-rate amplitude modulation
    edge = min(samples // 2, rate * 15 // 1000)
    ramp = np.ones(samples)
    ramp[:edge] = np.linspace(0.0, 1.0, edge)
    ramp[samples - edge :] = np.linspace(1.0, 0.0, edge)
    phase = np.cumsum(2.0 * np.pi * pitch / rate)
    top = min(0.45 * rate, 3600.0 if rate <= 8000 else 5000.0)
    harmonics = np.arange(1, int(top / pitch.min()) + 1, dtype=np.float64)
    out = np.empty(samples)
    block = rate * _BLOCK_MS // 1000
    for first in range(0, samples, block):
        last = min(samples, first + block)
        mid = (first + last) // 2
        freqs = harmonics * pitch[mid]
        gain = np.zeros_like(freqs)
        for i in range(3):
            gain += 1.0 / (1.0 + ((freqs - tracks[i][mid]) / _BANDWIDTHS[i]) ** 2)
        gain *= (freqs < top) / harmonics  # -6 dB/octave source tilt, band-limited
        waves = np.sin(np.outer(harmonics, phase[first:last]))
        out[first:last] = gain @ waves
    return out * loudness * ramp
