"""ToolRunner: runs one batch of tool calls and never raises for a tool's sake.

Every call ends in a ToolResult whose ``output`` is JSON text for the model: the tool's answer, or
``{"error": "..."}`` for an unknown tool, bad arguments, a failure or a timeout. The calls of a batch
run concurrently, each bounded by its tool's ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence

from bridge.errors import ToolError
from bridge.tools.arguments import parse_arguments
from bridge.tools.base import ToolCall, ToolContext, ToolEffect, ToolResult, ToolStatus
from bridge.tools.output import error_output
from bridge.tools.registry import RegisteredTool, ToolRegistry

__all__ = ["ToolRunner"]

_Outcome = tuple[ToolStatus, str, tuple[ToolEffect, ...]]


class ToolRunner:
    """Runs tool calls against a registry; the ToolExecutor the call runner plugs in.

    Args:
        registry: the dialplan's tools.
        clock: seconds, monotonic; ``started_at_ms``/``duration_ms`` of each result are read from it.
    """

    def __init__(self, registry: ToolRegistry, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self._clock = clock

    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]:
        """Run ``calls`` concurrently; the results come back in the same order.

        Each call gets its own copy of ``context`` with an empty ``effects`` list; what a call records
        there comes back in its result's ``effects`` (only when the call succeeds: the effects of a
        call that failed or timed out are dropped). ``context.effects`` itself is left alone.
        """
        if len(calls) == 1:  # the usual case: no task to create
            return [await self._run_one(calls[0], context)]
        return list(await asyncio.gather(*(self._run_one(call, context) for call in calls)))

    async def _run_one(self, call: ToolCall, context: ToolContext) -> ToolResult:
        started = self._clock()
        tool = self.registry.get(call.name)
        if tool is None:
            known = ", ".join(self.registry.names) or "none"
            outcome: _Outcome = ("error", error_output(f"unknown tool {call.name!r}; available tools: {known}"), ())
        else:
            outcome = await self._execute(tool, call, context)
        duration = self._clock() - started
        status, output, effects = outcome
        context.logger.debug("tool %s call_id=%s %s in %.1f ms", call.name, call.call_id, status, duration * 1000)
        return ToolResult(
            call_id=call.call_id,
            name=call.name,
            arguments=call.arguments,
            output=output,
            status=status,
            started_at_ms=started * 1000,
            duration_ms=duration * 1000,
            effects=effects,
            source=call.source,
        )

    async def _execute(self, tool: RegisteredTool, call: ToolCall, context: ToolContext) -> _Outcome:
        log = context.logger
        try:
            arguments = parse_arguments(call.arguments, tool.validator)
        except ToolError as exc:
            log.info("tool %s call_id=%s: %s", call.name, call.call_id, exc)
            return "error", error_output(str(exc)), ()
        # A per-call copy: effects belong to their call, and a timed-out sync tool still running in its
        # thread cannot add any to a later result.
        scoped = dataclasses.replace(context, effects=[])
        timeout_s = tool.spec.timeout_s
        scope = asyncio.timeout(timeout_s)
        try:
            async with scope:
                output = await tool.handler(arguments, scoped)
        except TimeoutError as exc:
            # Either this tool's timeout_s, or the handler's own (an HTTP request's, say).
            own = scope.expired() or not str(exc)
            message = f"the tool {call.name!r} did not finish within {timeout_s:g} s" if own else str(exc)
            log.warning("tool %s call_id=%s timed out: %s", call.name, call.call_id, message)
            return "timeout", error_output(message), ()
        except ToolError as exc:
            log.info("tool %s call_id=%s failed: %s", call.name, call.call_id, exc)
            return "error", error_output(str(exc)), ()
        except Exception as exc:  # a handler's bug must become an answer for the model, not end the call
            log.error("tool %s call_id=%s (call %s) raised", call.name, call.call_id, context.call_id, exc_info=True)
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return "error", error_output(f"the tool failed: {detail}"), ()
        return "ok", output, tuple(scoped.effects)
