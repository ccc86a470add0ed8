"""The session's timed outbox: what to send, and from when.

Entries are kept in due-time order (ties in insertion order). An entry's event is built when it is
released, after the entries before it, so it can both describe and change the state at the moment
it goes out (``response.done`` lists what was really sent; an audio delta adds to what its item
holds). A build may return None to send nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "Outbox"]


@dataclass(slots=True)
class Entry:
    """One pending event, built (with its side effects) when released."""

    due: float
    build: Callable[[], dict[str, Any] | None]
    tag: str | None = None


class Outbox:
    """Entries ordered by due time."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._keys: list[tuple[float, int]] = []
        self._seq = 0

    def add(
        self,
        due: float,
        build: Callable[[], dict[str, Any] | None],
        *,
        tag: str | None = None,
    ) -> None:
        """Queue an event due at ``due``; ``tag`` groups entries for ``drop_after``."""
        self._seq += 1
        key = (due, self._seq)
        index = bisect.bisect_right(self._keys, key)
        self._keys.insert(index, key)
        self._entries.insert(index, Entry(due, build, tag))

    def drop_after(self, tag: str, now: float) -> None:
        """Forget the entries of ``tag`` not yet due at ``now`` (a cancelled response's future)."""
        keep = [i for i, e in enumerate(self._entries) if not (e.tag == tag and e.due > now)]
        self._entries = [self._entries[i] for i in keep]
        self._keys = [self._keys[i] for i in keep]

    def pop_due(self, now: float) -> Entry | None:
        """The earliest entry due at ``now``, removed; None if nothing is due."""
        if not self._entries or self._entries[0].due > now:
            return None
        self._keys.pop(0)
        return self._entries.pop(0)

    def next_due(self) -> float | None:
        """When the earliest entry is due, if any."""
        return self._entries[0].due if self._entries else None

    def __len__(self) -> int:
        return len(self._entries)
