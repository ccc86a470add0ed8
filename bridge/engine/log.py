"""Every event a session sent and received, with its time, for tests and debugging."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Direction", "EventLog", "LogEntry"]

Direction = Literal["sent", "received"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One frame: ``event`` is the parsed JSON object, or None when the frame was not one or
    arrived after the session ended (then ``raw`` holds what arrived, text or bytes)."""

    direction: Direction
    event: dict[str, Any] | None
    time: float
    raw: str | bytes | None = None

    @property
    def type(self) -> str | None:
        """The event's ``type`` field, if any."""
        kind = self.event.get("type") if self.event is not None else None
        return kind if isinstance(kind, str) else None


class EventLog:
    """An append-only list of LogEntry with filters by direction and type."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.entries: list[LogEntry] = []

    def record(
        self, direction: Direction, event: dict[str, Any] | None, time: float, raw: str | bytes | None = None
    ) -> None:
        """Append an entry (a no-op when the log is disabled)."""
        if self.enabled:
            self.entries.append(LogEntry(direction, event, time, raw))

    def _events(self, direction: Direction, types: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            entry.event
            for entry in self.entries
            if entry.direction == direction and entry.event is not None and (not types or entry.type in types)
        ]

    def sent(self, *types: str) -> list[dict[str, Any]]:
        """Events the engine sent, optionally only those of the given types."""
        return self._events("sent", types)

    def received(self, *types: str) -> list[dict[str, Any]]:
        """JSON events the engine received, optionally only those of the given types."""
        return self._events("received", types)

    def types(self, direction: Direction = "sent") -> list[str]:
        """The ``type`` of every event in one direction, in order."""
        return [entry.type or "" for entry in self.entries if entry.direction == direction]

    def first(self, type: str, direction: Direction = "sent") -> dict[str, Any]:
        """The first event of ``type``; LookupError if there is none."""
        for event in self._events(direction, (type,)):
            return event
        raise LookupError(f"no {direction} event of type {type!r}")

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
