"""Audio hot-path micro-benchmark: median microseconds per 20 ms frame, printed as one JSON line.

    .venv/bin/python scripts/bench/audio.py [--repeats 21] [--min-repeat-ms 20] [--cpu N]

Each figure is the median over ``--repeats`` timed repeats (time.perf_counter_ns); a repeat calls the
operation on 50 distinct frames in turn, looping for at least ``--min-repeat-ms``. Repeats of all the
cases are interleaved, on one pinned core with single-threaded BLAS. Resamplers run in steady state
(state carried across frames, as in a call). Besides the shipped code it times the alternatives that
code was chosen over, after checking that each produces the same output, so the comparison is like
for like.
"""

from __future__ import annotations

import os

# Before numpy loads: a BLAS thread pool only adds noise to frame-sized products.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402 - after the BLAS setting above
import base64  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Protocol, TypeVar  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from scipy import signal  # noqa: E402

from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16  # noqa: E402
from bridge.audio.resample import StreamResampler, filter_taps  # noqa: E402

FRAMES = 50  # distinct 20 ms frames per repeat, so consecutive calls never see the same bytes object
T = TypeVar("T")
# The figures docs/benchmarks.md tracks against targets, first in the output.
_REQUIRED = (
    "ulaw_decode",
    "ulaw_encode",
    "resample_8k_24k",
    "resample_24k_8k",
    "pcm16_path",
    "twilio_parse_realtime_append",
)


Timer = Callable[[int], tuple[int, int]]  # loops -> (elapsed ns, calls)


def _timer(op: Callable[[T], object], inputs: list[T]) -> Timer:
    """Times ``loops`` passes of ``op`` over every input."""

    def timed(loops: int) -> tuple[int, int]:
        start = time.perf_counter_ns()
        for _ in range(loops):
            for item in inputs:
                op(item)
        return time.perf_counter_ns() - start, loops * len(inputs)

    return timed


def _measure(timers: dict[str, Timer], repeats: int, min_repeat_ns: int) -> dict[str, float]:
    """Median microseconds per call for each timer.

    Repeats are interleaved (one of each case per round) so a slow phase of a shared host hits every
    case alike instead of whichever happened to run during it.
    """
    loops = {}
    for name, timed in timers.items():  # calibrate; this also warms caches and lazily built state
        n = 1
        while timed(n)[0] < min_repeat_ns:
            n *= 2
        loops[name] = n
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timed in timers.items():
            elapsed, calls = timed(loops[name])
            samples[name].append(elapsed / calls / 1000)
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


def _signal(rate: int, seconds: float) -> NDArray[np.int16]:
    # Speech-like test signal: a 100-3800 Hz chirp with a little noise, at about -6 dBFS.
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(7)
    x: NDArray[np.float64] = 0.45 * signal.chirp(t, f0=100, t1=seconds, f1=3800) + 0.05 * rng.standard_normal(t.size)
    return np.round(x * 32767).astype(np.int16)


def _frames(x: NDArray[np.int16], size: int) -> list[bytes]:
    return [x[i : i + size].astype("<i2").tobytes() for i in range(0, size * FRAMES, size)]


class _Resampler(Protocol):
    def process(self, pcm: bytes) -> bytes: ...


class _ConvolveResampler:
    """Alternative: the same filter as polyphase branches, one np.convolve per branch, with history."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self._up = max(1, out_rate // in_rate)
        self._down = max(1, in_rate // out_rate)
        taps = filter_taps(in_rate, out_rate)
        padded = np.zeros(-(-taps.size // self._up) * self._up, dtype=np.float32)
        padded[: taps.size] = taps
        self._branches = [padded[p :: self._up] for p in range(self._up)]
        self._history = np.zeros(padded.size // self._up - 1, dtype=np.float32)

    def process(self, pcm: bytes) -> bytes:
        x = np.concatenate([self._history, np.frombuffer(pcm, dtype="<i2").astype(np.float32)])
        self._history = x[x.size - self._history.size :]
        if self._down == 1:
            y = np.empty((x.size - self._history.size, self._up), dtype=np.float32)
            for p, branch in enumerate(self._branches):
                y[:, p] = np.convolve(x, branch, mode="valid")
            out = y.reshape(-1)
        else:
            out = np.convolve(x, self._branches[0], mode="valid")[:: self._down]
        return bytes(np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes())


class _UpfirdnResampler:
    """Alternative: scipy.signal.upfirdn over history + frame, keeping the new samples."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self._up = max(1, out_rate // in_rate)
        self._down = max(1, in_rate // out_rate)
        self._taps = filter_taps(in_rate, out_rate)
        self._history = np.zeros(-(-self._taps.size // self._up) - 1)

    def process(self, pcm: bytes) -> bytes:
        new = np.frombuffer(pcm, dtype="<i2")
        x = np.concatenate([self._history, new])
        self._history = x[x.size - self._history.size :]
        y = signal.upfirdn(self._taps, x, self._up, self._down)
        first = -(-self._history.size * self._up // self._down)
        count = new.size * self._up // self._down
        return bytes(np.clip(np.rint(y[first : first + count]), -32768, 32767).astype("<i2").tobytes())


def _same_output(alternative: _Resampler, in_rate: int, out_rate: int, frames: list[bytes]) -> None:
    shipped = StreamResampler(in_rate, out_rate)
    for frame in frames:
        ours = np.frombuffer(shipped.process(frame), dtype="<i2").astype(np.int32)
        theirs = np.frombuffer(alternative.process(frame), dtype="<i2").astype(np.int32)
        if ours.size != theirs.size or np.abs(ours - theirs).max() > 1:
            raise SystemExit(f"{type(alternative).__name__} {in_rate}->{out_rate} does not match StreamResampler")


def _twilio_media(payload: bytes) -> bytes:
    # A Twilio inbound media message as it arrives (PROTOCOLS.md C.1).
    b64 = base64.b64encode(payload).decode()
    return (
        '{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5",'
        f'"payload":"{b64}"}},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}}'
    ).encode()


def _twilio_append_op() -> Callable[[bytes], str] | None:
    # Written in parallel by other engineers: report null until both modules exist.
    try:
        from bridge.realtime.events import InputAudioBufferAppend, dump_client_event
        from bridge.telephony.twilio.protocol import parse_inbound
    except ImportError:
        return None

    def op(raw: bytes) -> str:
        msg = parse_inbound(raw)
        return dump_client_event(InputAudioBufferAppend(audio=msg.payload), "ga")  # type: ignore[union-attr]

    return op


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--min-repeat-ms", type=float, default=20.0)
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the highest allowed)")
    args = parser.parse_args(argv)

    cpu = None
    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})

    pcm8 = _frames(_signal(8000, 1.0), 160)
    pcm24 = _frames(_signal(24000, 1.0), 480)
    ulaw = [pcm16_to_ulaw(frame) for frame in pcm8]

    # numpy lookup tables, built from and checked bit-exact against the shipped codec on every input.
    all_codes = bytes(range(256))
    all_pcm = np.arange(65536, dtype="<u2")
    decode_table: NDArray[np.int16] = np.frombuffer(ulaw_to_pcm16(all_codes), dtype="<i2")
    encode_table: NDArray[np.uint8] = np.frombuffer(pcm16_to_ulaw(all_pcm.tobytes()), dtype=np.uint8)

    def decode_lut(frame: bytes) -> bytes:
        return decode_table[np.frombuffer(frame, dtype=np.uint8)].tobytes()

    def encode_lut(frame: bytes) -> bytes:
        index: NDArray[np.uint16] = np.frombuffer(frame, dtype="<u2")  # int16 bits as a table index
        return encode_table[index].tobytes()

    pcm_values = all_pcm.tobytes()
    if decode_lut(all_codes) != ulaw_to_pcm16(all_codes) or encode_lut(pcm_values) != pcm16_to_ulaw(pcm_values):
        raise SystemExit("numpy lookup tables are not bit-exact")
    for in_rate, out_rate, frames in ((8000, 24000, pcm8), (24000, 8000, pcm24)):
        _same_output(_ConvolveResampler(in_rate, out_rate), in_rate, out_rate, frames)
        _same_output(_UpfirdnResampler(in_rate, out_rate), in_rate, out_rate, frames)

    up, down = StreamResampler(8000, 24000), StreamResampler(24000, 8000)
    path_up, path_down = StreamResampler(8000, 24000), StreamResampler(24000, 8000)

    def pcm16_path(pair: tuple[bytes, bytes]) -> None:
        path_up.process(ulaw_to_pcm16(pair[0]))  # caller -> model
        pcm16_to_ulaw(path_down.process(pair[1]))  # model -> caller

    timers = {
        "ulaw_decode": _timer(ulaw_to_pcm16, ulaw),
        "ulaw_encode": _timer(pcm16_to_ulaw, pcm8),
        "resample_8k_24k": _timer(up.process, pcm8),
        "resample_24k_8k": _timer(down.process, pcm24),
        "pcm16_path": _timer(pcm16_path, list(zip(ulaw, pcm24, strict=True))),
        # The alternatives the shipped code was chosen over (same output, checked above).
        "ulaw_decode_numpy_lut": _timer(decode_lut, ulaw),
        "ulaw_encode_numpy_lut": _timer(encode_lut, pcm8),
        "resample_8k_24k_np_convolve": _timer(_ConvolveResampler(8000, 24000).process, pcm8),
        "resample_24k_8k_np_convolve": _timer(_ConvolveResampler(24000, 8000).process, pcm24),
        "resample_8k_24k_upfirdn": _timer(_UpfirdnResampler(8000, 24000).process, pcm8),
        "resample_24k_8k_upfirdn": _timer(_UpfirdnResampler(24000, 8000).process, pcm24),
    }
    twilio = _twilio_append_op()
    if twilio is not None:
        timers["twilio_parse_realtime_append"] = _timer(twilio, [_twilio_media(frame) for frame in ulaw])
    figures = _measure(timers, args.repeats, int(args.min_repeat_ms * 1e6))

    result: dict[str, object] = {"unit": "us_per_20ms_frame", "cpu": cpu}
    for name in (*_REQUIRED, *timers):
        result[name] = figures.get(name)  # twilio_parse_realtime_append is null until its modules exist
    result["python"] = sys.version.split()[0]
    result["numpy"] = np.__version__
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
