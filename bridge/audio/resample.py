"""Streaming polyphase FIR resampling of PCM16 mono little-endian audio.

The bridge moves 20 ms frames between 8 kHz telephony and 24 kHz Realtime audio. Resampling each frame
on its own clicks at every frame edge, so ``StreamResampler`` carries the filter history and an exact
integer phase from one call to the next: its output is the same signal ``resample()`` produces from the
whole input at once, and N input samples always yield exactly ``ceil(N * out_rate / in_rate)`` output
samples in total, however the input is split.

How the maths maps to numpy (each call is one matrix product; docs/benchmarks.md has the shapes
measured): with ``L/M = out_rate/in_rate`` in lowest terms, output ``j`` sits at
``j*M`` on the ``in_rate*L`` grid and is the dot product of the ``K`` newest input samples up to
``floor(j*M/L)`` with polyphase branch ``(j*M) % L`` of the filter. ``L`` consecutive outputs form a
group whose inputs start ``M`` samples after the previous group's, so a strided window view of the
input (one row per group) times a ``(window, L)`` matrix holding the ``L`` branches at their offsets
gives every output of the call at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import signal

__all__ = ["StreamResampler", "filter_taps", "resample"]

# The anti-alias/anti-image lowpass, in units of the lower rate's Nyquist frequency (4 kHz for 8 kHz).
# Passband to 0.85 (3.4 kHz, the top of the telephone band) so speech passes unchanged; stopband from
# 1.15 (4.6 kHz) because that is the lowest frequency that folds back to 3.4 kHz or below when 24 kHz
# is decimated to 8 kHz, and >= 60 dB there keeps the folded energy under G.711's own ~38 dB SNR by a
# wide margin, i.e. nothing audible folds into the band. The same edges reject the images that
# upsampling creates above 4.6 kHz. For 8k <-> 24k this takes 77 taps at 24 kHz (79 going down, see
# _prototype): a 61-tap Kaiser filter (4 kHz cutoff, 60 dB) is only 37 dB down at 4.6 kHz, reaches
# 60 dB at ~4.72 kHz (which folds to 3.28 kHz, inside the band) and is already 0.12 dB down at 3.4 kHz.
# The price is ~0.35 ms more delay: 1.6 ms per direction instead of 1.25 ms.
_PASSBAND_EDGE = 0.85
_STOPBAND_EDGE = 1.15
# Kaiser's length/beta formulas miss the requested attenuation by up to ~1 dB either way; designing
# for 62 dB keeps the real stopband >= 60 dB for every rate pair (tests/unit/test_resample.py measures it).
_DESIGN_ATTENUATION_DB = 62.0

_MAX_FACTOR = 1024  # largest L or M accepted (11025 <-> 16000 is 640/441)

_INT16_MIN = np.array(-32768.0, dtype=np.float32)
_INT16_MAX = np.array(32767.0, dtype=np.float32)
_FLOAT32 = np.dtype(np.float32)
_PCM16 = np.dtype("<i2")


@dataclass(frozen=True)
class _Design:
    up: int  # L: out_rate / gcd
    down: int  # M: in_rate / gcd
    taps_per_phase: int  # K
    delay: int  # group delay in output samples
    # (K, L): column p is polyphase branch p, time-reversed so it dots with oldest-first windows.
    branches: NDArray[np.float32]


@lru_cache(maxsize=32)
def _prototype(in_rate: int, out_rate: int) -> NDArray[np.float64]:
    # Designed at in_rate * L (the rate both in_rate and out_rate divide), with gain L to make up for
    # the L - 1 zeros that upsampling inserts between input samples.
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    base = in_rate * up
    nyquist = min(in_rate, out_rate) / 2
    width = (_STOPBAND_EDGE - _PASSBAND_EDGE) * nyquist
    numtaps, beta = signal.kaiserord(_DESIGN_ATTENUATION_DB, width / (base / 2))
    # Round the group delay ((taps - 1) / 2 at the base rate) up to a multiple of M so it is a whole
    # number of output samples: an impulse then comes out exactly at delay_samples. Lengthening (rather
    # than padding with zeros) buys a slightly sharper filter for the same delay.
    half = -(-(numtaps - 1) // (2 * down)) * down
    taps: NDArray[np.float64] = signal.firwin(2 * half + 1, nyquist, window=("kaiser", beta), fs=base) * up
    taps.setflags(write=False)
    return taps


def filter_taps(in_rate: int, out_rate: int) -> NDArray[np.float64]:
    """The lowpass FIR used between ``in_rate`` and ``out_rate`` (read-only).

    It runs at ``in_rate * out_rate / gcd(in_rate, out_rate)`` Hz, has an odd length and a gain equal
    to ``out_rate / gcd(in_rate, out_rate)``, so ``scipy.signal.upfirdn(taps, x, up, down)`` computes
    the same output as ``resample()`` (before rounding to int16).

    Raises:
        ValueError: a rate is not a positive integer, their ratio is too fine (L or M above 1024), or the
            rates are equal (there is no filter).
    """
    _check_rates(in_rate, out_rate)
    if in_rate == out_rate:
        raise ValueError("equal rates need no filter")
    return _prototype(in_rate, out_rate)


@lru_cache(maxsize=32)
def _design(in_rate: int, out_rate: int) -> _Design:
    taps = _prototype(in_rate, out_rate)
    g = math.gcd(in_rate, out_rate)
    up, down = out_rate // g, in_rate // g
    k = -(-taps.size // up)
    padded = np.zeros(k * up)
    padded[: taps.size] = taps
    # padded[t*L + p] is tap t of branch p; reverse t so row 0 meets the oldest sample of a window.
    branches = np.ascontiguousarray(padded.reshape(k, up)[::-1], dtype=np.float32)
    branches.setflags(write=False)
    return _Design(up=up, down=down, taps_per_phase=k, delay=(taps.size - 1) // 2 // down, branches=branches)


@lru_cache(maxsize=64)
def _group_matrix(in_rate: int, out_rate: int, phase: int) -> NDArray[np.float32]:
    """The (window, L) matrix that turns one group's input window into its L outputs.

    ``phase`` (0 <= phase < M) is the base-grid distance from a chunk's first input sample to its first
    output. Output k of a group lies ``phase + k*M`` past the group's first input sample, so it is branch
    ``(phase + k*M) % L`` applied to the K samples that start ``(phase + k*M) // L`` into the group's
    window (a window begins with the K - 1 samples of history).
    """
    d = _design(in_rate, out_rate)
    offsets = [(phase + k * d.down) // d.up for k in range(d.up)]
    matrix = np.zeros((d.taps_per_phase + offsets[-1], d.up), dtype=np.float32)
    for k, offset in enumerate(offsets):
        matrix[offset : offset + d.taps_per_phase, k] = d.branches[:, (phase + k * d.down) % d.up]
    matrix.setflags(write=False)  # shared by every resampler with these rates
    return matrix


def _check_rates(in_rate: int, out_rate: int) -> None:
    for name, rate in (("in_rate", in_rate), ("out_rate", out_rate)):
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ValueError(f"{name} must be a positive integer, not {rate!r}")
    g = math.gcd(in_rate, out_rate)
    if max(in_rate, out_rate) // g > _MAX_FACTOR:
        # Filter length and group-matrix size grow with L and M; an odd rate (e.g. 8001 Hz) would need
        # gigabytes. Every common audio rate pair (8k ... 96k, 11025 family included) stays far below.
        raise ValueError(f"{in_rate} -> {out_rate} Hz reduces to {out_rate // g}/{in_rate // g}, too fine a ratio")


class StreamResampler:
    """Stateful resampler for PCM16 mono little-endian audio, fed in chunks of any size.

    Equal rates pass audio through untouched (delay 0).

    Raises:
        ValueError: a rate is not a positive integer, or their ratio reduces to L/M with L or M above 1024.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        _check_rates(in_rate, out_rate)
        self._in_rate = in_rate
        self._out_rate = out_rate
        self._passthrough = in_rate == out_rate
        if self._passthrough:
            self._up = self._down = 1
            self._history = 0
            self._delay = 0
        else:
            design = _design(in_rate, out_rate)
            self._up, self._down = design.up, design.down
            self._history = design.taps_per_phase - 1
            self._delay = design.delay
        # Layout: [history (K-1) | current chunk (n) | M zeros]. The zeros only feed outputs of the last
        # group that lie past the chunk; those are computed and dropped.
        self._buffer = np.zeros(self._history + self._down, dtype=np.float32)
        self._chunk = 0
        self._set_views()
        # Base-grid distance from the first sample of the next chunk to the next output (0 <= phase < M).
        self._phase = 0
        # (output count, window view, group matrix) for the last (chunk size, phase): steady frames reuse it.
        self._plan_key: tuple[int, int] | None = None
        self._plan: tuple[int, NDArray[np.float32], NDArray[np.float32]]

    @property
    def in_rate(self) -> int:
        return self._in_rate

    @property
    def out_rate(self) -> int:
        return self._out_rate

    @property
    def delay_samples(self) -> int:
        """Group delay of the filter in output samples: input at time t comes out at t + delay."""
        return self._delay

    @property
    def delay_ms(self) -> float:
        """``delay_samples`` in milliseconds."""
        return self._delay * 1000.0 / self._out_rate

    def reset(self) -> None:
        """Forget all history, as if newly constructed (e.g. after a barge-in flush)."""
        self._buffer[:] = 0.0
        self._phase = 0

    def process(self, pcm: bytes) -> bytes:
        """Resample a chunk and return every output sample it makes computable.

        Args:
            pcm: PCM16 mono little-endian samples at ``in_rate``; any number of whole samples.

        Returns:
            PCM16 mono little-endian samples at ``out_rate``, rounded and clipped to int16.

        Raises:
            ValueError: ``pcm`` holds an odd number of bytes.
        """
        if len(pcm) % 2:
            raise ValueError(f"PCM16 needs whole 2-byte samples, got {len(pcm)} bytes")
        if self._passthrough:
            return bytes(pcm)
        n = len(pcm) // 2
        if n == 0:
            return b""
        if n != self._chunk:
            self._resize(n)
        self._input[...] = np.frombuffer(pcm, dtype=_PCM16)
        phase = self._phase
        if self._plan_key != (n, phase):
            self._plan = self._make_plan(n, phase)
            self._plan_key = (n, phase)
        count, windows, matrix = self._plan
        out = b""
        if count:
            # np.dot, not matmul: the window rows overlap, which BLAS cannot take, and matmul then falls back
            # to numpy's plain loop (2.5x slower going down); dot copies them into a block and calls BLAS.
            y = np.dot(windows, matrix).reshape(-1)
            if y.size != count:
                y = y[:count]
            np.rint(y, out=y)
            y.clip(_INT16_MIN, _INT16_MAX, out=y)
            out = y.astype(_PCM16).tobytes()
        self._phase = phase + count * self._down - n * self._up
        self._keep_to[...] = self._keep_from
        return out

    def _make_plan(self, n: int, phase: int) -> tuple[int, NDArray[np.float32], NDArray[np.float32]]:
        up, down = self._up, self._down
        count = (n * up - phase + down - 1) // down
        matrix = _group_matrix(self._in_rate, self._out_rate, phase)
        # One row per group of L outputs; group g's window starts g*M samples into the buffer.
        groups = -(-count // up)
        itemsize = _FLOAT32.itemsize
        windows = np.ndarray((groups, matrix.shape[0]), _FLOAT32, self._buffer, 0, (down * itemsize, itemsize))
        return count, windows, matrix

    def _resize(self, n: int) -> None:
        # A new chunk size needs a new buffer; the history (always at the front) moves over.
        buffer = np.zeros(self._history + n + self._down, dtype=np.float32)
        buffer[: self._history] = self._buffer[: self._history]
        self._buffer = buffer
        self._chunk = n
        self._set_views()
        self._plan_key = None

    def _set_views(self) -> None:
        # Views made once per chunk size: slicing on every call costs more than the copies themselves.
        hist, n = self._history, self._chunk
        self._input = self._buffer[hist : hist + n]
        self._keep_from = self._buffer[n : n + hist]  # the newest K-1 samples, the next call's history
        self._keep_to = self._buffer[:hist]


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample a whole PCM16 mono little-endian signal in one go.

    Uses the same filter as ``StreamResampler`` and returns exactly what a fresh one returns for the
    same input in one call: ``ceil(n * out_rate / in_rate)`` samples, delayed by its ``delay_samples``.

    Raises:
        ValueError: as ``StreamResampler`` and ``StreamResampler.process``.
    """
    return StreamResampler(in_rate, out_rate).process(pcm)
