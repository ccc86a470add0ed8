"""The tool contract: what the call asks for (ToolCall), what a handler returns (ToolResult).

Handlers never touch the call directly. Anything a tool does to the call (hang up, transfer, play
DTMF, hold the agent's next turn) comes back as a ``ToolEffect`` that the sans-I/O CallSession
carries out at the right moment (for example after the caller has heard the goodbye).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "HangupEffect",
    "SendDtmfEffect",
    "ToolCall",
    "ToolContext",
    "ToolEffect",
    "ToolResult",
    "ToolStatus",
    "TransferEffect",
    "WaitEffect",
]

ToolStatus = Literal["ok", "error", "timeout"]


@dataclass(frozen=True, slots=True)
class HangupEffect:
    """End the call once the caller has heard ``say`` (when given) and everything queued before it."""

    say: str | None = None


@dataclass(frozen=True, slots=True)
class TransferEffect:
    """Transfer the caller to ``to`` after ``say`` has been heard; a barge-in during ``say`` cancels it."""

    to: str
    say: str | None = None


@dataclass(frozen=True, slots=True)
class SendDtmfEffect:
    """Play these DTMF digits in-band to the caller's leg."""

    digits: str


@dataclass(frozen=True, slots=True)
class WaitEffect:
    """Hold the agent's next turn for ``seconds`` (or until the caller speaks)."""

    seconds: float


ToolEffect = HangupEffect | TransferEffect | SendDtmfEffect | WaitEffect


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call from the model (or a DTMF digit mapped to a tool).

    ``arguments`` is the raw JSON text the model produced; parsing and validation happen in the runner
    so that bad arguments become an error output for the model, not an exception.
    """

    call_id: str
    name: str
    arguments: str
    source: Literal["model", "dtmf"] = "model"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A finished tool call. ``output`` is the JSON text sent back as ``function_call_output``."""

    call_id: str
    name: str
    arguments: str
    output: str
    status: ToolStatus
    started_at_ms: float
    duration_ms: float
    effects: tuple[ToolEffect, ...] = ()
    source: Literal["model", "dtmf"] = "model"


@dataclass(slots=True)
class ToolContext:
    """What a handler knows about the call, and how it asks the call to change.

    ``end_call`` and ``transfer`` record effects; the call carries them out after the tool returns.
    """

    call_id: str
    from_number: str
    to_number: str
    dialplan: str
    logger: logging.Logger
    effects: list[ToolEffect] = field(default_factory=list)

    def end_call(self, say: str | None = None) -> None:
        self.effects.append(HangupEffect(say))

    def transfer(self, to: str, say: str | None = None) -> None:
        self.effects.append(TransferEffect(to, say))

    def send_dtmf(self, digits: str) -> None:
        self.effects.append(SendDtmfEffect(digits))
