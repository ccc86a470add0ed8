"""Outbox: what one call has decided and not yet handed to its runner, and whether the call has ended."""

from __future__ import annotations

from typing import Any

from bridge.call.actions import Action, EndCall, Note, SendUpstream
from bridge.realtime.events import ClientEvent

__all__ = ["Outbox"]


class Outbox:
    """Actions in the order they were decided.

    A CallSession and its helpers share one, so their decisions interleave exactly as they were made.
    ``now`` arguments are milliseconds on the runner's clock; notes carry them relative to the call's start.
    """

    def __init__(self, started_at: float) -> None:
        self._started_at = started_at
        self._actions: list[Action] = []
        self.end_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    def drain(self) -> list[Action]:
        """Everything decided since the last drain, in order."""
        out, self._actions = self._actions, []
        return out

    def send(self, event: ClientEvent) -> None:
        """Send ``event`` to the model."""
        self._actions.append(SendUpstream(event))

    def emit(self, action: Action) -> None:
        self._actions.append(action)

    def note(self, kind: str, now: float, data: dict[str, Any]) -> None:
        self._actions.append(Note(kind, self.ms(now), data))

    def ms(self, now: float) -> int:
        """``now`` as milliseconds since the call started."""
        return int(now - self._started_at)

    def end(self, reason: str, now: float) -> None:
        """The call is over (the first reason given is kept; later ones are ignored)."""
        if self.ended:
            return
        self.end_reason = reason
        self.note("end", now, {"reason": reason})
        self.emit(EndCall(reason))
