"""PlaybackLedger: what the caller has heard of each agent item, from mark acknowledgements.

Agent audio goes to the provider in chunks (one per model delta), each followed by a mark. The
provider echoes a mark once the audio queued before it has been played, so acknowledged marks are
the ground truth of what the caller heard. Between acknowledgements playback advances at the audio's
byte rate, so the position inside the chunk now playing is estimated from the time it started (the
previous acknowledgement, or the chunk's own send time if the line had gone quiet) and capped at the
chunk's own mark: the estimate never runs past audio whose mark has not come back.

Positions are byte offsets in one cumulative stream of everything sent to the caller; each chunk
also knows its offset within its own item, since items can interleave (DTMF tones played while a
reply streams). Time comes in as an argument (milliseconds on
any monotonic clock): this module never reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["Cut", "PlaybackLedger"]


@dataclass(frozen=True, slots=True)
class _Chunk:
    item_id: str
    start: int  # stream offset of the chunk's first byte
    end: int  # stream offset just past its last byte
    item_offset: int  # offset of the chunk's first byte within its item (items may interleave, e.g. DTMF)
    sent_at: float
    mark: str

    @property
    def item_end(self) -> int:
        return self.item_offset + self.end - self.start


@dataclass(frozen=True, slots=True)
class Cut:
    """The result of cutting playback short (barge-in).

    ``item_id`` is the item the caller was hearing and ``audio_end_ms`` how much of it they heard;
    ``unheard_items`` are later items queued behind it of which the caller heard nothing.
    """

    item_id: str
    audio_end_ms: int
    unheard_items: tuple[str, ...]


class PlaybackLedger:
    """Tracks agent audio sent to, and heard by, the caller."""

    def __init__(self, bytes_per_ms: int = 8) -> None:
        self._bytes_per_ms = bytes_per_ms
        self._queued_end = 0  # stream offset past the last byte sent
        self._resolved = 0  # stream offset up to which audio is known heard (or was cleared)
        self._last_ack_at: float | None = None
        self._pending: deque[_Chunk] = deque()
        self._marks: dict[str, _Chunk] = {}
        self._item_sent: dict[str, int] = {}
        self._item_heard: dict[str, int] = {}
        self._mark_seq = 0

    # -- feeding ---------------------------------------------------------------------------------

    def sent(self, item_id: str, nbytes: int, now: float) -> str:
        """Record ``nbytes`` of ``item_id`` sent to the caller; returns the mark name to send after it."""
        if nbytes <= 0:
            raise ValueError("a chunk must carry audio")
        item_offset = self._item_sent.get(item_id, 0)
        self._mark_seq += 1
        start, end = self._queued_end, self._queued_end + nbytes
        mark = f"{item_id}@{item_offset + nbytes}#{self._mark_seq}"
        chunk = _Chunk(item_id, start, end, item_offset, now, mark)
        self._pending.append(chunk)
        self._marks[mark] = chunk
        self._queued_end = end
        self._item_sent[item_id] = item_offset + nbytes
        return mark

    def mark_played(self, name: str, now: float) -> bool:
        """Record the provider's echo of mark ``name``; returns False for marks that are not ours or were cleared."""
        chunk = self._marks.pop(name, None)
        if chunk is None:
            return False
        # Marks are echoed in order: everything up to this one has been played.
        while self._pending:
            done = self._pending.popleft()
            self._marks.pop(done.mark, None)
            self._credit(done.item_id, done.item_end)
            if done is chunk:
                break
        self._resolved = chunk.end
        self._last_ack_at = now
        return True

    # -- reading ---------------------------------------------------------------------------------

    def heard_position(self, now: float) -> int:
        """Estimated stream offset the caller has heard up to at ``now``."""
        if not self._pending:
            return self._resolved
        chunk = self._pending[0]
        started = chunk.sent_at if self._last_ack_at is None else max(self._last_ack_at, chunk.sent_at)
        elapsed_bytes = int(max(0.0, now - started) * self._bytes_per_ms)
        return chunk.start + min(chunk.end - chunk.start, elapsed_bytes)

    def has_unheard(self, now: float) -> bool:
        """True while some audio sent to the caller has (probably) not been played yet."""
        return self.heard_position(now) < self._queued_end

    @property
    def all_played(self) -> bool:
        """True when every mark sent has come back: the caller has heard everything queued."""
        return not self._pending

    @property
    def pending_marks(self) -> int:
        return len(self._pending)

    def sent_ms(self, item_id: str) -> int:
        """Milliseconds of ``item_id`` sent to the caller so far."""
        return self._item_sent.get(item_id, 0) // self._bytes_per_ms

    def heard_ms(self, item_id: str) -> int:
        """Milliseconds of ``item_id`` known heard (acknowledged, or up to a cut)."""
        return self._item_heard.get(item_id, 0) // self._bytes_per_ms

    # -- barge-in --------------------------------------------------------------------------------

    def cut(self, now: float) -> Cut | None:
        """Stop playback at ``now`` (the provider is told to clear); None when nothing was left unheard.

        Marks still pending are forgotten: the provider echoes them on clear, and those echoes say
        nothing about what was heard.
        """
        position = self.heard_position(now)
        if position >= self._queued_end:
            return None
        current = next(c for c in self._pending if c.end > position)
        heard_bytes = current.item_offset + position - current.start
        self._credit(current.item_id, heard_bytes)
        unheard: list[str] = []
        for chunk in self._pending:
            if chunk.start >= position and chunk.item_id != current.item_id and chunk.item_id not in unheard:
                unheard.append(chunk.item_id)
        for chunk in self._pending:
            self._marks.pop(chunk.mark, None)
        self._pending.clear()
        # Whatever was queued is now either heard or dropped; the next audio starts a fresh run.
        self._resolved = self._queued_end
        self._last_ack_at = None
        for item_id in (current.item_id, *unheard):
            self._item_sent[item_id] = self._item_heard.get(item_id, 0)
        return Cut(current.item_id, heard_bytes // self._bytes_per_ms, tuple(unheard))

    def _credit(self, item_id: str, heard_bytes: int) -> None:
        if heard_bytes > self._item_heard.get(item_id, 0):
            self._item_heard[item_id] = heard_bytes
