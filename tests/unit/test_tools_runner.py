"""ToolRunner: argument checks, unknown tools, concurrency, timeouts, failures, effects, timing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from bridge.dialplan.model import PythonTool, StaticTool
from bridge.errors import ToolError
from bridge.tools.base import HangupEffect, ToolCall, ToolContext, TransferEffect
from bridge.tools.runner import ToolRunner
from bridge.tools.static import StaticHandler
from tests.tools_support import LOGGER_NAME, make_context, registry_of, run_one, spec

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^A-[0-9]{6}$"},
        "items": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["order_id"],
    "additionalProperties": False,
}
# A python kind for specs whose handler a test supplies directly.
CODE = PythonTool("tests:handler")


class Echo:
    """Answers with the arguments it got."""

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return orjson.dumps(arguments).decode()


class Raises:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        context.end_call("never carried out")
        raise self.exc


class Hangs:
    """Waits for an event nobody sets; records an effect first."""

    def __init__(self) -> None:
        self.never = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        context.end_call("never carried out")
        self.started.set()
        await self.never.wait()
        return "{}"


class Rendezvous:
    """Each call waits until ``parties`` calls are inside at once: proof that they run concurrently."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.inside = 0
        self.all_inside = asyncio.Event()

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.inside += 1
        if self.inside == self.parties:
            self.all_inside.set()
        await self.all_inside.wait()  # the tool's timeout_s is the safety net
        return orjson.dumps({"n": arguments["n"], "inside": self.inside}).decode()


def static_runner(result: Any) -> ToolRunner:
    tool = StaticTool(result)
    return ToolRunner(registry_of((spec("info", tool), StaticHandler(tool))))


async def test_a_static_string_is_encoded_once() -> None:
    result = await run_one(static_runner("Monday to Friday"), "info")
    assert result.output == '"Monday to Friday"'
    assert result.status == "ok"


async def test_a_static_mapping_is_json_text() -> None:
    result = await run_one(static_runner({"window_days": 30, "refund": True}), "info")
    assert orjson.loads(result.output) == {"window_days": 30, "refund": True}


@pytest.mark.parametrize("arguments", ["", "  ", "{}"])
async def test_empty_arguments_count_as_an_empty_object(arguments: str) -> None:
    runner = ToolRunner(registry_of((spec("echo", CODE), Echo())))
    result = await run_one(runner, "echo", arguments)
    assert (result.status, result.output, result.arguments) == ("ok", "{}", arguments)


async def test_arguments_that_are_not_json_become_an_error_output() -> None:
    runner = ToolRunner(registry_of((spec("echo", CODE), Echo())))
    result = await run_one(runner, "echo", '{"day": ')
    assert result.status == "error"
    message = orjson.loads(result.output)["error"]
    assert message.startswith("the arguments are not valid JSON (")
    assert result.arguments == '{"day": '


@pytest.mark.parametrize(
    ("arguments", "kind"), [("[1]", "an array"), ('"x"', "a string"), ("3", "a number"), ("null", "null")]
)
async def test_arguments_must_be_an_object(arguments: str, kind: str) -> None:
    runner = ToolRunner(registry_of((spec("echo", CODE), Echo())))
    result = await run_one(runner, "echo", arguments)
    assert orjson.loads(result.output) == {"error": f"the arguments must be a JSON object, got {kind}"}


async def test_schema_failures_are_listed_with_their_paths() -> None:
    runner = ToolRunner(registry_of((spec("lookup", CODE, ORDER_SCHEMA), Echo())))
    result = await run_one(runner, "lookup", '{"order_id": "B-1", "items": [1, "two"], "note": 1}')
    assert result.status == "error"
    assert orjson.loads(result.output) == {
        "error": "invalid arguments: "
        "$: Additional properties are not allowed ('note' was unexpected); "
        "$.items[1]: 'two' is not of type 'integer'; "
        "$.order_id: 'B-1' does not match '^A-[0-9]{6}$'"
    }


async def test_a_missing_required_argument_is_named() -> None:
    runner = ToolRunner(registry_of((spec("lookup", CODE, ORDER_SCHEMA), Echo())))
    result = await run_one(runner, "lookup", "{}")
    assert orjson.loads(result.output) == {"error": "invalid arguments: $: 'order_id' is a required property"}


async def test_valid_arguments_reach_the_handler_parsed() -> None:
    runner = ToolRunner(registry_of((spec("lookup", CODE, ORDER_SCHEMA), Echo())))
    result = await run_one(runner, "lookup", '{"order_id": "A-123456", "items": [1, 2]}')
    assert orjson.loads(result.output) == {"order_id": "A-123456", "items": [1, 2]}


async def test_an_unknown_tool_names_the_available_ones() -> None:
    runner = ToolRunner(registry_of((spec("echo", CODE), Echo()), (spec("info", CODE), Echo())))
    result = await run_one(runner, "lookup_order")
    assert result.status == "error"
    assert orjson.loads(result.output) == {"error": "unknown tool 'lookup_order'; available tools: echo, info"}


async def test_an_unknown_tool_in_a_registry_without_tools() -> None:
    result = await run_one(ToolRunner(registry_of()), "anything")
    assert orjson.loads(result.output) == {"error": "unknown tool 'anything'; available tools: none"}


async def test_the_calls_of_a_batch_run_at_the_same_time() -> None:
    rendezvous = Rendezvous(3)
    runner = ToolRunner(registry_of((spec("meet", CODE, timeout_s=5), rendezvous)))
    calls = [ToolCall(f"call_{n}", "meet", orjson.dumps({"n": n}).decode()) for n in range(3)]
    results = await runner.run(calls, make_context())
    # Each call returned only after all three were inside the tool together.
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert [orjson.loads(r.output) for r in results] == [{"n": n, "inside": 3} for n in range(3)]
    assert [r.call_id for r in results] == ["call_0", "call_1", "call_2"]


async def test_results_keep_the_order_of_the_calls_whatever_order_they_finish_in() -> None:
    first_may_finish = asyncio.Event()

    class First:
        async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
            await first_may_finish.wait()
            return '"first"'

    class Second:
        async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
            first_may_finish.set()  # the second call finishes before the first
            return '"second"'

    runner = ToolRunner(registry_of((spec("a", CODE, timeout_s=5), First()), (spec("b", CODE), Second())))
    results = await runner.run([ToolCall("1", "a", "{}"), ToolCall("2", "b", "{}")], make_context())
    assert [(r.call_id, r.output) for r in results] == [("1", '"first"'), ("2", '"second"')]


async def test_a_tool_that_does_not_finish_times_out_and_loses_its_effects() -> None:
    hangs = Hangs()
    runner = ToolRunner(registry_of((spec("stuck", CODE, timeout_s=0.05), hangs)))
    result = await run_one(runner, "stuck")
    assert hangs.started.is_set()
    assert result.status == "timeout"
    assert orjson.loads(result.output) == {"error": "the tool 'stuck' did not finish within 0.05 s"}
    assert result.effects == ()


async def test_a_timeout_inside_the_handler_keeps_its_own_message() -> None:
    runner = ToolRunner(registry_of((spec("remote", CODE), Raises(TimeoutError("the service did not answer")))))
    result = await run_one(runner, "remote")
    assert result.status == "timeout"
    assert orjson.loads(result.output) == {"error": "the service did not answer"}


async def test_a_raising_tool_becomes_an_error_and_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    runner = ToolRunner(registry_of((spec("boom", CODE), Raises(RuntimeError("database unreachable")))))
    result = await run_one(runner, "boom", call_id="call_boom")
    assert result.status == "error"
    assert orjson.loads(result.output) == {"error": "the tool failed: RuntimeError: database unreachable"}
    assert result.effects == ()
    [record] = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert record.levelno == logging.ERROR
    assert "call_boom" in record.getMessage() and "CA123" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "database unreachable" in caplog.text and "Traceback" in caplog.text


async def test_an_exception_without_a_message_is_named_by_its_type() -> None:
    runner = ToolRunner(registry_of((spec("boom", CODE), Raises(LookupError()))))
    result = await run_one(runner, "boom")
    assert orjson.loads(result.output) == {"error": "the tool failed: LookupError"}


async def test_a_tool_error_sends_its_message_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    runner = ToolRunner(registry_of((spec("picky", CODE), Raises(ToolError("09:00 is not free on Monday")))))
    result = await run_one(runner, "picky")
    assert (result.status, orjson.loads(result.output)) == ("error", {"error": "09:00 is not free on Monday"})
    assert all(record.exc_info is None for record in caplog.records)
    assert "09:00 is not free on Monday" in caplog.text


async def test_effects_come_back_per_call_and_leave_the_callers_context_alone() -> None:
    class Ends:
        async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
            context.end_call("Bye")
            return "{}"

    class Transfers:
        async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
            context.transfer("+15557654321")
            return "{}"

    runner = ToolRunner(registry_of((spec("end", CODE), Ends()), (spec("move", CODE), Transfers())))
    context = make_context()
    results = await runner.run([ToolCall("1", "end", "{}"), ToolCall("2", "move", "{}")], context)
    assert [r.effects for r in results] == [(HangupEffect("Bye"),), (TransferEffect("+15557654321"),)]
    assert context.effects == []


def ticking_clock(*readings: float) -> Iterator[float]:
    yield from readings


async def test_start_and_duration_come_from_the_injected_clock() -> None:
    readings = ticking_clock(12.5, 12.75)
    runner = ToolRunner(registry_of((spec("echo", CODE), Echo())), clock=lambda: next(readings))
    result = await run_one(runner, "echo")
    assert (result.started_at_ms, result.duration_ms) == (12500.0, 250.0)


async def test_a_dtmf_call_runs_with_empty_arguments_and_keeps_its_source() -> None:
    runner = static_runner("Monday to Friday")
    [result] = await runner.run([ToolCall("dtmf_1", "info", "{}", source="dtmf")], make_context())
    assert (result.source, result.status, result.output, result.call_id) == (
        "dtmf",
        "ok",
        '"Monday to Friday"',
        "dtmf_1",
    )


async def test_cancelling_a_batch_cancels_its_tools() -> None:
    hangs = Hangs()
    runner = ToolRunner(registry_of((spec("stuck", CODE, timeout_s=60), hangs)))
    task = asyncio.create_task(runner.run([ToolCall("1", "stuck", "{}"), ToolCall("2", "stuck", "{}")], make_context()))
    await hangs.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
