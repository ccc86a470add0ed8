"""Python tools: keyword arguments, context, sync off the loop, async on it, encoding, entry points."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.dialplan.loader import load_dialplan_text
from bridge.dialplan.model import PythonTool
from bridge.errors import ToolError
from bridge.tools.base import HangupEffect, ToolCall, ToolContext
from bridge.tools.python import PythonHandler
from bridge.tools.registry import ToolRegistry
from bridge.tools.runner import ToolRunner
from tests.conftest import FIXTURES, ROOT
from tests.tools_support import make_context, registry_of, run_one, spec

CODE = PythonTool("tests:handler")


def runner_for(func: Any, parameters: dict[str, Any] | None = None, timeout_s: float = 10.0) -> ToolRunner:
    return ToolRunner(registry_of((spec("tool", CODE, parameters, timeout_s), PythonHandler(func))))


@pytest.fixture
def fixture_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tests/fixtures/tools on sys.path; its modules are forgotten afterwards."""
    folder = FIXTURES / "tools"
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("bridge_fixture_tools", None)


async def test_arguments_arrive_as_keyword_arguments() -> None:
    def add(a: int, b: int) -> int:
        return a - b  # not symmetric, so the names matter

    result = await run_one(runner_for(add), "tool", '{"b": 2, "a": 10}')
    assert (result.status, result.output) == ("ok", "8")


async def test_a_sync_tool_runs_in_a_worker_thread() -> None:
    seen: list[int] = []

    def where() -> str:
        seen.append(threading.get_ident())
        return "done"

    result = await run_one(runner_for(where), "tool")
    assert result.output == '"done"'
    assert seen and seen[0] != threading.get_ident()


async def test_an_async_tool_is_awaited_on_the_event_loop() -> None:
    seen: list[int] = []

    async def where() -> str:
        seen.append(threading.get_ident())
        await asyncio.sleep(0)  # a real suspension point: the tool is awaited, not just called
        return "done"

    result = await run_one(runner_for(where), "tool")
    assert result.output == '"done"'
    assert seen == [threading.get_ident()]


async def test_sync_tools_of_one_batch_run_at_the_same_time() -> None:
    barrier = threading.Barrier(3, timeout=5)  # breaks (and the test fails) unless all three wait together

    def meet(n: int) -> int:
        return n * 10 + barrier.wait()

    runner = runner_for(meet)
    calls = [ToolCall(str(n), "tool", orjson.dumps({"n": n}).decode()) for n in range(3)]
    results = await runner.run(calls, make_context())
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    # Barrier.wait gives each party a distinct index 0..2.
    assert sorted(int(r.output) % 10 for r in results) == [0, 1, 2]
    assert [int(r.output) // 10 for r in results] == [0, 1, 2]


async def test_a_blocking_sync_tool_does_not_stall_the_loop() -> None:
    release = threading.Event()
    entered = threading.Event()

    def blocks() -> str:
        entered.set()
        release.wait(timeout=5)
        return "released"

    task = asyncio.create_task(run_one(runner_for(blocks), "tool"))
    # The loop keeps running while the tool blocks its thread; it is what lets this test release it.
    await asyncio.to_thread(entered.wait, 5)
    assert not task.done()
    release.set()
    assert (await task).output == '"released"'


@pytest.mark.parametrize(
    ("value", "output"),
    [
        ("Monday to Friday", '"Monday to Friday"'),
        ('{"already": "json"}', '"{\\"already\\": \\"json\\"}"'),
        ({"slots": ["09:00", "10:30"]}, '{"slots":["09:00","10:30"]}'),
        ([1, 2.5, True], "[1,2.5,true]"),
        (42, "42"),
        (None, '{"ok":true}'),
        (datetime.date(2025, 3, 14), '"2025-03-14"'),
    ],
)
async def test_the_return_value_is_json_encoded_once(value: object, output: str) -> None:
    def answer() -> object:
        return value

    result = await run_one(runner_for(answer), "tool")
    assert (result.status, result.output) == ("ok", output)


async def test_a_dataclass_is_encoded_as_an_object() -> None:
    @dataclasses.dataclass
    class Slot:
        day: str
        time: str

    async def slot() -> Slot:
        return Slot("Monday", "09:00")

    result = await run_one(runner_for(slot), "tool")
    assert orjson.loads(result.output) == {"day": "Monday", "time": "09:00"}


async def test_a_value_that_is_not_json_becomes_an_error() -> None:
    def answer() -> object:
        return {"a", "b"}

    result = await run_one(runner_for(answer), "tool")
    assert result.status == "error"
    assert orjson.loads(result.output)["error"].startswith("the tool returned a value that is not JSON (")


async def test_arguments_the_function_does_not_take_are_refused_before_calling_it() -> None:
    called: list[str] = []

    def free_slots(day: str) -> list[str]:
        called.append(day)
        return []

    runner = runner_for(free_slots)
    missing = await run_one(runner, "tool", "{}")
    extra = await run_one(runner, "tool", '{"day": "Monday", "week": 2}')
    assert orjson.loads(missing.output) == {"error": "invalid arguments: missing a required argument: 'day'"}
    assert orjson.loads(extra.output) == {"error": "invalid arguments: got an unexpected keyword argument 'week'"}
    assert called == []


async def test_a_type_error_inside_the_tool_is_the_tools_failure_not_the_models() -> None:
    def broken(day: str) -> int:
        return len(day) + day  # type: ignore[operator]  # the bug under test

    result = await run_one(runner_for(broken), "tool", '{"day": "Monday"}')
    assert orjson.loads(result.output)["error"].startswith("the tool failed: TypeError: unsupported operand")


async def test_a_parameter_named_context_receives_the_call_context() -> None:
    async def who(greeting: str, context: ToolContext) -> str:
        context.end_call(f"{greeting}, bye")
        return f"{greeting} {context.from_number} on {context.dialplan} ({context.call_id})"

    result = await run_one(runner_for(who), "tool", '{"greeting": "hi"}')
    assert result.output == '"hi +15550001111 on test (CA123)"'
    assert result.effects == (HangupEffect("hi, bye"),)


async def test_a_sync_tool_can_end_the_call_from_its_thread() -> None:
    def hang_up(context: ToolContext) -> None:
        context.end_call()

    result = await run_one(runner_for(hang_up), "tool")
    assert (result.output, result.effects) == ('{"ok":true}', (HangupEffect(None),))


async def test_context_cannot_be_passed_as_an_argument() -> None:
    async def who(context: ToolContext) -> str:
        return context.call_id

    result = await run_one(runner_for(who), "tool", '{"context": "forged"}')
    assert orjson.loads(result.output) == {
        "error": "'context' is reserved for the call context; it cannot be an argument"
    }


async def test_a_function_without_a_context_parameter_does_not_get_one() -> None:
    def everything(**kwargs: object) -> dict[str, object]:
        return kwargs

    handler = PythonHandler(everything)
    assert not handler.wants_context
    result = await run_one(runner_for(everything), "tool", '{"a": 1}')
    assert orjson.loads(result.output) == {"a": 1}


async def test_a_callable_without_a_signature_is_called_as_is() -> None:
    # dict has no inspectable signature: the arguments go to it unchecked.
    result = await run_one(runner_for(dict), "tool", '{"a": 1}')
    assert orjson.loads(result.output) == {"a": 1}


async def test_a_callable_object_with_async_call_is_awaited() -> None:
    class Lookup:
        async def __call__(self, sku: str) -> dict[str, object]:
            return {"sku": sku, "count": 3}

    handler = PythonHandler(Lookup())
    assert handler.is_async
    result = await run_one(runner_for(Lookup()), "tool", '{"sku": "X1"}')
    assert orjson.loads(result.output) == {"sku": "X1", "count": 3}


async def test_a_timed_out_sync_tool_cannot_add_effects_later() -> None:
    release = threading.Event()
    finished = threading.Event()

    def slow(context: ToolContext) -> None:
        release.wait(timeout=5)
        context.end_call("too late")
        finished.set()

    context = make_context()
    runner = runner_for(slow, timeout_s=0.05)
    [result] = await runner.run([ToolCall("1", "tool", "{}")], context)
    assert (result.status, result.effects) == ("timeout", ())
    release.set()
    await asyncio.to_thread(finished.wait, 5)
    assert context.effects == []


async def test_module_function_targets_load_from_the_dialplan(fixture_tools: Path) -> None:
    plan = load_dialplan_text(
        textwrap.dedent(
            """\
            name: t
            tools:
              - name: greet
                python: "bridge_fixture_tools:greet"
                parameters: {type: object, properties: {name: {type: string}}, required: [name]}
              - {name: caller, python: "bridge_fixture_tools:caller_info"}
              - {name: bye, python: "bridge_fixture_tools:goodbye"}
              - name: refuse
                python: "bridge_fixture_tools:refuse"
                parameters: {type: object, properties: {reason: {type: string}}, required: [reason]}
            """
        ),
        "t.yaml",
        {},
    )
    runner = ToolRunner(ToolRegistry.from_dialplan(plan))
    calls = [
        ToolCall("1", "greet", '{"name": "Ada"}'),
        ToolCall("2", "caller", ""),
        ToolCall("3", "bye", "{}"),
        ToolCall("4", "refuse", '{"reason": "no slots left"}'),
    ]
    greet, caller, bye, refuse = await runner.run(calls, make_context())
    assert greet.output == '"Hello, Ada"'
    assert orjson.loads(caller.output) == {"from": "+15550001111", "to": "+15550002222", "dialplan": "test"}
    assert (bye.output, bye.effects) == ('{"ok":true}', (HangupEffect("Goodbye from python"),))
    assert (refuse.status, refuse.output) == ("error", '{"error":"no slots left"}')


def write_dist_info(folder: Path, entry_points: str) -> None:
    """A minimal installed distribution: what pip leaves in site-packages, minus the files list."""
    dist = folder / "bridge_fixture_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bridge-fixture-tools\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)


async def test_entry_point_targets_load_from_an_installed_distribution(
    fixture_tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dist_info(tmp_path, "[bridge.tools]\nwho_is_calling = bridge_fixture_tools:caller_info\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plan = load_dialplan_text("name: t\ntools:\n  - {name: who, python: 'entry:who_is_calling'}\n", "t.yaml", {})
    assert plan.tools[0].description == "Who is calling."
    result = await run_one(ToolRunner(ToolRegistry.from_dialplan(plan)), "who")
    assert orjson.loads(result.output)["from"] == "+15550001111"


def test_a_missing_entry_point_fails_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dist_info(tmp_path, "[bridge.tools]\nother = bridge_fixture_tools:greet\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ToolError, match="no entry point named 'absent' in group 'bridge.tools'"):
        PythonHandler.from_target("entry:absent")


async def test_the_shipped_appointment_tools_answer_through_the_runner() -> None:
    plan = load_dialplan_text((ROOT / "dialplans" / "appointments.yaml").read_text(), "appointments.yaml", {})
    runner = ToolRunner(ToolRegistry.from_dialplan(plan))
    slots, taken, booked, hangup = await runner.run(
        [
            ToolCall("1", "free_slots", '{"day": "Monday"}'),
            ToolCall("2", "book_appointment", '{"name": "Ada", "day": "Monday", "time": "09:15"}'),
            ToolCall("3", "book_appointment", '{"name": "Ada", "day": "Monday", "time": "9:00"}'),
            ToolCall("4", "end_call", "{}"),
        ],
        make_context(),
    )
    assert orjson.loads(slots.output) == {"day": "Monday", "slots": ["09:00", "10:30", "14:00", "15:30"]}
    assert orjson.loads(taken.output) == {
        "error": "09:15 is not free on Monday; free times: 09:00, 10:30, 14:00, 15:30"
    }
    assert orjson.loads(booked.output)["reference"].startswith("APT-")
    assert hangup.effects == (HangupEffect("Thank you for calling Riverside Physiotherapy. Goodbye!"),)
