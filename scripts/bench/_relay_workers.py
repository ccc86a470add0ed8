"""The relay benchmark's three processes: the bridge, the engine and the callers.

Each runs its own event loop, pinned to one core, and obeys commands from the orchestrator
(``relay.py``) over a ``multiprocessing`` pipe: a command is a tuple whose first item names it, and
every command gets exactly one reply. Every process runs a :class:`LagProbe`, so the figures can
say how late each event loop was.

Clocks: every time that crosses a process boundary is ``time.monotonic()`` (CLOCK_MONOTONIC is
system-wide on Linux; uvloop's ``loop.time()`` is too coarse to measure with). The engine mints IDs from its clock, so
it gets ``time.monotonic() + offset`` (a Unix-like time that never jumps) and its log times are
converted back before they leave the process.

The harness processes (engine, callers) run with the cyclic garbage collector off, collecting
between steps only: their heaps grow during a step (the engine's event logs, the callers'
received frames), and a collection pause there would show up as latency that is not the bridge's.
The bridge keeps the collector on: its pauses are part of what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import os
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import _relay_profile as profile
from _relay_callers import Chunk, LeanCallers

from bridge import runtime
from bridge.config import Settings
from bridge.engine.config import EngineConfig
from bridge.engine.server import EngineServer, serve_engine
from bridge.engine.session import EngineSession
from bridge.web.app import create_app
from bridge.web.asgi_server import serve_asgi

__all__ = [
    "CallRecord",
    "Chunk",
    "GcProbe",
    "LagProbe",
    "SessionRecord",
    "bridge_main",
    "callers_main",
    "engine_main",
    "harness_main",
    "pin",
]

_LAG_INTERVAL_S = 0.005
_DELTA_TYPES = ("response.output_audio.delta", "response.audio.delta")
_APPEND_TYPES = ("input_audio_buffer.append", "session.input_audio_buffer.append")
_TRACK_EVERY_S = 0.2
_CLOSE_WAIT_S = 10.0
_GOLDEN = 0.6180339887498949
_PHASE_SPREAD_S = 0.1


def pin(cpu: int, realtime: bool = False) -> None:
    """Pin this process (and the threads it starts later) to ``cpu``; ``realtime``: SCHED_FIFO if allowed.

    On a shared host, another job's process on the bridge's core delays the bridge's wake-ups, and
    that shows up as the bridge's latency; the real-time class (lowest priority, 1) runs the benchmark
    first whenever it is ready. The kernel still leaves others 5 % of each core
    (``sched_rt_runtime_us``). Without the privilege the process stays in the normal class.
    """
    os.sched_setaffinity(0, {cpu})
    if realtime:
        with contextlib.suppress(PermissionError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))


def _run(main: Coroutine[Any, Any, None], profile_to: str | None) -> None:
    """``runtime.run(main)`` (uvloop, as the commands run), under cProfile when ``profile_to`` names a file."""
    if profile_to is None:
        runtime.run(main)
        return
    profiler = cProfile.Profile()
    try:
        profiler.runcall(runtime.run, main)
    finally:
        profiler.dump_stats(profile_to)


class LagProbe:
    """How late the event loop wakes up: sleeps 5 ms at a time and records the overshoot."""

    def __init__(self) -> None:
        self._samples: list[float] = []
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()  # not loop.time(): uvloop's is in whole milliseconds
            await asyncio.sleep(_LAG_INTERVAL_S)
            self._samples.append(time.monotonic() - before - _LAG_INTERVAL_S)

    def take(self) -> list[float]:
        """The overshoots (seconds) since the last call."""
        samples, self._samples = self._samples, []
        return samples


class GcProbe:
    """The pauses of the collector's generation 1 and 2 runs (a ``gc.callbacks`` entry)."""

    def __init__(self) -> None:
        self._started = 0.0
        self._pauses: list[tuple[int, float]] = []

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if generation == 0:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append((generation, time.perf_counter() - self._started))

    def take(self) -> dict[str, Any]:
        """Counts and the longest pause (ms) per generation since the last call."""
        pauses, self._pauses = self._pauses, []
        out: dict[str, Any] = {}
        for generation in (1, 2):
            mine = [seconds for gen, seconds in pauses if gen == generation]
            out[f"gen{generation}"] = len(mine)
            out[f"gen{generation}_max_ms"] = round(max(mine) * 1000, 2) if mine else None
        return out


Handler = Callable[[tuple[Any, ...]], Awaitable[Any]]


async def _serve_commands(conn: Connection, probe: LagProbe, handlers: dict[str, Handler]) -> None:
    """Answer the orchestrator's commands until ``stop`` (or until the orchestrator is gone).

    ``lag`` is common to every process.
    """
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            inbox.put_nowait(None)  # the orchestrator died: do not outlive it
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), readable)
    # uvloop makes a watched descriptor non-blocking; the pipe's large replies need blocking writes.
    os.set_blocking(conn.fileno(), True)
    try:
        while True:
            command = await inbox.get()
            if command is None:
                return
            name = command[0]
            if name == "stop":
                conn.send(None)
                return
            if name == "lag":
                conn.send(probe.take())
            else:
                conn.send(await handlers[name](command))
    finally:
        loop.remove_reader(conn.fileno())


# -- the bridge -------------------------------------------------------------------------------------


def bridge_main(
    conn: Connection,
    cpu: int,
    realtime: bool,
    mode: profile.Mode,
    record: bool,
    archive_dir: str,
    profile_to: str | None,
) -> None:
    """The bridge: ``create_app`` on uvicorn (``serve_asgi``), as ``bridge serve`` runs it.

    Its archive (SQLite) and recordings go under ``archive_dir``; ``record`` turns the calls' stereo
    recordings on. The first message on ``conn`` is the engine's URL; the reply is the bridge's port.
    """
    pin(cpu, realtime)
    engine_url = conn.recv()
    folder = Path(archive_dir)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{folder / 'bridge.db'}", data_dir=folder / "recordings")
    _run(_bridge(conn, settings, mode, engine_url, record), profile_to)


async def _bridge(conn: Connection, settings: Settings, mode: profile.Mode, engine_url: str, record: bool) -> None:
    app = create_app(settings, engine_url=engine_url, call_config=profile.call_config(mode, record=record))
    collections = GcProbe()
    gc.callbacks.append(collections)
    runtime.settle_heap()  # as `bridge serve` does before serving
    async with serve_asgi(app) as server:
        probe = LagProbe()
        probe.start()
        conn.send(server.port)

        async def live(command: tuple[Any, ...]) -> int:
            return len(app.state.calls.live)

        async def gc_pauses(command: tuple[Any, ...]) -> dict[str, Any]:
            return collections.take()

        await _serve_commands(conn, probe, {"live": live, "gc": gc_pauses})


# -- the engine -------------------------------------------------------------------------------------


@dataclass
class SessionRecord:
    """What one engine session received and sent, in monotonic seconds.

    ``appends`` are the receive times of the caller audio, in order, with a CRC-32 of each append's
    base64 text (``crcs``: equal to the caller's media payload's in passthrough). ``deltas`` are
    ``(item_id, send time, audio bytes)`` of each audio delta in order; ``errors`` counts the
    ``error`` events sent, by code.
    """

    appends: list[float] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)
    deltas: list[tuple[str, float, int]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


class _Tracker:
    """Reads every session's event log as it grows (the engine keeps the log; this keeps figures)."""

    def __init__(self, server: EngineServer, offset: float) -> None:
        self._server = server
        self._offset = offset
        self._records: dict[str, SessionRecord] = {}
        self._read: dict[str, int] = {}
        self._collected: set[str] = set()

    async def run(self) -> None:
        while True:
            self.update()
            await asyncio.sleep(_TRACK_EVERY_S)

    def update(self) -> None:
        for session in list(self._server.sessions):
            if session.id not in self._collected:
                self._read_session(session)

    def _read_session(self, session: EngineSession) -> None:
        record = self._records.get(session.id)
        if record is None:
            record = self._records[session.id] = SessionRecord()
        entries = session.log.entries
        start = self._read.get(session.id, 0)
        self._read[session.id] = len(entries)
        offset = self._offset
        for entry in entries[start:]:
            event = entry.event
            if event is None:
                continue
            kind = event.get("type")
            if entry.direction == "received":
                if kind in _APPEND_TYPES:
                    record.appends.append(entry.time - offset)
                    record.crcs.append(zlib.crc32(str(event.get("audio", "")).encode()))
            elif kind in _DELTA_TYPES:
                delta = str(event.get("delta", ""))
                size = len(delta) * 3 // 4 - delta[-2:].count("=")
                record.deltas.append((str(event.get("item_id")), entry.time - offset, size))
            elif kind == "error":
                code = str((event.get("error") or {}).get("code"))
                record.errors[code] = record.errors.get(code, 0) + 1

    async def collect(self, timeout_s: float) -> dict[str, SessionRecord]:
        """The records of the sessions seen since the last collect, once they have all closed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._server.wait_until(lambda: all(s.closed for s in self._server.sessions))
        self.update()
        records, self._records = self._records, {}
        self._collected.update(records)
        for session_id in records:
            self._read.pop(session_id, None)
        return records


def engine_main(conn: Connection, cpu: int, realtime: bool, keep_sessions: int, profile_to: str | None) -> None:
    """The bundled engine in real time (``pace`` 1, 100 ms deltas) with the benchmark's scenario."""
    pin(cpu, realtime)
    gc.disable()
    _run(_engine(conn, keep_sessions), profile_to)


async def _engine(conn: Connection, keep_sessions: int) -> None:
    offset = time.time() - time.monotonic()
    config = EngineConfig(
        pace=1.0,
        delta_ms=100,
        scenario=profile.engine_scenario(),
        clock=lambda: time.monotonic() + offset,
        keep_log=True,
        keep_sessions=keep_sessions,
    )
    async with serve_engine(config) as server:
        probe = LagProbe()
        probe.start()
        tracker = _Tracker(server, offset)
        tracking = asyncio.create_task(tracker.run())
        conn.send(server.url)

        async def collect(command: tuple[Any, ...]) -> dict[str, SessionRecord]:
            records = await tracker.collect(_CLOSE_WAIT_S)
            gc.collect()
            return records

        try:
            await _serve_commands(conn, probe, {"collect": collect})
        finally:
            tracking.cancel()


# -- the callers ------------------------------------------------------------------------------------


@dataclass
class CallRecord:
    """One call as its caller saw it (monotonic seconds).

    Frame ``n`` (0-based) was due at ``t0 + 0.02 (n + 1)``: the scheduled send time, which is
    what Twilio would do and what latency is measured from.
    """

    index: int
    t0: float
    frames_sent: int
    ended_by: str
    protocol_errors: int
    chunks: list[Chunk]
    clears: list[float]
    failure: str | None = None


class _Callers:
    def __init__(self, url: str) -> None:
        self._callers = LeanCallers(url)
        self._calls: list[tuple[int, Any]] = []
        self._failures: list[CallRecord] = []

    async def start(self, command: tuple[Any, ...]) -> int:
        """Start ``count`` callers spread evenly over ``ramp_s``; returns once all have dialled.

        Each start is also shifted by a fraction of 100 ms (the golden-ratio sequence), so the calls'
        20 ms frames and 100 ms agent deltas fall at spread-out phases, as real calls' do. Without it an
        even spacing that is a multiple of 20 ms (4 s over 40 or 50 calls) makes every caller send at
        the same instant, and the bursts add latency that a real load would not have.
        """
        _, count, ramp_s, seconds = command
        begin = time.monotonic()

        async def one(index: int) -> None:
            phase = (index * _GOLDEN) % 1.0 * _PHASE_SPREAD_S
            await asyncio.sleep(max(0.0, begin + index * ramp_s / count + phase - time.monotonic()))
            try:
                call = await self._callers.place(profile.caller_audio(index, seconds), seed=index)
            except OSError as exc:  # a refused call is a result of the step, not a crash
                self._failures.append(CallRecord(index, time.monotonic(), 0, "failed", 0, [], [], repr(exc)))
                return
            self._calls.append((index, call))

        await asyncio.gather(*(one(index) for index in range(count)))
        return len(self._calls)

    async def hangup(self, command: tuple[Any, ...]) -> list[CallRecord]:
        """Hang up every call; the records of the step's calls."""
        outcomes = await asyncio.gather(*(self._callers.hang_up(call, _CLOSE_WAIT_S) for _, call in self._calls))
        records = list(self._failures)
        for (index, _), outcome in zip(self._calls, outcomes, strict=True):
            records.append(
                CallRecord(
                    index=index,
                    t0=outcome.t0,
                    frames_sent=outcome.frames_sent,
                    ended_by=outcome.ended_by,
                    protocol_errors=len(outcome.protocol_errors),
                    chunks=outcome.chunks,
                    clears=outcome.clears,
                )
            )
        self._calls, self._failures = [], []
        gc.collect()
        return records


def callers_main(conn: Connection, cpu: int, realtime: bool, profile_to: str | None) -> None:
    """Simulated Twilio callers (``_relay_callers.LeanCallers``, real time).

    The first message on ``conn`` is the bridge's media stream URL; the reply is ``"ready"``.
    """
    pin(cpu, realtime)
    gc.disable()
    _run(_callers(conn), profile_to)


async def _callers(conn: Connection) -> None:
    url = await asyncio.to_thread(conn.recv)  # in the harness process the engine is serving meanwhile
    probe = LagProbe()
    probe.start()
    callers = _Callers(url)
    conn.send("ready")
    await _serve_commands(conn, probe, {"start": callers.start, "hangup": callers.hangup})


# -- the engine and the callers in one process --------------------------------------------------------


def harness_main(
    engine_conn: Connection,
    callers_conn: Connection,
    cpu: int,
    realtime: bool,
    keep_sessions: int,
    profile_to: str | None,
) -> None:
    """The engine and the callers in one process and event loop, for when they share a core.

    Two processes on one core pay a context switch for nearly every frame that crosses between
    them through the bridge, and each wakes for its own share of the same events; one loop serves
    both per wake-up. Each keeps its own command pipe, so the orchestrator talks to them as before.
    """
    pin(cpu, realtime)
    gc.disable()
    _run(_harness(engine_conn, callers_conn, keep_sessions), profile_to)


async def _harness(engine_conn: Connection, callers_conn: Connection, keep_sessions: int) -> None:
    await asyncio.gather(_engine(engine_conn, keep_sessions), _callers(callers_conn))
