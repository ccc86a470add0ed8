"""StreamResampler: streaming equals one-shot, exact sample accounting, delay, filter quality."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import signal

from bridge.audio.resample import StreamResampler, filter_taps, resample

TELEPHONY_PAIRS = [(8000, 24000), (24000, 8000), (8000, 16000), (16000, 8000), (8000, 48000), (48000, 8000)]
ALL_PAIRS = [*TELEPHONY_PAIRS, (16000, 24000), (24000, 16000), (16000, 48000), (48000, 24000), (44100, 8000)]

Samples = NDArray[np.int16]


def _ids(pair: tuple[int, int]) -> str:
    return f"{pair[0] / 1000:g}k-{pair[1] / 1000:g}k"


def _chirp(rate: int, seconds: float = 3.0) -> Samples:
    # Linear chirp 100 Hz -> 3.8 kHz at -6 dBFS.
    t = np.arange(int(rate * seconds)) / rate
    x: NDArray[np.float64] = 0.5 * 32767 * signal.chirp(t, f0=100, t1=seconds, f1=3800, method="linear")
    return np.round(x).astype(np.int16)


def _tone(freq: float, rate: int, seconds: float) -> Samples:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _pcm(x: Samples) -> bytes:
    return x.astype("<i2").tobytes()


def _samples(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)


def _chunks(x: Samples, sizes: Iterable[int]) -> list[bytes]:
    out = []
    pos = 0
    for size in sizes:
        if pos >= x.size:
            break
        out.append(_pcm(x[pos : pos + size]))
        pos += size
    return out


def _frames(x: Samples, size: int) -> list[bytes]:
    return _chunks(x, [size] * -(-x.size // size))


def _stream(resampler: StreamResampler, chunks: list[bytes]) -> tuple[Samples, list[int]]:
    """Feed chunks; return the concatenated output and the output sizes per call."""
    outs = [_samples(resampler.process(c)) for c in chunks]
    return np.concatenate(outs), [o.size for o in outs]


def _snr_db(reference: Samples, test: Samples) -> float:
    ref = reference.astype(np.float64)
    err = ref - test.astype(np.float64)
    if not err.any():
        return math.inf
    return float(10 * np.log10(np.sum(ref**2) / np.sum(err**2)))


def _sinad_db(y: Samples, freq: float, rate: int) -> float:
    # Least-squares fit of a sine at freq (any phase, plus DC); everything else is noise and distortion.
    t = np.arange(y.size) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(basis, y.astype(np.float64), rcond=None)
    fit = basis @ coef
    return float(10 * np.log10(np.sum(fit**2) / np.sum((y - fit) ** 2)))


@pytest.mark.parametrize("pair", TELEPHONY_PAIRS, ids=_ids)
def test_streaming_20ms_frames_matches_one_shot(pair: tuple[int, int]) -> None:
    in_rate, out_rate = pair
    x = _chirp(in_rate)
    whole = _samples(resample(_pcm(x), in_rate, out_rate))
    streamed, sizes = _stream(StreamResampler(in_rate, out_rate), _frames(x, in_rate // 50))

    assert streamed.size == whole.size == x.size * out_rate // in_rate
    assert _snr_db(whole, streamed) >= 60
    # No clicks: around every frame edge the streamed output is within 2 LSB of the one-shot output.
    edges = np.cumsum(sizes)[:-1]
    near = np.unique(np.clip(np.concatenate([edges + k for k in range(-2, 3)]), 0, whole.size - 1))
    assert np.abs(streamed[near].astype(np.int32) - whole[near]).max() <= 2


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=_ids)
def test_one_shot_equals_upfirdn_with_the_same_filter(pair: tuple[int, int]) -> None:
    # An independent reference: scipy's upsample-filter-downsample in float64, rounded to int16.
    in_rate, out_rate = pair
    g = math.gcd(in_rate, out_rate)
    x = _chirp(in_rate, seconds=0.25)
    y = _samples(resample(_pcm(x), in_rate, out_rate))
    ref = signal.upfirdn(filter_taps(in_rate, out_rate), x.astype(np.float64), out_rate // g, in_rate // g)
    assert y.size == math.ceil(x.size * out_rate / in_rate)
    assert np.abs(y - np.round(ref[: y.size])).max() <= 1  # float32 arithmetic may flip a rounding


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=_ids)
def test_filter_is_flat_to_0_85_and_60_db_down_from_1_15_of_the_lower_nyquist(pair: tuple[int, int]) -> None:
    # For 8 kHz: flat to 3.4 kHz, and >= 60 dB from 4.6 kHz, the lowest frequency that folds into 0-3.4 kHz.
    in_rate, out_rate = pair
    g = math.gcd(in_rate, out_rate)
    taps = filter_taps(in_rate, out_rate)
    nyquist = min(in_rate, out_rate) / 2
    base = in_rate * out_rate // g
    # Dense around the transition band, then coarser up to the base rate's Nyquist (all images).
    dense_to = min(4 * nyquist, base / 2)
    freqs = np.concatenate([np.linspace(0, dense_to, 8000), np.linspace(dense_to, base / 2, 20000)])
    _, response = signal.freqz(taps / (out_rate // g), worN=freqs, fs=base)
    gain_db = 20 * np.log10(np.maximum(np.abs(response), 1e-12))
    assert np.abs(gain_db[freqs <= 0.85 * nyquist]).max() <= 0.01
    assert gain_db[freqs >= 1.15 * nyquist].max() <= -60


def test_steady_frames_give_exactly_n_times_ratio_samples() -> None:
    r = StreamResampler(8000, 24000)
    d = StreamResampler(24000, 8000)
    for _ in range(1000):
        assert len(r.process(bytes(320))) == 960
        assert len(d.process(bytes(960))) == 320


@pytest.mark.parametrize(
    ("pair", "chunk"),
    [((16000, 24000), 7), ((24000, 16000), 7), ((8000, 24000), 7), ((24000, 8000), 7), ((48000, 8000), 5)],
    ids=["16k-24k/7", "24k-16k/7", "8k-24k/7", "24k-8k/7", "48k-8k/5"],
)
def test_odd_chunks_never_drift(pair: tuple[int, int], chunk: int) -> None:
    # After every call, total out == ceil(total in * ratio): each output appears as soon as it can and
    # the integer phase never accumulates rounding.
    in_rate, out_rate = pair
    r = StreamResampler(in_rate, out_rate)
    total_in = total_out = 0
    for _ in range(1200):
        total_out += len(r.process(bytes(2 * chunk))) // 2
        total_in += chunk
        assert total_out == -(-total_in * out_rate // in_rate)
    assert total_out == total_in * out_rate // in_rate  # 1200 * 7 and 1200 * 5 divide evenly


def test_uneven_chunks_give_the_same_samples_as_one_call() -> None:
    x = _chirp(16000, seconds=0.5)
    whole = _samples(resample(_pcm(x), 16000, 24000))
    streamed, _ = _stream(StreamResampler(16000, 24000), _chunks(x, [1, 7, 320, 2, 3, 999, 13] * 100))
    assert streamed.size == whole.size
    assert np.abs(streamed.astype(np.int32) - whole).max() <= 1


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=_ids)
def test_an_impulse_comes_out_after_delay_samples(pair: tuple[int, int]) -> None:
    in_rate, out_rate = pair
    g = math.gcd(in_rate, out_rate)
    r = StreamResampler(in_rate, out_rate)
    # An impulse at an input index that lands on the output grid, fed in 20 ms-ish frames.
    at_in = 7 * (in_rate // g)
    x = np.zeros(in_rate // 10, dtype=np.int16)
    x[at_in] = 16384
    y, _ = _stream(r, _frames(x, max(1, in_rate // 50)))
    assert int(np.argmax(np.abs(y))) == at_in * out_rate // in_rate + r.delay_samples
    assert r.delay_ms == pytest.approx(r.delay_samples * 1000 / out_rate)


def test_telephony_delays() -> None:
    up = StreamResampler(8000, 24000)
    down = StreamResampler(24000, 8000)
    assert (up.delay_samples, down.delay_samples) == (38, 13)
    assert up.delay_ms < 2 and down.delay_ms < 2


def test_1khz_tone_survives_8k_24k_8k() -> None:
    x = _tone(1000, 8000, 1.0)
    up = StreamResampler(8000, 24000)
    down = StreamResampler(24000, 8000)
    mid, _ = _stream(up, _frames(x, 160))
    y, _ = _stream(down, _frames(mid, 480))
    # Skip the start-up transient: the filters' whole length, twice the total delay.
    settled = y[2 * (up.delay_samples // 3 + down.delay_samples + 1) :]
    # The requirement is >= 40 dB; a correct filter is limited only by int16 rounding (~98 dB here).
    assert _sinad_db(settled, 1000, 8000) >= 90
    rms_ratio = np.sqrt(np.mean(settled.astype(np.float64) ** 2) / np.mean(x.astype(np.float64) ** 2))
    assert rms_ratio == pytest.approx(1.0, abs=0.002)  # unity gain through both filters


def test_6khz_at_24k_is_attenuated_60_db_going_to_8k() -> None:
    x = _tone(6000, 24000, 1.0)
    r = StreamResampler(24000, 8000)
    y, _ = _stream(r, _frames(x, 480))
    settled = y[r.delay_samples * 2 :]
    attenuation = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(settled.astype(np.float64) ** 2))
    assert attenuation >= 60


def test_output_saturates_instead_of_wrapping() -> None:
    # A full-scale square wave overshoots (Gibbs) past int16; it must clip, not wrap around.
    x = np.where((np.arange(2400) // 40) % 2 == 0, 32767, -32768).astype(np.int16)
    y = _samples(resample(_pcm(x), 8000, 24000))
    ref = signal.upfirdn(filter_taps(8000, 24000), x.astype(np.float64), 3, 1)[: y.size]
    assert ref.max() > 32767 and ref.min() < -32768
    assert np.abs(y - np.clip(np.round(ref), -32768, 32767)).max() <= 1
    assert y.max() == 32767 and y.min() == -32768


def test_reset_clears_history_and_phase() -> None:
    x = _chirp(16000, seconds=0.2)
    fresh, _ = _stream(StreamResampler(16000, 24000), _frames(x, 7))
    r = StreamResampler(16000, 24000)
    _stream(r, _frames(_tone(440, 16000, 0.1)[:1601], 7))  # leaves history and a non-zero phase
    r.reset()
    again, _ = _stream(r, _frames(x, 7))
    assert np.array_equal(again, fresh)


def test_properties() -> None:
    r = StreamResampler(44100, 8000)
    assert (r.in_rate, r.out_rate) == (44100, 8000)
    assert len(r.process(bytes(882))) == 160  # 10 ms


def test_equal_rates_pass_through() -> None:
    r = StreamResampler(8000, 8000)
    x = _pcm(_chirp(8000, seconds=0.1))
    assert r.process(x) == x
    assert r.delay_samples == 0
    assert resample(x, 24000, 24000) == x
    with pytest.raises(ValueError, match="equal rates"):
        filter_taps(8000, 8000)


def test_empty_input() -> None:
    assert StreamResampler(8000, 24000).process(b"") == b""


def test_rejects_partial_samples() -> None:
    with pytest.raises(ValueError, match="whole 2-byte samples"):
        StreamResampler(8000, 24000).process(b"\x00\x01\x02")


@pytest.mark.parametrize("rates", [(0, 8000), (8000, -1), (8000.0, 24000), (True, 8000)])
def test_rejects_bad_rates(rates: tuple[object, object]) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        StreamResampler(*rates)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive integer"):
        resample(b"", *rates)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "pair", [(11025, 16000), (22050, 8000), (96000, 8000), (8000, 44100), (44100, 48000)], ids=_ids
)
def test_wav_file_rates_keep_a_tone_intact(pair: tuple[int, int]) -> None:
    in_rate, out_rate = pair
    r = StreamResampler(in_rate, out_rate)
    y = _samples(r.process(_pcm(_tone(1000, in_rate, 0.2))))
    assert y.size == math.ceil(in_rate * 0.2 * out_rate / in_rate)
    settled = y[2 * r.delay_samples + 2 :]
    # Upsampling leaves images of the tone (e.g. at 7 kHz from 8 kHz) only as low as the >= 60 dB stopband.
    assert _sinad_db(settled, 1000, out_rate) >= 60
    assert np.sqrt(np.mean(settled.astype(np.float64) ** 2)) == pytest.approx(0.5 * 32767 / math.sqrt(2), rel=0.002)


def test_rejects_too_fine_a_ratio() -> None:
    with pytest.raises(ValueError, match="too fine a ratio"):
        StreamResampler(8001, 8000)
