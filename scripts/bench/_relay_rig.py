"""The relay benchmark's rig: its three processes, and one step of calls measured.

:class:`Rig` starts the bridge, the engine and the callers (``_relay_workers.py``) for one audio mode,
each pinned to its core; :meth:`Rig.step` runs one step of concurrent calls and returns its figures
(``relay.py`` documents them).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import _relay_profile as profile
from _relay_stats import CoreTimes, core_times, figures, percentiles, process_cpu_s
from _relay_workers import CallRecord, SessionRecord, bridge_main, callers_main, engine_main, harness_main

__all__ = ["Channel", "Plan", "Rig", "Worker", "reference_loop_us"]

_REPLY_TIMEOUT_S = 120.0
_DRAIN_TIMEOUT_S = 30.0
_QUIET = 0.15  # a core this busy (before a step) counts as idle
_QUIET_SAMPLE_S = 0.5
_REFERENCE_ITERATIONS = 10_000


class Channel:
    """A command pipe to one role (bridge, engine, callers) in a benchmark process."""

    def __init__(self, name: str, conn: Connection, worker: Worker) -> None:
        self.name = name
        self._conn = conn
        self.worker = worker

    @property
    def pid(self) -> int:
        return self.worker.pid

    def reply(self, timeout: float = _REPLY_TIMEOUT_S) -> Any:
        try:
            if self._conn.poll(timeout):
                return self._conn.recv()
        except (EOFError, OSError):
            raise SystemExit(f"relay: the {self.name} process died (exit code {self.worker.exitcode})") from None
        raise SystemExit(f"relay: the {self.name} process did not answer within {timeout:.0f} s")

    def send(self, value: Any) -> None:
        self._conn.send(value)

    def ask(self, *command: Any, timeout: float = _REPLY_TIMEOUT_S) -> Any:
        """Send a command (its name, then its arguments) and wait for the reply."""
        self.send(command)
        return self.reply(timeout)

    def close(self) -> None:
        self._conn.close()


class Worker:
    """One benchmark process and a command pipe per role it plays (``roles``, default its name)."""

    def __init__(self, name: str, target: Any, *args: Any, roles: Sequence[str] = ()) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        pipes = [context.Pipe() for _ in roles or (name,)]
        children = [child for _, child in pipes]
        self.process: BaseProcess = context.Process(target=target, args=(*children, *args), name=name, daemon=True)
        self.process.start()
        for child in children:
            child.close()
        self.channels = [Channel(role, conn, self) for role, (conn, _) in zip(roles or (name,), pipes, strict=True)]

    @property
    def pid(self) -> int:
        pid = self.process.pid
        assert pid is not None
        return pid

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    def stop(self) -> None:
        if self.process.is_alive():
            for channel in self.channels:
                try:
                    channel.ask("stop", timeout=10)
                except (SystemExit, OSError, EOFError):
                    pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        for channel in self.channels:
            channel.close()


@dataclass(frozen=True)
class Plan:
    """What to run: the steps of calls and the timing of each step."""

    steps: tuple[int, ...]
    ramp_s: float
    warmup_s: float
    seconds: float
    limit_ms: float
    record: bool
    bridge_cpu: int
    engine_cpu: int
    callers_cpu: int
    attempts: int = 2
    quiet_wait_s: float = 60.0
    realtime: bool = False
    profile: str | None = None
    profile_dir: str = "."

    @property
    def harness_cpus(self) -> tuple[int, ...]:
        return tuple(sorted({self.engine_cpu, self.callers_cpu}))

    def profile_to(self, role: str, mode: str) -> str | None:
        """Where the cProfile stats of ``role``'s process go, if it is the one profiled."""
        if self.profile != role:
            return None
        return os.path.join(self.profile_dir, f"relay-{role}-{mode}.prof")


@dataclass(frozen=True)
class _Usage:
    wall: float
    bridge: float
    harness: dict[str, float]  # by process: "engine" and "callers", or one "harness" running both
    bridge_core: CoreTimes
    harness_cores: tuple[CoreTimes, ...]


class Rig:
    """The three processes for one audio mode."""

    def __init__(self, mode: profile.Mode, plan: Plan) -> None:
        self.mode = mode
        self.plan = plan
        keep = 2 * max(plan.steps) + 16  # sessions of the step before stay readable until the next one starts
        # All start at once; the bridge then needs the engine's URL, the callers the bridge's.
        if plan.engine_cpu == plan.callers_cpu:
            harness = Worker(
                "harness",
                harness_main,
                plan.engine_cpu,
                plan.realtime,
                keep,
                plan.profile_to("harness", mode),
                roles=("engine", "callers"),
            )
            self.engine, self.callers = harness.channels
            self._harness = [harness]
        else:
            engine = Worker(
                "engine", engine_main, plan.engine_cpu, plan.realtime, keep, plan.profile_to("engine", mode)
            )
            callers = Worker("callers", callers_main, plan.callers_cpu, plan.realtime, plan.profile_to("callers", mode))
            (self.engine,), (self.callers,) = engine.channels, callers.channels
            self._harness = [callers, engine]
        self._archive = tempfile.TemporaryDirectory(prefix="relay-archive-")
        bridge = Worker(
            "bridge",
            bridge_main,
            plan.bridge_cpu,
            plan.realtime,
            mode,
            plan.record,
            self._archive.name,
            plan.profile_to("bridge", mode),
        )
        (self.bridge,) = bridge.channels
        # Stopped in this order: the callers hang up before the bridge and the engine go.
        self._workers = [self._harness[0], bridge, *self._harness[1:]]
        self.bridge.send(self.engine.reply())
        self.callers.send(f"ws://127.0.0.1:{self.bridge.reply()}/twilio/media")
        self.callers.reply()
        # What the bridge got, not what it asked for.
        self.scheduler = "fifo" if os.sched_getscheduler(self.bridge.pid) == os.SCHED_FIFO else "normal"
        self._audio: dict[int, bytes] = {}

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._archive.cleanup()

    def _usage(self) -> _Usage:
        return _Usage(
            time.monotonic(),
            process_cpu_s(self.bridge.pid),
            {worker.name: process_cpu_s(worker.pid) for worker in self._harness},
            core_times(self.plan.bridge_cpu),
            tuple(core_times(cpu) for cpu in self.plan.harness_cpus),
        )

    def _audio_of(self, index: int) -> bytes:
        if index not in self._audio:
            self._audio[index] = profile.caller_audio(index, self._call_seconds)
        return self._audio[index]

    @property
    def _call_seconds(self) -> float:
        plan = self.plan
        return plan.ramp_s + plan.warmup_s + plan.seconds + 5.0

    def step(self, calls: int) -> dict[str, Any]:
        """Run one step of ``calls`` concurrent calls; its figures."""
        plan = self.plan
        host_busy = _wait_quiet((plan.bridge_cpu, *plan.harness_cpus), plan.quiet_wait_s)
        reference = reference_loop_us(plan.bridge_cpu)
        begin = time.monotonic()
        started = self.callers.ask("start", calls, plan.ramp_s, self._call_seconds)
        window_start = begin + plan.ramp_s + plan.warmup_s
        time.sleep(max(0.0, window_start - time.monotonic()))
        for worker in (self.bridge, self.engine, self.callers):
            worker.ask("lag")  # forget the lateness of the ramp
        self.bridge.ask("gc")
        before = self._usage()
        time.sleep(plan.seconds)
        after = self._usage()
        lags = {worker.name: worker.ask("lag") for worker in (self.bridge, self.engine, self.callers)}
        collections = self.bridge.ask("gc")
        records: list[CallRecord] = self.callers.ask("hangup")
        self._wait_drained()
        sessions: dict[str, SessionRecord] = self.engine.ask("collect")
        window = (before.wall, after.wall)
        found = figures(records, sessions, window, self.mode, self._audio_of)
        wall = after.wall - before.wall
        bridge_cpu_s = after.bridge - before.bridge
        frames = calls * wall * 1000.0 / profile.FRAME_MS
        up, down = percentiles(found.up), percentiles(found.down)
        harness_busy = max(_busy(b, a) for b, a in zip(before.harness_cores, after.harness_cores, strict=True))
        steal = after.bridge_core.steal - before.bridge_core.steal
        passed = (
            started == calls
            and not found.failures
            and found.up_missing == 0
            and found.up_payload_mismatches == 0
            and found.down_unmatched == 0
            and found.protocol_errors == 0
            and up["p99_ms"] is not None
            and down["p99_ms"] is not None
            and up["p99_ms"] < plan.limit_ms
            and down["p99_ms"] < plan.limit_ms
        )
        return {
            "calls": calls,
            "passed": passed,
            "host_busy_before": round(host_busy, 3),
            "reference_loop_us": reference,
            "cpu_us_per_call_per_20ms": round(bridge_cpu_s * 1e6 / frames, 1),
            "bridge_cpu_fraction": round(bridge_cpu_s / wall, 3),
            "caller_to_engine": up,
            "engine_to_caller": down,
            "bridge_loop_lag": percentiles(lags["bridge"]),
            "bridge_gc": collections,
            "engine_loop_lag": percentiles(lags["engine"]),
            "callers_loop_lag": percentiles(lags["callers"]),
            "harness_cpu_fraction": {
                **{name: round((after.harness[name] - cpu) / wall, 3) for name, cpu in before.harness.items()},
                "core_busy": round(harness_busy, 3),
            },
            "bridge_core_busy": round(_busy(before.bridge_core, after.bridge_core), 3),
            "bridge_core_steal": round(steal / wall, 3),
            "agent_talk_fraction": round(found.agent_audio_s / (calls * wall), 3),
            "barge_ins": found.barge_ins,
            "calls_ok": found.calls_ok,
            "frames_missing": found.up_missing,
            "chunks_not_delivered": found.down_not_delivered,
            "match_errors": found.up_payload_mismatches + found.down_unmatched,
            "protocol_errors": found.protocol_errors,
            "engine_errors": found.engine_errors,
            "failures": found.failures[:5],
            "window_s": round(wall, 2),
        }

    def _wait_drained(self) -> None:
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        while self.bridge.ask("live") and time.monotonic() < deadline:
            time.sleep(0.1)


def _wait_quiet(cpus: Sequence[int], max_wait_s: float) -> float:
    """Wait, up to ``max_wait_s``, for a moment in which the benchmark's cores are all nearly idle.

    The host is shared: a test suite started by someone else on the bridge's core makes a step fail
    for reasons that are not the bridge's. Returns the busiest core's load in the last second.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before = [core_times(cpu) for cpu in cpus]
        time.sleep(_QUIET_SAMPLE_S)
        busy = max(_busy(b, core_times(cpu)) for b, cpu in zip(before, cpus, strict=True))
        if busy < _QUIET or time.monotonic() >= deadline:
            return busy


def reference_loop_us(cpu: int) -> float:
    """How fast the host is right now: the best of 5 runs of a fixed pure-Python loop on ``cpu``, in µs.

    The host is a shared VM whose speed drifts (shared PERFORMANCE.md saw a reference loop range
    over 10-38 µs); figures from runs whose reference differs are not comparable as they stand.
    """
    home = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter_ns()
            total = 0
            for i in range(_REFERENCE_ITERATIONS):
                total += i * i
            best = min(best, (time.perf_counter_ns() - start) / 1000)
        return round(best, 1)
    finally:
        os.sched_setaffinity(0, home)


def _busy(before: CoreTimes, after: CoreTimes) -> float:
    total = after.total - before.total
    return (after.busy - before.busy) / total if total > 0 else 0.0
