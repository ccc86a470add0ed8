"""Helpers for the tool tests: a call context, tool specs and one-call runs."""

from __future__ import annotations

import logging
from typing import Any

from bridge.dialplan.model import ToolKind, ToolSpec, empty_parameters
from bridge.tools.base import ToolCall, ToolContext, ToolResult
from bridge.tools.registry import RegisteredTool, ToolHandler, ToolRegistry
from bridge.tools.runner import ToolRunner

LOGGER_NAME = "tests.tools"


def make_context() -> ToolContext:
    return ToolContext(
        call_id="CA123",
        from_number="+15550001111",
        to_number="+15550002222",
        dialplan="test",
        logger=logging.getLogger(LOGGER_NAME),
    )


def spec(name: str, kind: ToolKind, parameters: dict[str, Any] | None = None, timeout_s: float = 10.0) -> ToolSpec:
    return ToolSpec(name, kind, f"the {name} tool", parameters or empty_parameters(), timeout_s)


def registry_of(*tools: tuple[ToolSpec, ToolHandler]) -> ToolRegistry:
    return ToolRegistry([RegisteredTool.create(s, handler) for s, handler in tools])


async def run_one(runner: ToolRunner, name: str, arguments: str = "{}", call_id: str = "call_1") -> ToolResult:
    [result] = await runner.run([ToolCall(call_id, name, arguments)], make_context())
    return result
