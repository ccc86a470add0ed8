"""Speech recognition for the engine (input transcription, and the REST transcription endpoint).

PocketSphinx's bundled US-English model, fully offline. It expects 16 kHz wideband audio, so
telephone audio is resampled to 16 kHz and given a faint noise floor (about -56 dBFS): upsampled
8 kHz audio has nothing at all above 4 kHz, and those empty filterbank channels drive the model's
cepstra far from anything it was trained on. On the shared test recordings the floor turns
"what are you open the autocratic" into "what are your opening …". The noise is seeded, so the
same audio always gives the same transcript.

The decoder takes about 0.3 s to load and is not thread-safe: it is created on first use and then
shared behind a lock. Decoding costs roughly 0.3 s of CPU per second of audio, so async callers
should run ``transcribe`` in a thread.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from bridge.errors import ConfigError

__all__ = ["MODEL_RATE", "transcribe"]

MODEL_RATE = 16000
_NOISE_FLOOR = 50.0  # int16 RMS of the added noise: about -56 dBFS

_lock = threading.Lock()
_decoder: Any = None


def _get_decoder() -> Any:
    global _decoder
    if _decoder is None:
        import pocketsphinx

        try:
            _decoder = pocketsphinx.Decoder(loglevel="FATAL")
        except RuntimeError as exc:
            raise ConfigError(f"cannot load the PocketSphinx English model: {exc}") from exc
    return _decoder


def _prepare(pcm16: bytes, rate: int) -> bytes:
    samples = np.frombuffer(pcm16[: len(pcm16) - len(pcm16) % 2], dtype="<i2").astype(np.float64)
    if rate != MODEL_RATE:
        divisor = np.gcd(rate, MODEL_RATE)
        samples = resample_poly(samples, MODEL_RATE // divisor, rate // divisor)
    samples = samples + np.random.default_rng(0).normal(0.0, _NOISE_FLOOR, len(samples))
    return bytes(np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes())


def transcribe(pcm16: bytes, rate: int) -> str:
    """Recognise English speech in PCM16 (little-endian mono at ``rate`` Hz); "" if none."""
    if len(pcm16) < 2:
        return ""
    audio = _prepare(pcm16, rate)
    with _lock:
        decoder = _get_decoder()
        # A fresh feature extractor: live cepstral mean normalisation otherwise carries over from
        # the previous utterance, and the same audio would not always give the same words.
        decoder.reinit_feat()
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
    return "" if hypothesis is None else str(hypothesis.hypstr)
