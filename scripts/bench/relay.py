"""Relay capacity: how many concurrent calls one core of the bridge holds, printed as one JSON line per mode.

    .venv/bin/python scripts/bench/relay.py [--mode passthrough|pcm16|both] [--calls N | --step 20 --max-calls N]
                                            [--seconds 12] [--realtime] [--record] [--quick] [--bridge-cpu N]

Three processes (``_relay_workers.py``, run by ``_relay_rig.py``): the bridge (``create_app`` served by
uvicorn, as ``bridge serve`` runs it, with its archive in a temporary folder) pinned alone to one core;
the bundled engine in real time and the simulated Twilio callers (``bridge.sim.caller.Caller``) pinned
to the other core (to two others when there are more). The load profile is in ``_relay_profile.py``:
every caller streams 20 ms frames all the time, the agent talks about half the time in 100 ms deltas,
and a third of the turns are barged in on.

The calls step up (20, 40, 50, 60, 80, ...). Before each step the script waits (``--quiet-wait``) for
the cores to be idle and times a reference loop on the bridge's core (the host's speed drifts). The
step's calls start spread over ``--ramp`` seconds (and over the phases of a 20 ms frame and a 100 ms
delta), settle for ``--warmup`` seconds, and are measured over ``--seconds``:

* the bridge process's CPU (``/proc/PID/stat`` utime + stime, all threads) per call per 20 ms;
* added latency, caller -> engine and engine -> caller, p50/p99/max over every frame and chunk of
  the window, from outside the bridge on CLOCK_MONOTONIC (``_relay_stats.py`` says how);
* inside the bridge: its event loop's lateness (a task that sleeps 5 ms at a time: the queueing
  delay every frame waiting in the bridge shares) and its garbage collector's pauses;
* the harness's own event-loop lateness and core load, so a harness that falls behind is not
  mistaken for the bridge.

A step passes when both directions' p99 stays under ``--limit-ms`` (20), every call lasted, no frame
was lost, the callers saw no protocol error and every frame and chunk matched. A failed step is tried
again (``--attempts``); stepping stops at the first step that fails every try. ``max_calls`` is the
largest passing step, and ``limited_by`` says whose time the failing step ran out of (``harness``
when the bridge's own loop stayed prompt). ``projected_calls_at_85pct_cpu`` scales the largest
passing step's bridge CPU to 85 % of the core: a projection for when the harness runs out first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import _relay_profile as profile
from _relay_rig import Plan, Rig
from _relay_workers import pin

MODES: tuple[profile.Mode, ...] = ("passthrough", "pcm16")
TARGET_CALLS = {"passthrough": 80, "pcm16": 60}
TARGET_P99_MS_AT_50 = 10.0
# Busy time of the bridge's core beyond the bridge process's own CPU above which a failing step
# (outside SCHED_FIFO) is put down to other jobs sharing the core.
_OTHER_LOAD = 0.25
# The bridge's core fraction the projection of capacity is made at: failure comes abruptly near
# saturation (shared PERFORMANCE.md), so not at 100 %.
_PROJECT_AT = 0.85


def _brief(step: dict[str, Any] | None) -> dict[str, Any] | None:
    if step is None:
        return None
    keys = ("calls", "cpu_us_per_call_per_20ms", "bridge_cpu_fraction", "caller_to_engine", "engine_to_caller")
    return {key: step[key] for key in keys} | {"bridge_loop_lag_p99_ms": step["bridge_loop_lag"]["p99_ms"]}


def run_mode(mode: profile.Mode, plan: Plan, *, verbose: bool) -> dict[str, Any]:
    """Step the calls up for one audio mode; the mode's JSON object."""
    rig = Rig(mode, plan)
    steps: list[dict[str, Any]] = []
    scheduler = rig.scheduler
    try:
        for calls in plan.steps:
            for attempt in range(1, plan.attempts + 1):
                step = rig.step(calls) | {"attempt": attempt}
                if verbose:
                    print(_progress(mode, step), file=sys.stderr, flush=True)
                if step["passed"]:
                    break
            steps.append(step)
            if not step["passed"]:
                break
    finally:
        rig.close()
    passing = [s for s in steps if s["passed"]]
    best = passing[-1] if passing else None
    failed = steps[-1] if steps and not steps[-1]["passed"] else None
    at_50 = next((s for s in steps if s["calls"] == 50), None)
    p99_at_50 = None
    if at_50 is not None:
        values = (at_50["caller_to_engine"]["p99_ms"], at_50["engine_to_caller"]["p99_ms"])
        p99_at_50 = None if None in values else max(v for v in values if v is not None)
    return {
        "benchmark": "relay",
        "mode": mode,
        "max_calls": best["calls"] if best else None,
        "limit_ms": plan.limit_ms,
        "cpu_us_per_call_per_20ms": best["cpu_us_per_call_per_20ms"] if best else None,
        "caller_to_engine_p50_ms": best["caller_to_engine"]["p50_ms"] if best else None,
        "caller_to_engine_p99_ms": best["caller_to_engine"]["p99_ms"] if best else None,
        "engine_to_caller_p50_ms": best["engine_to_caller"]["p50_ms"] if best else None,
        "engine_to_caller_p99_ms": best["engine_to_caller"]["p99_ms"] if best else None,
        "bridge_loop_lag_p99_ms": best["bridge_loop_lag"]["p99_ms"] if best else None,
        "target_calls": TARGET_CALLS[mode],
        "meets_target_calls": None if len(plan.steps) == 1 else bool(best and best["calls"] >= TARGET_CALLS[mode]),
        "p99_ms_at_50": p99_at_50,
        "meets_target_p99_at_50": None if p99_at_50 is None else p99_at_50 < TARGET_P99_MS_AT_50,
        "first_failure": _brief(failed),
        "limited_by": _limited_by(failed, plan.limit_ms, scheduler),
        f"projected_calls_at_{round(_PROJECT_AT * 100)}pct_cpu": _projection(best),
        "steps": steps,
        "params": {
            "steps": list(plan.steps),
            "ramp_s": plan.ramp_s,
            "warmup_s": plan.warmup_s,
            "seconds": plan.seconds,
            "record": plan.record,
            "attempts": plan.attempts,
            "quiet_wait_s": plan.quiet_wait_s,
            "scheduler": scheduler,
            "bridge_cpu": plan.bridge_cpu,
            "engine_cpu": plan.engine_cpu,
            "callers_cpu": plan.callers_cpu,
            "engine": {"pace": 1.0, "delta_ms": 100},
            "profile": profile.describe(),
            "python": sys.version.split()[0],
        },
    }


def _limited_by(failed: dict[str, Any] | None, limit_ms: float, scheduler: str) -> str | None:
    """Why the failing step failed.

    ``errors``: the latency was within the limit, but calls failed, frames were lost or did not match.
    Otherwise the bridge's own event loop tells whose latency it was: with its p99 lateness under half
    the limit, the time went outside the bridge (``harness``: the engine and callers' core, whose load
    the step reports). Else ``contention`` when other jobs took a quarter of the bridge's core (not
    under SCHED_FIFO), or ``bridge``.
    """
    if failed is None:
        return None
    p99s = (failed["caller_to_engine"]["p99_ms"], failed["engine_to_caller"]["p99_ms"])
    if None in p99s or all(p99 is not None and p99 < limit_ms for p99 in p99s):
        return "errors"
    lag = failed["bridge_loop_lag"]["p99_ms"]
    if lag is not None and lag < limit_ms / 2:
        return "harness"
    if scheduler != "fifo" and failed["bridge_core_busy"] - failed["bridge_cpu_fraction"] > _OTHER_LOAD:
        return "contention"
    return "bridge"


def _projection(best: dict[str, Any] | None) -> int | None:
    """Calls at which the bridge would use ``_PROJECT_AT`` of its core, scaled from the largest passing step.

    For when the harness runs out first. A call's CPU falls as calls are added (more events share
    each wake-up of the event loop), so scaling up at the top step's cost per call errs low. Not a
    measurement.
    """
    if best is None or best["bridge_cpu_fraction"] <= 0:
        return None
    return int(best["calls"] * _PROJECT_AT / best["bridge_cpu_fraction"])


def _progress(mode: str, step: dict[str, Any]) -> str:
    up, down = step["caller_to_engine"], step["engine_to_caller"]
    return (
        f"relay {mode} {step['calls']:4d} calls (try {step['attempt']}): {'pass' if step['passed'] else 'FAIL'}  "
        f"cpu {step['cpu_us_per_call_per_20ms']} us/call/20ms ({step['bridge_cpu_fraction']:.0%} of the core)  "
        f"up p50/p99 {up['p50_ms']}/{up['p99_ms']} ms  down p50/p99 {down['p50_ms']}/{down['p99_ms']} ms  "
        f"bridge lag p99 {step['bridge_loop_lag']['p99_ms']} ms  bridge core {step['bridge_core_busy']:.0%}  "
        f"harness core {step['harness_cpu_fraction']['core_busy']:.0%}"
    )


def _steps(args: argparse.Namespace) -> tuple[int, ...]:
    if args.calls is not None:
        return (args.calls,)
    steps = set(range(args.start, args.max_calls + 1, args.step))
    if args.start <= 50 <= args.max_calls:
        steps.add(50)  # the latency target is stated at 50 calls
    return tuple(sorted(steps))


def _cores(requested: int | None) -> tuple[int, int, int]:
    """Cores for the bridge, the engine and the callers: the bridge alone; the other two apart if possible."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise SystemExit("relay: needs two cores (one for the bridge, one for the engine and callers)")
    bridge = allowed[-1] if requested is None else requested
    if bridge not in allowed:
        raise SystemExit(f"relay: core {bridge} is not available (allowed: {allowed})")
    others = [cpu for cpu in reversed(allowed) if cpu != bridge]
    return bridge, others[0], others[1 % len(others)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--calls", type=int, default=None, help="run a single step of N calls")
    parser.add_argument("--start", type=int, default=20, help="first step")
    parser.add_argument("--step", type=int, default=20, help="calls added per step (50 is always a step)")
    parser.add_argument("--max-calls", type=int, default=400, help="last step if none fails before")
    parser.add_argument("--seconds", type=float, default=12.0, help="steady window per step")
    parser.add_argument("--ramp", type=float, default=4.0, help="seconds over which a step's calls start")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds between the last start and the window")
    parser.add_argument("--limit-ms", type=float, default=20.0, help="a step passes with p99 under this")
    parser.add_argument(
        "--attempts", type=int, default=2, help="tries per step before it counts as failed (the host is shared)"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait, before each step, for the cores to be nearly idle (0: do not wait)",
    )
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run the three processes in SCHED_FIFO (needs root): on a shared host, others' jobs stop delaying them",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="record every call's stereo WAV (CallConfig.record); the archive's call records are always written",
    )
    parser.add_argument("--bridge-cpu", type=int, default=None, help="core for the bridge (default: the highest)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one short step of 3 calls per mode")
    parser.add_argument("--quiet", action="store_true", help="no per-step progress on stderr")
    parser.add_argument(
        "--profile",
        choices=("bridge", "engine", "callers", "harness"),
        default=None,
        help="run that process under cProfile (slower: its figures are not comparable); with engine and "
        "callers on one core they are one process, 'harness'",
    )
    parser.add_argument("--profile-dir", default=".", help="where relay-ROLE-MODE.prof files go")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls = args.calls or 3
        args.seconds, args.ramp, args.warmup, args.quiet_wait = min(args.seconds, 2.0), 0.2, 1.0, 0.0
    for name in ("calls", "start", "step", "max_calls", "attempts"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.seconds <= 0 or args.ramp < 0 or args.warmup < 0:
        parser.error("--seconds must be positive, --ramp and --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bridge_cpu, engine_cpu, callers_cpu = _cores(args.bridge_cpu)
    pin(callers_cpu)  # the orchestrator mostly sleeps; keep it off the bridge's core all the same
    plan = Plan(
        steps=_steps(args),
        ramp_s=args.ramp,
        warmup_s=args.warmup,
        seconds=args.seconds,
        limit_ms=args.limit_ms,
        record=args.record,
        bridge_cpu=bridge_cpu,
        engine_cpu=engine_cpu,
        callers_cpu=callers_cpu,
        attempts=args.attempts,
        quiet_wait_s=args.quiet_wait,
        realtime=args.realtime,
        profile=args.profile,
        profile_dir=args.profile_dir,
    )
    for mode in MODES if args.mode == "both" else (args.mode,):
        print(json.dumps(run_mode(mode, plan, verbose=not args.quiet)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
