"""What a CallSession asks its runner to do. The runner carries these out and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.realtime.events import ClientEvent
from bridge.telephony.events import TelephonyCommand
from bridge.tools.base import ToolCall

__all__ = ["Action", "EndCall", "Note", "ReconnectUpstream", "RunTools", "SendToCaller", "SendUpstream"]


@dataclass(frozen=True, slots=True)
class SendToCaller:
    """A command for the telephony provider (audio, mark, clear, hang-up, transfer)."""

    command: TelephonyCommand


@dataclass(frozen=True, slots=True)
class SendUpstream:
    """A Realtime client event for the model."""

    event: ClientEvent


@dataclass(frozen=True, slots=True)
class RunTools:
    """Run these tool calls concurrently and feed the results back with ``CallSession.tool_results``."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class ReconnectUpstream:
    """Open a new upstream session (``reason``: ``renew`` before the session limit, ``retry`` after a drop)."""

    reason: str


@dataclass(frozen=True, slots=True)
class EndCall:
    """The call is over: close both legs. Archive and metrics use ``reason``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth keeping: a timeline entry for the archive and a signal for metrics.

    ``at_ms`` is call-relative. Kinds: session, turn, barge_in, response, tool_call, transcript,
    usage, error, latency, dtmf, end.
    """

    kind: str
    at_ms: int
    data: dict[str, Any]


Action = SendToCaller | SendUpstream | RunTools | ReconnectUpstream | EndCall | Note
