"""Twilio's outbound playout, sans-I/O: a FIFO of audio and marks played at 8 bytes per millisecond.

Two readers model the caller's line with it: the caller simulator (``bridge/sim``), which plays what
the bridge sends as Twilio would, and the call recorder, which places agent audio in the recording
at the time the caller heard it.

Rules (shared PROTOCOLS.md C.2):

* audio is played in the order received, 8 bytes (mu-law samples) per millisecond;
* audio that arrives while nothing is playing starts playing when it arrives;
* a mark is echoed once all audio queued before it has played, at once if nothing is queued;
* ``clear`` drops all queued audio and echoes every pending mark at once, in order.

Time is an argument: simulated milliseconds since the stream started, never decreasing. The line is
modelled sample by sample (sample ``i`` plays at ``i / 8`` ms), so the drained audio is the exact
time-aligned recording of what the caller heard, with mu-law silence (0xFF) where nothing played.
Audio that arrives between two sample boundaries starts on the next one (within 1/8 ms).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["BYTES_PER_MS", "EchoedMark", "Playout", "TwilioPlayback"]

BYTES_PER_MS = 8
"""mu-law at 8 kHz: one byte per sample, eight samples per millisecond."""

_SILENCE = b"\xff"


@dataclass(frozen=True, slots=True)
class EchoedMark:
    """A mark Twilio echoes: ``at_ms`` is when the audio queued before it finished playing (or was cleared)."""

    name: str
    at_ms: float


@dataclass(frozen=True, slots=True)
class Playout:
    """What happened on the line since the previous :meth:`TwilioPlayback.advance`.

    ``audio`` continues the previous drain without gaps: app audio where it played, 0xFF elsewhere.
    """

    audio: bytes
    marks: tuple[EchoedMark, ...]


@dataclass(frozen=True, slots=True)
class _PendingMark:
    name: str
    # The mark is due once this many queued bytes (counted since the stream started) have left the queue.
    after_byte: int


class TwilioPlayback:
    """Plays the app's audio and marks the way Twilio does; fed events with the time, drained with :meth:`advance`."""

    def __init__(self) -> None:
        self._audio: deque[bytes] = deque()
        self._head_offset = 0  # bytes of self._audio[0] already played
        self._marks: deque[_PendingMark] = deque()
        self._enqueued = 0  # bytes ever queued
        self._dequeued = 0  # bytes ever played or dropped
        self._cursor = 0  # samples of the line decided so far
        self._line = bytearray()  # decided samples not yet drained
        self._echoed: list[EchoedMark] = []  # echoes not yet drained
        self.played_bytes = 0
        """App audio bytes played so far (gaps of silence not counted)."""
        self.dropped_bytes = 0
        """App audio bytes dropped by ``clear`` so far."""

    @property
    def queued_bytes(self) -> int:
        """App audio queued and not yet played, as of the last time fed in."""
        return self._enqueued - self._dequeued

    @property
    def pending_marks(self) -> tuple[str, ...]:
        """Names of marks still waiting for their audio, oldest first."""
        return tuple(mark.name for mark in self._marks)

    def receive_media(self, payload: bytes, now_ms: float) -> None:
        """Queue ``payload`` (raw mu-law) received at ``now_ms``."""
        self._play_until(now_ms)
        if not payload:
            return
        if not self._audio:
            # The line is idle: the audio starts on the next sample boundary, never before it arrived.
            start = max(self._cursor, math.ceil(now_ms * BYTES_PER_MS))
            self._line += _SILENCE * (start - self._cursor)
            self._cursor = start
        self._audio.append(payload)
        self._enqueued += len(payload)

    def receive_mark(self, name: str, now_ms: float) -> None:
        """Queue a mark received at ``now_ms``; it is echoed at once if no audio is queued."""
        self._play_until(now_ms)
        self._marks.append(_PendingMark(name, self._enqueued))
        self._echo_due_marks()

    def receive_clear(self, now_ms: float) -> int:
        """Drop queued audio and echo pending marks at ``now_ms``; returns how many bytes were dropped."""
        self._play_until(now_ms)
        dropped = self._enqueued - self._dequeued
        self._audio.clear()
        self._head_offset = 0
        self._dequeued = self._enqueued
        self.dropped_bytes += dropped
        self._echo_due_marks()
        return dropped

    def advance(self, now_ms: float) -> Playout:
        """Play up to ``now_ms`` and drain the line audio and mark echoes produced since the last call."""
        self._play_until(now_ms)
        playout = Playout(bytes(self._line), tuple(self._echoed))
        self._line.clear()
        self._echoed.clear()
        return playout

    def next_echo_ms(self) -> float | None:
        """When the next mark echo is due if nothing else arrives (in the past if one awaits draining)."""
        if self._echoed:
            return self._echoed[0].at_ms
        if not self._marks:
            return None
        return (self._cursor + self._marks[0].after_byte - self._dequeued) / BYTES_PER_MS

    def _play_until(self, now_ms: float) -> None:
        # Decide the samples that have finished by now_ms, so every echo is at or before now_ms.
        target = math.floor(now_ms * BYTES_PER_MS)
        while self._cursor < target:
            if not self._audio:
                self._line += _SILENCE * (target - self._cursor)
                self._cursor = target
                break
            head = self._audio[0]
            count = min(len(head) - self._head_offset, target - self._cursor)
            if self._marks:
                # Stop at the next mark so its echo time is exact.
                count = min(count, self._marks[0].after_byte - self._dequeued)
            self._line += head[self._head_offset : self._head_offset + count]
            self._head_offset += count
            self._cursor += count
            self._dequeued += count
            self.played_bytes += count
            if self._head_offset == len(head):
                self._audio.popleft()
                self._head_offset = 0
            self._echo_due_marks()

    def _echo_due_marks(self) -> None:
        while self._marks and self._marks[0].after_byte <= self._dequeued:
            self._echoed.append(EchoedMark(self._marks.popleft().name, self._cursor / BYTES_PER_MS))
