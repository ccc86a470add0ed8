"""ToolRegistry: one handler per tool of a dialplan, with the JSON Schema its arguments must meet.

Handlers hold no per-call state, so build a registry once per dialplan and share it across calls
(the ToolContext passed to each run carries the call).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from bridge.dialplan.model import Dialplan, HttpTool, PythonTool, StaticTool, ToolSpec
from bridge.errors import ToolError
from bridge.tools.base import ToolContext
from bridge.tools.builtin import BuiltinHandler
from bridge.tools.http import HttpHandler
from bridge.tools.python import PythonHandler
from bridge.tools.static import StaticHandler

__all__ = ["RegisteredTool", "ToolHandler", "ToolRegistry"]


class ToolHandler(Protocol):
    """Runs one tool call with parsed, validated arguments and returns the output as JSON text.

    Raise ToolError for an error the model should read, TimeoutError for a timeout; record effects on
    ``context``. Anything else raised is reported as an error too (with its traceback in the log).
    """

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str: ...


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    """A tool's spec, its handler and the validator for its arguments."""

    spec: ToolSpec
    handler: ToolHandler
    validator: Draft202012Validator

    @classmethod
    def create(cls, spec: ToolSpec, handler: ToolHandler) -> RegisteredTool:
        """Pair ``spec`` with a handler (for tools registered in code), compiling its parameter schema.

        Raises:
            ToolError: the parameters are not a valid JSON Schema (draft 2020-12).
        """
        return cls(spec, handler, _validator(spec))


class ToolRegistry:
    """The tools of one dialplan, by name, in dialplan order."""

    def __init__(self, tools: Sequence[RegisteredTool], *, owned_client: httpx.AsyncClient | None = None) -> None:
        """``owned_client``: an HTTP client the registry closes in ``aclose()``.

        Raises:
            ToolError: two tools share a name.
        """
        self._tools = {tool.spec.name: tool for tool in tools}
        if len(self._tools) != len(tools):
            raise ToolError("tool names must be unique")
        self._owned_client = owned_client

    @classmethod
    def from_dialplan(cls, dialplan: Dialplan, *, http: httpx.AsyncClient | None = None) -> ToolRegistry:
        """Build a handler for every tool of ``dialplan``.

        Args:
            dialplan: the dialplan whose ``tools`` to serve.
            http: the client HTTP tools share (its connection pool too); None: the registry creates
                one when the dialplan has HTTP tools, and ``aclose()`` closes it.

        Raises:
            ToolError: a python target cannot be loaded, a schema is invalid, or a builtin's fixed
                value is (checks the loader also makes, repeated for dialplans built in code).
        """
        # Everything that can fail is built first, so that a client is only created for a registry that exists.
        validators = [_validator(spec) for spec in dialplan.tools]
        handlers = [_local_handler(spec) for spec in dialplan.tools]
        owned = None
        if http is None and any(handler is None for handler in handlers):
            # The environment is read only by bridge.config, so proxies are not picked up from it here.
            http = owned = httpx.AsyncClient(trust_env=False)
        tools = []
        for spec, handler, validator in zip(dialplan.tools, handlers, validators, strict=True):
            if handler is None:
                assert isinstance(spec.kind, HttpTool) and http is not None
                handler = HttpHandler(spec.kind, http)
            tools.append(RegisteredTool(spec, handler, validator))
        return cls(tools, owned_client=owned)

    def definitions(self) -> list[dict[str, Any]]:
        """The Realtime ``session.tools`` function definitions, in dialplan order."""
        return [tool.spec.function_tool() for tool in self._tools.values()]

    def get(self, name: str) -> RegisteredTool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """Every tool name, in dialplan order."""
        return list(self._tools)

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    async def aclose(self) -> None:
        """Close the HTTP client if the registry created it."""
        if self._owned_client is not None:
            await self._owned_client.aclose()


def _validator(spec: ToolSpec) -> Draft202012Validator:
    try:
        Draft202012Validator.check_schema(spec.parameters)
    except SchemaError as exc:
        raise ToolError(f"tool {spec.name!r}: parameters are not a valid JSON Schema: {exc.message}") from exc
    return Draft202012Validator(spec.parameters)


def _local_handler(spec: ToolSpec) -> ToolHandler | None:
    """The handler for ``spec``; None for an HTTP tool, which needs the shared client."""
    kind = spec.kind
    if isinstance(kind, StaticTool):
        return StaticHandler(kind)
    if isinstance(kind, HttpTool):
        return None
    if isinstance(kind, PythonTool):
        return PythonHandler.from_target(kind.target)
    return BuiltinHandler(kind)
