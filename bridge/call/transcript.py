"""The running transcript of a call: caller turns and agent replies, with what barge-in cut.

It serves two readers: the archive (segments with call-relative times, agent segments holding both
what was said and what the caller actually heard) and session renewal (a plain-text summary carried
into the next upstream session's instructions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Segment", "Transcript", "heard_words"]


@dataclass(slots=True)
class Segment:
    speaker: Literal["caller", "agent"]
    item_id: str
    start_ms: int
    end_ms: int
    text: str = ""
    heard_text: str | None = None  # agent only: set when barge-in cut the reply
    cut: bool = False
    heard_ms: int | None = None  # agent only: how much of the reply's audio was heard before the cut

    @property
    def spoken(self) -> str:
        """What the other party actually got: the heard part of a cut reply, else the whole text."""
        return self.heard_text if self.heard_text is not None else self.text


def heard_words(text: str, heard_ms: int, total_ms: int) -> str:
    """The words of ``text`` the caller heard, assuming speech spread evenly over ``total_ms``.

    Speech rate is close enough to even within one reply; a word counts as heard once its midpoint was.
    """
    words = text.split()
    if total_ms <= 0 or not words:
        return ""
    fraction = max(0.0, min(1.0, heard_ms / total_ms))
    count = sum(1 for i in range(len(words)) if (i + 0.5) / len(words) <= fraction)
    return " ".join(words[:count])


@dataclass(slots=True)
class Transcript:
    segments: list[Segment] = field(default_factory=list)
    _by_item: dict[str, Segment] = field(default_factory=dict)

    def segment(self, speaker: Literal["caller", "agent"], item_id: str, at_ms: int) -> Segment:
        """The segment for ``item_id``, created at ``at_ms`` if new."""
        found = self._by_item.get(item_id)
        if found is None:
            found = Segment(speaker, item_id, at_ms, at_ms)
            self._by_item[item_id] = found
            self.segments.append(found)
        return found

    def get(self, item_id: str) -> Segment | None:
        return self._by_item.get(item_id)

    def summary(self, max_chars: int = 4000) -> str:
        """The conversation so far as ``Caller: ...`` / ``Agent: ...`` lines, newest kept when too long."""
        lines = []
        for seg in self.segments:
            text = seg.spoken.strip()
            if text:
                lines.append(f"{'Caller' if seg.speaker == 'caller' else 'Agent'}: {text}")
        out: list[str] = []
        size = 0
        for line in reversed(lines):
            size += len(line) + 1
            if size > max_chars:
                break
            out.append(line)
        return "\n".join(reversed(out))
