"""Call recorder hot-path benchmark: microseconds per 20 ms frame, printed as one JSON line.

    .venv/bin/python scripts/bench/recorder.py [--seconds 60] [--runs 5] [--cpu N]

Plays a recorded call through :class:`~bridge.call.recorder.CallRecorder` as a runner would: every 20 ms a
caller frame (160 bytes) and 20 ms of agent audio (sent as a 100 ms delta every fifth frame while the
agent talks, half of the time), a note every 500 ms, and a ``clear`` every 10 s. Each hot-path call is
timed on its own (``time.perf_counter_ns``), so the figures include the once-a-second hand-over (taking
the mu-law block and submitting the operations) that one frame a second triggers (also shown alone as
``flush_tick``), but not the worker thread's decoding and file write: those are timed per one-second
block (``block_write_ms``). Between
simulated seconds the loop waits for the block to be written (outside the timings). Medians over runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from bridge.archive.records import WriteOp
from bridge.audio.wav import StreamingWavWriter
from bridge.call.actions import Note
from bridge.call.config import CallConfig
from bridge.call.recorder import CallEnd, CallRecorder
from bridge.call.recording import RATE, append_wav
from bridge.call.session import CallSession
from bridge.telephony.events import CallStarted

FRAME = bytes(range(1, 161))
DELTA = bytes(range(100, 228)) * 6 + bytes(32)  # 800 bytes: 100 ms of agent audio


class NullQueue:
    def __init__(self) -> None:
        self.ops = 0

    def submit(self, op: WriteOp) -> bool:
        self.ops += 1
        return True


async def one_call(seconds: int, folder: Path) -> dict[str, list[int]]:
    timings: dict[str, list[int]] = {"caller_audio": [], "agent_audio": [], "observe": [], "flush_tick": []}
    recorder = CallRecorder(NullQueue(), recordings_dir=folder)
    recorder.start(CallSession(CallConfig(), now=0.0))
    recorder.call_started(CallStarted("CA1", "MZ1"), 5.0)
    await recorder.idle()
    clock = time.perf_counter_ns
    for n in range(seconds * 50):
        at = 25.0 + 20 * n
        t = clock()
        recorder.caller_audio(FRAME, at, 20 * n)
        elapsed = clock() - t
        timings["caller_audio"].append(elapsed)
        if n % 50 == 49:  # this frame's time (25 + 20n ms) is when the next hand-over is due
            timings["flush_tick"].append(elapsed)
        if (n // 100) % 2 == 0 and n % 5 == 0:
            t = clock()
            recorder.agent_audio(DELTA, at)
            timings["agent_audio"].append(clock() - t)
        if n % 25 == 0:
            t = clock()
            recorder.observe(Note("turn", round(at), {"event": "speech_started"}))
            timings["observe"].append(clock() - t)
        if n % 500 == 499:
            recorder.agent_clear(at)
        if n % 50 == 49:
            await recorder.idle()
    await recorder.finish(CallEnd("caller_hangup"), 25.0 + 20 * seconds * 50)
    return timings


def block_write_ms(folder: Path) -> float:
    caller = bytes(range(256)) * 31 + bytes(64)  # 8000 samples: one second
    with StreamingWavWriter(folder / "block.wav", RATE, channels=2) as wav:
        times = []
        for _ in range(20):
            t = time.perf_counter_ns()
            append_wav(wav, caller, caller)
            times.append(time.perf_counter_ns() - t)
    return statistics.median(times) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the highest allowed)")
    args = parser.parse_args(argv)
    cpu = None
    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    runs: list[dict[str, list[int]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(args.runs):
            runs.append(asyncio.run(one_call(args.seconds, folder)))
        block = block_write_ms(folder)

    def figure(name: str, stat: str) -> float:
        values = []
        for run in runs:
            ns = sorted(run[name])
            if stat == "mean":
                values.append(statistics.fmean(ns))
            elif stat == "median":
                values.append(statistics.median(ns))
            else:
                values.append(max(ns))
        return round(statistics.median(values) / 1000, 2)

    result: dict[str, object] = {"unit": "us_per_call", "cpu": cpu, "seconds": args.seconds, "runs": args.runs}
    # One 20 ms frame: a caller frame plus a fifth of a 100 ms agent delta (the agent talks half the time).
    result["per_frame_mean"] = round(figure("caller_audio", "mean") + figure("agent_audio", "mean") / 10, 2)
    for name in ("caller_audio", "agent_audio", "observe", "flush_tick"):
        result[f"{name}_median"] = figure(name, "median")
        result[f"{name}_mean"] = figure(name, "mean")
        result[f"{name}_max"] = figure(name, "max")
    result["block_write_ms"] = round(block, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
