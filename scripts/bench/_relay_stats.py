"""The relay benchmark's arithmetic: CPU from /proc, and latencies from the callers' and engine's records.

Latency is measured on one clock (CLOCK_MONOTONIC) across processes, in each direction:

* caller -> engine: from the moment the caller was due to send a media frame (Twilio sends frame
  ``n`` at ``20 (n + 1)`` ms) to the engine taking the matching ``input_audio_buffer.append`` off
  its inbox. Frames and appends are matched by position: the bridge forwards every frame once, in
  order (``CallSession`` holds early frames until the session is configured and then sends them
  all). In passthrough each append must carry the frame's exact payload, which is checked.
* engine -> caller: from the engine putting an audio delta on the wire to the caller receiving the
  media message made of it. The bridge sends each delta as one media message followed by a mark
  naming the item and the bytes of it sent so far, so an item's chunk is matched to the delta after
  which the engine had sent that many bytes of the item (24 kHz PCM16 bytes / 6 in pcm16 mode); a
  chunk that matches no delta counts as a match error.

Both include both loopback hops and the harness's own event-loop delays (reported separately).
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _relay_profile import FRAME_BYTES, FRAME_MS, Mode
from _relay_workers import CallRecord, SessionRecord

__all__ = ["CoreTimes", "StepFigures", "core_times", "figures", "percentiles", "process_cpu_s"]

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_SILENT_FRAME = b"\xff" * FRAME_BYTES
# The 24 kHz PCM16 the engine sends in pcm16 mode is 6 bytes for each mu-law byte the caller gets.
_PCM16_RATIO = {"passthrough": 1, "pcm16": 6}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


@dataclass(frozen=True, slots=True)
class CoreTimes:
    """One core's cumulative times from /proc/stat, in seconds."""

    busy: float
    total: float
    steal: float


def core_times(cpu: int) -> CoreTimes:
    """The cumulative busy, total and stolen time of core ``cpu``."""
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, *values = line.split()
            if name == f"cpu{cpu}":
                ticks = [int(v) for v in values]
                idle = ticks[3] + ticks[4]  # idle + iowait
                total = sum(ticks[:8])  # guest time is already counted in user
                return CoreTimes((total - idle) * _TICK_S, total * _TICK_S, ticks[7] * _TICK_S)
    raise LookupError(f"no cpu{cpu} in /proc/stat")


def percentiles(seconds: Sequence[float]) -> dict[str, Any]:
    """p50, p99 and max of ``seconds`` in milliseconds (None when there are no samples), and the count."""
    if not seconds:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "n": 0}
    p50, p99 = np.percentile(np.asarray(seconds) * 1000.0, [50, 99])
    return {
        "p50_ms": round(float(p50), 2),
        "p99_ms": round(float(p99), 2),
        "max_ms": round(max(seconds) * 1000, 2),
        "n": len(seconds),
    }


@dataclass
class StepFigures:
    """Latencies and checks of one step's steady window."""

    up: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)
    up_missing: int = 0
    up_payload_mismatches: int = 0
    down_unmatched: int = 0
    down_not_delivered: int = 0
    agent_audio_s: float = 0.0
    barge_ins: int = 0
    protocol_errors: int = 0
    calls_ok: int = 0
    failures: list[str] = field(default_factory=list)
    engine_errors: dict[str, int] = field(default_factory=dict)


def _item_sessions(sessions: dict[str, SessionRecord]) -> dict[str, SessionRecord]:
    return {item_id: record for record in sessions.values() for item_id, _, _ in record.deltas}


def _frame_crc(audio: bytes, n: int) -> int:
    frame = audio[n * FRAME_BYTES : (n + 1) * FRAME_BYTES]
    frame += _SILENT_FRAME[len(frame) :]
    return zlib.crc32(base64.b64encode(frame))


def _up(
    call: CallRecord, session: SessionRecord, window: tuple[float, float], audio: bytes | None, out: StepFigures
) -> None:
    start, end = window
    first = max(0, int((start - call.t0) * 1000 / FRAME_MS) - 1)
    for n in range(first, call.frames_sent):
        due = call.t0 + (n + 1) * FRAME_MS / 1000.0
        if due < start:
            continue
        if due >= end:
            break
        if n >= len(session.appends):
            out.up_missing += 1
            continue
        out.up.append(session.appends[n] - due)
        if audio is not None and session.crcs[n] != _frame_crc(audio, n):
            out.up_payload_mismatches += 1


def _down(
    call: CallRecord,
    sessions_by_item: dict[str, SessionRecord],
    window: tuple[float, float],
    ratio: int,
    out: StepFigures,
) -> None:
    start, end = window
    by_item: dict[str, dict[int, float]] = {}
    for chunk in call.chunks:
        by_item.setdefault(chunk.item_id, {})[chunk.end_offset] = chunk.at
    for item_id, received in by_item.items():
        session = sessions_by_item.get(item_id)
        if session is None:
            out.down_unmatched += len(received)
            continue
        sent = 0
        matched = 0
        for item, at, size in session.deltas:
            if item != item_id:
                continue
            sent += size
            arrived = received.get(sent // ratio)
            if arrived is None:
                if start <= at < end:
                    out.down_not_delivered += 1  # cut by a barge-in, or in flight at hang-up
                continue
            matched += 1
            if start <= at < end:
                out.down.append(arrived - at)
        out.down_unmatched += len(received) - matched


def figures(
    calls: Iterable[CallRecord],
    sessions: dict[str, SessionRecord],
    window: tuple[float, float],
    mode: Mode,
    audio_of: Callable[[int], bytes],
) -> StepFigures:
    """Match the callers' records with the engine's over ``window`` (monotonic seconds)."""
    out = StepFigures()
    start, end = window
    by_item = _item_sessions(sessions)
    for record in sessions.values():
        for code, count in record.errors.items():
            out.engine_errors[code] = out.engine_errors.get(code, 0) + count
    for call in calls:
        if call.failure is not None or call.ended_by != "hangup":
            out.failures.append(f"call {call.index}: {call.failure or 'ended by ' + call.ended_by}")
            continue
        session = by_item.get(call.chunks[0].item_id) if call.chunks else None
        if session is None:
            out.failures.append(f"call {call.index}: no agent audio, so no engine session to match")
            continue
        out.calls_ok += 1
        out.protocol_errors += call.protocol_errors
        _up(call, session, window, audio_of(call.index) if mode == "passthrough" else None, out)
        _down(call, by_item, window, _PCM16_RATIO[mode], out)
        out.agent_audio_s += sum(c.nbytes for c in call.chunks if start <= c.at < end) / 8000.0
        out.barge_ins += sum(1 for at in call.clears if start <= at < end)
    return out
