"""The input audio buffer: what the client appended, speech turns, and the idle timeout.

Everything is timed in audio (milliseconds of input received since the session started), never
by a clock, so the same audio always gives the same events: 8 bytes a millisecond for G.711,
48 for 24 kHz PCM.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.engine.formats import AudioFormat
from bridge.engine.sessionconfig import TurnDetection
from bridge.engine.vad import EnergyVad, SpeechStarted

__all__ = ["IdleTimeout", "InputAudio", "TurnEnded", "TurnStarted"]


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """Speech began; ``audio_start_ms`` includes the prefix padding."""

    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """Speech ended at ``audio_end_ms``; ``audio`` is the turn, taken out of the buffer."""

    audio_start_ms: int
    audio_end_ms: int
    audio: bytes


@dataclass(frozen=True, slots=True)
class IdleTimeout:
    """Nobody spoke for the idle timeout after the agent's audio; ``audio`` is that silence."""

    audio_start_ms: int
    audio_end_ms: int
    audio: bytes


InputEvent = TurnStarted | TurnEnded | IdleTimeout


class InputAudio:
    """Appended audio in one format, cut into turns by VAD when turn detection is on."""

    def __init__(self, fmt: AudioFormat, detection: TurnDetection | None) -> None:
        self.format = fmt
        self.detection = detection
        self.position_ms = 0.0
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._turn_start_ms = 0
        self._idle_from_ms: float | None = None
        self._vad = self._new_vad()

    def _new_vad(self) -> EnergyVad | None:
        if self.detection is None:
            return None
        return EnergyVad(
            rate=self.format.rate,
            threshold=self.detection.threshold,
            silence_duration_ms=self.detection.silence_ms,
            origin_ms=round(self.position_ms),
        )

    @property
    def buffered_ms(self) -> float:
        """Audio in the buffer (since the last commit or clear)."""
        return self.format.ms(len(self._buffer))

    @property
    def speaking(self) -> bool:
        """True between a turn's start and end."""
        return self._vad is not None and self._vad.speaking

    def reconfigure(self, fmt: AudioFormat, detection: TurnDetection | None) -> None:
        """New format or turn detection: a new format empties the buffer; VAD starts afresh."""
        if fmt != self.format:
            self.format = fmt
            self.clear()
        if detection != self.detection:
            self.detection = detection
            self._vad = self._new_vad()
            if detection is None or detection.idle_timeout_ms is None:
                self._idle_from_ms = None

    def arm_idle(self, playback_ms: float) -> None:
        """The agent finished a response: start the idle timeout once its audio has played."""
        if self.detection is not None and self.detection.idle_timeout_ms is not None:
            self._idle_from_ms = self.position_ms + playback_ms

    def append(self, data: bytes) -> list[InputEvent]:
        """Add audio; returns the turn and timeout events it completes, in order."""
        self._buffer += data
        self.position_ms += self.format.ms(len(data))
        events: list[InputEvent] = []
        if self._vad is not None and self.detection is not None:
            for vad_event in self._vad.feed(self.format.decode(data)):
                if isinstance(vad_event, SpeechStarted):
                    self._idle_from_ms = None
                    self._turn_start_ms = max(0, vad_event.onset_ms - self.detection.prefix_padding_ms)
                    events.append(TurnStarted(self._turn_start_ms))
                else:
                    audio = self._take(self._turn_start_ms, vad_event.end_ms)
                    events.append(TurnEnded(self._turn_start_ms, vad_event.end_ms, audio))
        timeout = self.detection.idle_timeout_ms if self.detection is not None else None
        if self._idle_from_ms is not None and timeout is not None and not self.speaking:
            start = self._idle_from_ms
            if self.position_ms >= start + timeout:
                self._idle_from_ms = None
                audio = self._take(start, start + timeout)
                events.append(IdleTimeout(round(start), round(start + timeout), audio))
        return events

    def take_all(self) -> bytes:
        """Commit: the whole buffer, which is emptied; a turn in progress is abandoned."""
        audio = bytes(self._buffer)
        self.clear()
        return audio

    def clear(self) -> None:
        """Empty the buffer and restart VAD."""
        self._buffer.clear()
        self._buffer_start_ms = self.position_ms
        self._vad = self._new_vad()

    def _offset(self, ms: float) -> int:
        offset = round((ms - self._buffer_start_ms) * self.format.bytes_per_ms)
        offset -= offset % self.format.sample_bytes
        return min(max(offset, 0), len(self._buffer))

    def _take(self, start_ms: float, end_ms: float) -> bytes:
        """Audio between two positions; the buffer keeps only what follows ``end_ms``."""
        first, last = self._offset(start_ms), self._offset(end_ms)
        audio = bytes(self._buffer[first:last])
        del self._buffer[:last]
        self._buffer_start_ms += last / self.format.bytes_per_ms
        return audio
