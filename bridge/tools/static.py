"""Static tools: a fixed JSON value from the dialplan, encoded once when the registry is built."""

from __future__ import annotations

from typing import Any

from bridge.dialplan.model import StaticTool
from bridge.tools.base import ToolContext
from bridge.tools.output import encode_output

__all__ = ["StaticHandler"]


class StaticHandler:
    """Answers every call with the dialplan's ``static`` value, whatever the arguments."""

    def __init__(self, tool: StaticTool) -> None:
        self.output = encode_output(tool.result)

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return self.output
