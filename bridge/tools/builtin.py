"""Builtin tools: what the bridge itself does to the call (hang up, transfer, press keys, wait).

A builtin only records a ``ToolEffect`` on its context and tells the model, in a small JSON output,
what will happen; the CallSession carries the effect out at the right moment (after the goodbye has
been heard, for example).
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from bridge.dialplan.model import BuiltinTool
from bridge.errors import ToolError
from bridge.tools.base import ToolContext, WaitEffect

__all__ = ["MAX_DTMF_DIGITS", "MAX_WAIT_S", "BuiltinHandler", "check_digits"]

# A wait longer than this is shortened to it: the caller should not sit in silence for minutes.
MAX_WAIT_S = 60.0
# Each key plays for about 0.2 s; more keys than this is a runaway model, not a phone menu.
MAX_DTMF_DIGITS = 64
_DIGITS = re.compile(r"[0-9*#A-D]+")


def check_digits(digits: object) -> str:
    """``digits`` if it is 1 to MAX_DTMF_DIGITS DTMF keys (``0``-``9``, ``*``, ``#``, ``A``-``D``).

    Raises:
        ToolError: anything else, with a message the model can act on.
    """
    if not isinstance(digits, str) or not _DIGITS.fullmatch(digits):
        raise ToolError(f"digits must be DTMF keys (0-9, *, #, A-D), got {digits!r}")
    if len(digits) > MAX_DTMF_DIGITS:
        raise ToolError(f"at most {MAX_DTMF_DIGITS} digits at a time, got {len(digits)}")
    return digits


def _wait_seconds(seconds: object) -> float:
    """A wait in seconds, capped at MAX_WAIT_S."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise ToolError(f"seconds must be a number, got {seconds!r}")
    if seconds < 0:
        raise ToolError(f"seconds must be 0 or more, got {seconds:g}")
    return min(float(seconds), MAX_WAIT_S)


def _output(status: str, **extra: object) -> str:
    return orjson.dumps({"ok": True, "status": status, **extra}).decode()


class BuiltinHandler:
    """Runs one builtin tool. Fixed values from the dialplan are checked when it is built.

    Raises:
        ToolError: (when built) a transfer without ``to``, bad fixed ``digits`` or negative ``seconds``.
    """

    def __init__(self, tool: BuiltinTool) -> None:
        if tool.kind == "transfer" and not tool.to:
            raise ToolError("builtin transfer needs 'to'")
        self.tool = tool
        self._digits = None if tool.digits is None else check_digits(tool.digits)
        self._seconds = None if tool.seconds is None else _wait_seconds(tool.seconds)

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        tool = self.tool
        if tool.kind == "hangup":
            context.end_call(tool.say)
            return _output("hanging up")
        if tool.kind == "transfer":
            assert tool.to is not None  # checked in __init__
            context.transfer(tool.to, tool.say)
            return _output("transferring")
        if tool.kind == "send_dtmf":
            digits = self._digits if self._digits is not None else check_digits(arguments.get("digits"))
            context.send_dtmf(digits)
            return _output("sent", digits=digits)
        seconds = self._seconds if self._seconds is not None else _wait_seconds(arguments.get("seconds"))
        context.effects.append(WaitEffect(seconds))
        return _output("waiting", seconds=seconds)
