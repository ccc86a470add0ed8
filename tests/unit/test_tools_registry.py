"""ToolRegistry: one handler per dialplan tool, the model-facing definitions, and build-time checks."""

from __future__ import annotations

import httpx
import pytest

from bridge.dialplan.loader import load_dialplan_text
from bridge.dialplan.model import BuiltinTool, Dialplan, PythonTool, StaticTool, ToolSpec
from bridge.errors import ToolError
from bridge.tools.builtin import BuiltinHandler
from bridge.tools.http import HttpHandler
from bridge.tools.python import PythonHandler
from bridge.tools.registry import RegisteredTool, ToolRegistry
from bridge.tools.static import StaticHandler
from tests.conftest import ROOT
from tests.tools_support import spec


def shipped(name: str) -> Dialplan:
    path = ROOT / "dialplans" / f"{name}.yaml"
    return load_dialplan_text(path.read_text(), path.name, {})


async def test_every_tool_of_a_dialplan_gets_the_handler_of_its_kind() -> None:
    plan = shipped("acme-support")
    registry = ToolRegistry.from_dialplan(plan)
    try:
        assert registry.names == ["lookup_order", "return_policy", "transfer_to_human", "end_call"]
        kinds = [type(tool.handler) for tool in registry]
        assert kinds == [HttpHandler, StaticHandler, BuiltinHandler, BuiltinHandler]
        lookup = registry.get("lookup_order")
        assert lookup is not None and lookup.spec is plan.tools[0]
        assert registry.get("nope") is None
        assert len(registry) == 4
    finally:
        await registry.aclose()


def test_definitions_are_the_dialplans_function_tools() -> None:
    plan = shipped("appointments")
    registry = ToolRegistry.from_dialplan(plan)
    assert registry.definitions() == plan.function_tools()
    assert [d["name"] for d in registry.definitions()] == ["free_slots", "book_appointment", "end_call"]
    assert isinstance(registry.get("free_slots").handler, PythonHandler)  # type: ignore[union-attr]


def test_a_static_result_is_encoded_when_the_registry_is_built() -> None:
    registry = ToolRegistry.from_dialplan(shipped("default"))
    tool = registry.get("opening_hours")
    assert tool is not None and isinstance(tool.handler, StaticHandler)
    assert tool.handler.output == '"Monday to Friday 9 am to 5 pm, Saturday 10 am to 2 pm, closed on Sunday."'


async def test_a_registry_closes_the_http_client_it_created_and_only_that() -> None:
    plan = shipped("acme-support")
    async with httpx.AsyncClient() as shared:
        registry = ToolRegistry.from_dialplan(plan, http=shared)
        await registry.aclose()
        assert not shared.is_closed
    own = ToolRegistry.from_dialplan(plan)
    handler = own.get("lookup_order")
    assert handler is not None and isinstance(handler.handler, HttpHandler)
    client = handler.handler.client
    await own.aclose()
    assert client.is_closed


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (spec("x", PythonTool("no_such_module_here:f")), "cannot import 'no_such_module_here'"),
        (spec("x", StaticTool(1), {"type": "object", "required": "yes"}), "parameters are not a valid JSON Schema"),
        (spec("x", BuiltinTool("send_dtmf", digits="E")), "digits must be DTMF keys"),
    ],
)
def test_a_dialplan_built_in_code_is_checked_too(tool: ToolSpec, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        ToolRegistry.from_dialplan(Dialplan(name="code", tools=(tool,)))


def test_tool_names_must_be_unique() -> None:
    tool = spec("same", StaticTool(1))
    with pytest.raises(ToolError, match="tool names must be unique"):
        ToolRegistry([RegisteredTool.create(tool, StaticHandler(StaticTool(1)))] * 2)
