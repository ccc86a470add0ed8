"""Tool-call overhead: what a function call adds beyond the tool's own run time, printed as one JSON line.

    .venv/bin/python scripts/bench/tools.py [--iterations 3000] [--calls 300] [--cpu N] [--runner-only]

Three tools, each with the same JSON Schema (a required ``order_id`` with a pattern) so that argument
parsing and validation are part of the figure: a ``static`` tool, a python ``async def`` tool and a
python plain (sync) tool, which runs in a worker thread. The python tools time their own body
(``time.perf_counter_ns``) and that is subtracted, so every figure is overhead only.

* ``runner_*``: ``await ToolRunner.run([call], context)`` in a loop, the three tools interleaved.
* ``e2e_*``: whole calls on loopback. The bundled engine's scenario makes function calls one after
  another; each figure is the time from the engine queueing the ``response.done`` that carries the
  function call to the engine taking the ``conversation.item.create`` with its ``function_call_output``
  off its inbox: engine -> bridge (Realtime parse, CallSession, ToolRunner, session update) -> engine,
  over real WebSockets, engine and bridge in this one process and event loop.

Figures are microseconds: the median and the 99th percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from bridge.call.config import call_config_from_dialplan
from bridge.config import Settings
from bridge.dialplan.model import Dialplan, PythonTool, StaticTool, ToolSpec
from bridge.engine.config import EngineConfig
from bridge.engine.scenario import Call, Say, Scenario
from bridge.engine.server import serve_engine
from bridge.sim.caller import Caller
from bridge.tools.base import ToolCall, ToolContext, ToolResult
from bridge.tools.python import PythonHandler
from bridge.tools.registry import RegisteredTool, ToolHandler, ToolRegistry
from bridge.tools.runner import ToolRunner
from bridge.tools.static import StaticHandler
from bridge.web.app import create_app
from bridge.web.asgi_server import serve_asgi

ARGUMENTS = {"order_id": "A-123456"}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "pattern": "^A-[0-9]{6}$"}},
    "required": ["order_id"],
    "additionalProperties": False,
}
CASES = ("static", "python_async", "python_sync")
# The python tools' own run times (ns), in call order; calls of one tool never overlap here.
OWN_NS: dict[str, list[int]] = {"python_async": [], "python_sync": []}


async def async_tool(order_id: str) -> dict[str, str]:
    start = time.perf_counter_ns()
    answer = {"order_id": order_id, "status": "shipped"}
    OWN_NS["python_async"].append(time.perf_counter_ns() - start)
    return answer


def sync_tool(order_id: str) -> dict[str, str]:
    start = time.perf_counter_ns()
    answer = {"order_id": order_id, "status": "shipped"}
    OWN_NS["python_sync"].append(time.perf_counter_ns() - start)
    return answer


def _dialplan() -> Dialplan:
    tools = (
        ToolSpec("static", StaticTool({"status": "shipped"}), "An order's status.", SCHEMA),
        ToolSpec("python_async", PythonTool("bench:async_tool"), "An order's status.", SCHEMA),
        ToolSpec("python_sync", PythonTool("bench:sync_tool"), "An order's status.", SCHEMA),
    )
    return Dialplan(name="bench", greeting=None, turn_detection=None, tools=tools)


def _registry(plan: Dialplan) -> ToolRegistry:
    # The python handlers are this script's functions, handed over directly (a script has no import path).
    static = plan.tools[0].kind
    assert isinstance(static, StaticTool)
    handlers: tuple[ToolHandler, ...] = (StaticHandler(static), PythonHandler(async_tool), PythonHandler(sync_tool))
    return ToolRegistry([RegisteredTool.create(spec, h) for spec, h in zip(plan.tools, handlers, strict=True)])


def _summary(samples_ns: Sequence[float]) -> tuple[float, float]:
    us = [value / 1000 for value in samples_ns]
    return round(statistics.median(us), 1), round(statistics.quantiles(us, n=100)[98], 1)


def _overhead(case: str, totals_ns: Sequence[float]) -> list[float]:
    own = OWN_NS.get(case)
    if own is None:
        return list(totals_ns)
    if len(own) != len(totals_ns):
        raise SystemExit(f"{case}: {len(own)} own times for {len(totals_ns)} calls")
    return [total - mine for total, mine in zip(totals_ns, own, strict=True)]


async def bench_runner(iterations: int) -> dict[str, float]:
    registry = _registry(_dialplan())
    runner = ToolRunner(registry)
    context = ToolContext("CA-bench", "+15550001111", "+15550002222", "bench", logging.getLogger("bench"))
    arguments = json.dumps(ARGUMENTS)
    totals: dict[str, list[float]] = {case: [] for case in CASES}
    for round_ in range(iterations + iterations // 10):
        for case in CASES:  # interleaved, so a slow phase of the host hits every case alike
            call = ToolCall(f"call_{round_}", case, arguments)
            start = time.perf_counter_ns()
            [result] = await runner.run([call], context)
            totals[case].append(time.perf_counter_ns() - start)
            if result.status != "ok":
                raise SystemExit(f"{case}: {result.output}")
    warmup = iterations // 10
    figures: dict[str, float] = {}
    for case in CASES:
        overhead = _overhead(case, totals[case])[warmup:]
        figures[f"runner_{case}_median_us"], figures[f"runner_{case}_p99_us"] = _summary(overhead)
    for own in OWN_NS.values():
        own.clear()
    return figures


class _TimedExecutor:
    """The ToolRunner, noting when each batch enters and leaves it, on the engine's clock (time.time)."""

    def __init__(self, runner: ToolRunner) -> None:
        self.runner = runner
        self.spans: dict[str, tuple[float, float]] = {}

    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]:
        entered = time.time()
        results = await self.runner.run(calls, context)
        left = time.time()
        for call in calls:
            self.spans[call.call_id] = (entered, left)
        return results


async def bench_end_to_end(calls_per_tool: int) -> dict[str, float]:
    plan = _dialplan()
    settings = Settings()
    turn = tuple(Call(case, ARGUMENTS) for _ in range(calls_per_tool) for case in CASES) + (Say("Done."),)
    total_calls = calls_per_tool * len(CASES)
    engine = EngineConfig(pace=0, scenario=Scenario(turns=(turn,)))
    executor = _TimedExecutor(ToolRunner(_registry(plan)))
    async with serve_engine(engine) as engine_server:
        app = create_app(
            settings,
            engine_url=engine_server.url,
            call_config=call_config_from_dialplan(plan, settings),
            tool_executor=executor,
        )
        async with serve_asgi(app) as bridge:
            # An unmapped key reaches the model as text: that starts the scenario's turn of calls.
            async with Caller(f"{bridge.ws_url}/twilio/media", dtmf=[("5", 0.05)]) as caller:
                seen = {"entries": 0, "outputs": 0}

                def answered() -> bool:
                    # Only the entries new since the last look: a full scan each time would grow with the call.
                    sessions = engine_server.sessions
                    if not sessions:
                        return False
                    entries = sessions[-1].log.entries
                    for entry in entries[seen["entries"] :]:
                        if entry.direction == "received" and entry.type == "conversation.item.create":
                            seen["outputs"] += 1
                    seen["entries"] = len(entries)
                    return seen["outputs"] > total_calls  # the key's text item, then one output per call

                async with asyncio.timeout(120):
                    await engine_server.wait_until(answered)
                await caller.hangup()
        session = engine_server.sessions[-1]
    sent_at: dict[str, tuple[str, float]] = {}
    for entry in session.log.entries:
        event = entry.event
        if entry.direction == "sent" and entry.type == "response.done" and event is not None:
            for item in event["response"]["output"]:
                if item.get("type") == "function_call":
                    sent_at[item["call_id"]] = (item["name"], entry.time)
    totals: dict[str, list[float]] = {case: [] for case in CASES}
    # Where a static call's round trip goes: engine -> runner, inside the runner, runner -> engine.
    legs: tuple[list[float], list[float], list[float]] = ([], [], [])
    for entry in session.log.entries:
        event = entry.event
        if entry.direction == "received" and entry.type == "conversation.item.create" and event is not None:
            item = event["item"]
            if item.get("type") == "function_call_output":
                name, at = sent_at[item["call_id"]]
                totals[name].append((entry.time - at) * 1e9)
                if name == "static":
                    entered, left = executor.spans[item["call_id"]]
                    for leg, span in zip(legs, (entered - at, left - entered, entry.time - left), strict=True):
                        leg.append(span * 1e9)
    figures: dict[str, float] = {}
    for case in CASES:
        overhead = _overhead(case, totals[case])
        figures[f"e2e_{case}_median_us"], figures[f"e2e_{case}_p99_us"] = _summary(overhead)
    for key, leg in zip(("engine_to_runner", "in_runner", "runner_to_engine"), legs, strict=True):
        figures[f"e2e_static_{key}_median_us"] = _summary(leg)[0]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=3000, help="runner calls per tool")
    parser.add_argument("--calls", type=int, default=300, help="end-to-end calls per tool")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core (default: not pinned)")
    parser.add_argument("--runner-only", action="store_true", help="skip the end-to-end measurement")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    result: dict[str, object] = {"unit": "us_overhead_per_call", "cpu": args.cpu}
    result.update(asyncio.run(bench_runner(args.iterations)))
    if not args.runner_only:
        result.update(asyncio.run(bench_end_to_end(args.calls)))
    result["python"] = sys.version.split()[0]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
