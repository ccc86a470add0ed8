"""Smoke test of the relay benchmark: ``scripts/bench/relay.py --quick`` runs and prints its JSON lines.

It checks the output's shape and that the harness matched what it measured, never a speed: the
figures themselves belong to docs/benchmarks.md, not to the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench" / "relay.py"

SUMMARY_FIELDS = {
    "benchmark",
    "mode",
    "max_calls",
    "limit_ms",
    "cpu_us_per_call_per_20ms",
    "caller_to_engine_p50_ms",
    "caller_to_engine_p99_ms",
    "engine_to_caller_p50_ms",
    "engine_to_caller_p99_ms",
    "bridge_loop_lag_p99_ms",
    "target_calls",
    "meets_target_calls",
    "p99_ms_at_50",
    "meets_target_p99_at_50",
    "first_failure",
    "limited_by",
    "projected_calls_at_85pct_cpu",
    "steps",
    "params",
}
STEP_FIELDS = {
    "calls",
    "attempt",
    "passed",
    "host_busy_before",
    "reference_loop_us",
    "cpu_us_per_call_per_20ms",
    "bridge_cpu_fraction",
    "caller_to_engine",
    "engine_to_caller",
    "bridge_loop_lag",
    "bridge_gc",
    "engine_loop_lag",
    "callers_loop_lag",
    "harness_cpu_fraction",
    "bridge_core_busy",
    "bridge_core_steal",
    "agent_talk_fraction",
    "barge_ins",
    "calls_ok",
    "frames_missing",
    "chunks_not_delivered",
    "match_errors",
    "protocol_errors",
    "engine_errors",
    "failures",
    "window_s",
}
LATENCY_FIELDS = {"p50_ms", "p99_ms", "max_ms", "n"}
PARAM_FIELDS = {
    "steps",
    "ramp_s",
    "warmup_s",
    "seconds",
    "record",
    "attempts",
    "quiet_wait_s",
    "scheduler",
    "bridge_cpu",
    "engine_cpu",
    "callers_cpu",
    "engine",
    "profile",
    "python",
}
CALLS = 2


def _run_quick() -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--calls", str(CALLS), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the benchmark needs two cores")
def test_quick_run_prints_one_complete_line_per_mode() -> None:
    lines = _run_quick()

    assert [line["mode"] for line in lines] == ["passthrough", "pcm16"]
    for line in lines:
        assert set(line) == SUMMARY_FIELDS
        assert line["benchmark"] == "relay"
        assert set(line["params"]) == PARAM_FIELDS
        assert line["params"]["steps"] == [CALLS]
        [step] = line["steps"]
        assert set(step) == STEP_FIELDS
        assert step["calls"] == CALLS
        for direction in ("caller_to_engine", "engine_to_caller", "bridge_loop_lag"):
            assert set(step[direction]) == LATENCY_FIELDS
        # The harness saw every call through and matched every frame and chunk it timed.
        assert step["calls_ok"] == CALLS
        assert step["failures"] == []
        assert step["frames_missing"] == 0
        assert step["match_errors"] == 0
        assert step["protocol_errors"] == 0
        assert step["caller_to_engine"]["n"] > 0
        assert step["engine_to_caller"]["n"] > 0
        assert step["cpu_us_per_call_per_20ms"] > 0
