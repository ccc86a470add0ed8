"""In-band DTMF: the dual tones of ITU-T Q.23, as mu-law audio for the caller's leg."""

from __future__ import annotations

import numpy as np

from bridge.audio.g711 import pcm16_to_ulaw

__all__ = ["DTMF_FREQUENCIES", "dtmf_ulaw"]

_ROWS = (697, 770, 852, 941)
_COLS = (1209, 1336, 1477, 1633)
_KEYS = ("123A", "456B", "789C", "*0#D")

DTMF_FREQUENCIES: dict[str, tuple[int, int]] = {
    key: (_ROWS[r], _COLS[c]) for r, row in enumerate(_KEYS) for c, key in enumerate(row)
}


def dtmf_ulaw(digits: str, *, tone_ms: int = 100, gap_ms: int = 60, rate: int = 8000) -> bytes:
    """Mu-law audio of ``digits`` (0-9, *, #, A-D): each tone ``tone_ms`` long, then ``gap_ms`` of silence.

    Tones are -9 dBFS per frequency (Q.24 receivers accept -25..0 dBm0), with 5 ms ramps so the
    edges do not click. Raises ValueError for any other character.
    """
    bad = [d for d in digits if d.upper() not in DTMF_FREQUENCIES]
    if bad:
        raise ValueError(f"not DTMF digits: {''.join(bad)!r}")
    n = rate * tone_ms // 1000
    t = np.arange(n) / rate
    ramp = np.ones(n)
    edge = min(n // 2, rate * 5 // 1000)
    if edge:
        ramp[:edge] = np.linspace(0.0, 1.0, edge)
        ramp[-edge:] = np.linspace(1.0, 0.0, edge)
    gap = np.zeros(rate * gap_ms // 1000)
    parts: list[np.ndarray] = []
    amplitude = 32767 * 10 ** (-9 / 20)
    for digit in digits.upper():
        low, high = DTMF_FREQUENCIES[digit]
        tone = amplitude * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)) / 2 * ramp
        parts.extend((tone, gap))
    pcm = np.concatenate(parts).round().astype("<i2") if parts else np.zeros(0, "<i2")
    return pcm16_to_ulaw(pcm.tobytes())
