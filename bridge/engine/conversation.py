"""Conversation items and their wire shapes in both dialects.

Items are stored in GA terms (content types ``output_audio``, ``output_text``); beta renames them
(``audio``, ``text``) and adds ``object: realtime.item`` when rendered. GA items go out without
``object``, as the real GA server sent them (PROTOCOLS G.1). Audio is kept as raw bytes in its
format and only rendered (base64) for ``conversation.item.retrieved``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.engine.formats import AudioFormat
from bridge.engine.voice import WordTiming

__all__ = ["ROOT", "Conversation", "Item"]

ROOT = "root"  # previous_item_id that inserts at the start of the conversation
_BETA_CONTENT = {"output_audio": "audio", "output_text": "text"}


@dataclass(slots=True)
class Item:
    """One conversation item: a message, a function call, or a function call output."""

    id: str
    type: str
    status: str = "completed"
    role: str | None = None
    content: list[dict[str, Any]] = field(default_factory=list)
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    # Audio of the (single) audio content part, in ``audio_format``: what was sent or received.
    audio: bytearray = field(default_factory=bytearray)
    audio_format: AudioFormat | None = None
    words: list[WordTiming] = field(default_factory=list)

    @property
    def audio_ms(self) -> int:
        """Milliseconds of audio the item holds (whole milliseconds)."""
        if self.audio_format is None:
            return 0
        return len(self.audio) // self.audio_format.bytes_per_ms

    def render(self, dialect: str, *, with_audio: bool = False) -> dict[str, Any]:
        """The item as the server shows it (audio only when ``with_audio``)."""
        beta = dialect == "beta"
        out: dict[str, Any] = {"id": self.id}
        if beta:
            out["object"] = "realtime.item"
        out["type"] = self.type
        out["status"] = self.status
        if self.type == "message":
            out["role"] = self.role
            out["content"] = [self._part(part, beta, with_audio) for part in self.content]
        elif self.type == "function_call":
            out.update(name=self.name, call_id=self.call_id, arguments=self.arguments)
        else:
            out.update(call_id=self.call_id, output=self.output)
        return out

    def _part(self, part: dict[str, Any], beta: bool, with_audio: bool) -> dict[str, Any]:
        rendered = dict(part)
        if beta:
            rendered["type"] = _BETA_CONTENT.get(part["type"], part["type"])
        if with_audio and part["type"] in ("input_audio", "output_audio") and self.audio_format is not None:
            rendered["audio"] = base64.b64encode(self.audio).decode()
        return rendered


class Conversation:
    """The default conversation: items in order, by ID."""

    def __init__(self) -> None:
        self._items: list[Item] = []

    def get(self, item_id: str) -> Item | None:
        """The item with ``item_id``, if present."""
        return next((item for item in self._items if item.id == item_id), None)

    def insert(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Add ``item`` after ``previous_item_id`` (end if None, start if ``ROOT``, which must
        exist otherwise); returns the ID of the item now before it."""
        if previous_item_id is None:
            index = len(self._items)
        elif previous_item_id == ROOT:
            index = 0
        else:
            index = next(i for i, it in enumerate(self._items) if it.id == previous_item_id) + 1
        self._items.insert(index, item)
        return self._items[index - 1].id if index else None

    def previous_id(self, item_id: str) -> str | None:
        """The ID of the item before ``item_id`` (None at the start or if it is gone)."""
        for before, item in zip([None, *self._items], self._items, strict=False):
            if item.id == item_id:
                return None if before is None else before.id
        return None

    def delete(self, item_id: str) -> None:
        """Remove the item with ``item_id`` (which must exist)."""
        self._items = [item for item in self._items if item.id != item_id]

    def last_id(self) -> str | None:
        """The ID of the last item, if any."""
        return self._items[-1].id if self._items else None

    def has_user_message(self) -> bool:
        """True once the user said or typed anything."""
        return any(item.type == "message" and item.role == "user" for item in self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
