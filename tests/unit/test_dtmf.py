from __future__ import annotations

import numpy as np
import pytest

from bridge.audio.dtmf import DTMF_FREQUENCIES, dtmf_ulaw
from bridge.audio.g711 import ulaw_to_pcm16


def _strongest(pcm: np.ndarray, rate: int = 8000) -> list[int]:
    spectrum = np.abs(np.fft.rfft(pcm * np.hanning(len(pcm))))
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    low_band = (freqs > 650) & (freqs < 1000)
    high_band = (freqs > 1150) & (freqs < 1700)
    return [
        int(freqs[low_band][np.argmax(spectrum[low_band])]),
        int(freqs[high_band][np.argmax(spectrum[high_band])]),
    ]


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_each_digit_carries_its_two_frequencies(digit: str) -> None:
    audio = dtmf_ulaw(digit, tone_ms=100, gap_ms=0)
    assert len(audio) == 800
    pcm = np.frombuffer(ulaw_to_pcm16(audio), "<i2").astype(float)
    low, high = _strongest(pcm)
    want_low, want_high = DTMF_FREQUENCIES[digit]
    assert abs(low - want_low) <= 10
    assert abs(high - want_high) <= 10


def test_length_is_tones_plus_gaps() -> None:
    assert len(dtmf_ulaw("123", tone_ms=80, gap_ms=40)) == 3 * (640 + 320)


def test_rejects_non_dtmf_characters() -> None:
    with pytest.raises(ValueError, match="'x'"):
        dtmf_ulaw("1x")
