"""Python tools: a developer's function, called with the model's arguments as keyword arguments.

* ``async def`` functions are awaited on the event loop; plain functions run in a worker thread
  (``asyncio.to_thread``), so a slow or blocking one cannot stall the other calls.
* A parameter named ``context`` receives the call's ToolContext (caller, dialplan, logger,
  ``end_call``/``transfer``/``send_dtmf``).
* The return value is encoded once as JSON (see ``bridge.tools.output``); raising ToolError sends its
  message to the model as the error.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from bridge.dialplan.loader import resolve_python_target
from bridge.errors import ToolError
from bridge.tools.base import ToolContext
from bridge.tools.output import encode_output

__all__ = ["CONTEXT_PARAMETER", "PythonHandler"]

CONTEXT_PARAMETER = "context"


def _is_async(func: Callable[..., Any]) -> bool:
    # A callable object with an ``async def __call__`` counts too.
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


class PythonHandler:
    """Calls ``func``; whether it is async and whether it takes ``context`` is decided once, here."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.is_async = _is_async(func)
        try:
            self._signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):  # some builtins and C callables have no signature to inspect
            self._signature = None
        self.wants_context = self._signature is not None and CONTEXT_PARAMETER in self._signature.parameters

    @classmethod
    def from_target(cls, target: str) -> PythonHandler:
        """The handler for a dialplan target, ``module:function`` or ``entry:NAME`` (group ``bridge.tools``).

        Raises:
            ToolError: the target cannot be imported or is not callable.
        """
        return cls(resolve_python_target(target))

    def _kwargs(self, arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
        kwargs = dict(arguments)
        if self.wants_context:
            if CONTEXT_PARAMETER in kwargs:
                raise ToolError(f"'{CONTEXT_PARAMETER}' is reserved for the call context; it cannot be an argument")
            kwargs[CONTEXT_PARAMETER] = context
        if self._signature is not None:
            # Checked before the call, so that a TypeError raised inside the function is not mistaken
            # for the model's mistake (and the model gets Python's precise message for its own).
            try:
                self._signature.bind(**kwargs)
            except TypeError as exc:
                raise ToolError(f"invalid arguments: {exc}") from None
        return kwargs

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        kwargs = self._kwargs(arguments, context)
        if self.is_async:
            value = await self.func(**kwargs)
        else:
            value = await asyncio.to_thread(self.func, **kwargs)
        return encode_output(value)
