"""Energy-based voice activity detection, sans-I/O and timed in audio, never by a clock.

Audio is cut into 10 ms frames and each frame's RMS level (dBFS) is compared with a level derived
from the Realtime ``threshold`` (0..1): ``-60 + 50 * threshold`` dBFS, so the default 0.5 is
-35 dBFS (ordinary speech at telephone level is -25..-12 dBFS; the shared street-noise recording
sits around -27 dBFS and trips it, as a real VAD at the default would), 0.8 is -20 dBFS (speech
still trips it, that noise no longer does), 0 is -60 dBFS and 1 is -10 dBFS.

Speech starts after ``MIN_SPEECH_MS`` of consecutive loud frames (so a click does not count) and
its onset is the first of them; it stops once ``silence_duration_ms`` of quiet frames have passed
since the last loud one, and the stop is reported at that point, like OpenAI's ``audio_end_ms``
(which includes the silence). Every position is in milliseconds of audio since ``origin_ms``.
"""

from __future__ import annotations

import audioop
from dataclasses import dataclass

__all__ = ["FRAME_MS", "MIN_SPEECH_MS", "EnergyVad", "SpeechStarted", "SpeechStopped", "threshold_dbfs"]

FRAME_MS = 10
MIN_SPEECH_MS = 30


def threshold_dbfs(threshold: float) -> float:
    """The frame level (dBFS) a Realtime ``threshold`` in 0..1 stands for."""
    return -60.0 + 50.0 * threshold


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Speech began at ``onset_ms`` (before any prefix padding)."""

    onset_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    """Speech ended; ``end_ms`` is where the silence period completed."""

    end_ms: int


VadEvent = SpeechStarted | SpeechStopped


class EnergyVad:
    """Feed PCM16 of one rate; get speech start/stop events with audio positions."""

    def __init__(self, *, rate: int, threshold: float, silence_duration_ms: int, origin_ms: int = 0) -> None:
        if rate % (1000 // FRAME_MS):
            raise ValueError(f"rate {rate} Hz does not divide into {FRAME_MS} ms frames")
        self._frame_bytes = rate // (1000 // FRAME_MS) * 2
        # A frame is loud when its RMS exceeds this amplitude: the dBFS level on audioop's integer RMS
        # scale (C, ~1 us a frame; a 1-LSB rounding is 0.015 dB at the default level).
        self._amplitude = 32768.0 * 10.0 ** (threshold_dbfs(threshold) / 20.0)
        self._silence_ms = silence_duration_ms
        self._carry = b""
        self._position = origin_ms
        self._speaking = False
        self._run_start = 0
        self._run_ms = 0
        self._last_loud_end = 0

    @property
    def speaking(self) -> bool:
        """True between a start and its stop."""
        return self._speaking

    @property
    def position_ms(self) -> int:
        """End of the last whole frame analysed."""
        return self._position

    def feed(self, pcm16: bytes) -> list[VadEvent]:
        """Analyse more audio; returns the events it completes, in order."""
        data = self._carry + pcm16
        whole = len(data) - len(data) % self._frame_bytes
        self._carry = data[whole:]
        if not whole:
            return []
        events: list[VadEvent] = []
        step = self._frame_bytes
        for offset in range(0, whole, step):
            start = self._position
            self._position += FRAME_MS
            event = self._step(audioop.rms(data[offset : offset + step], 2) > self._amplitude, start, self._position)
            if event is not None:
                events.append(event)
        return events

    def _step(self, loud: bool, start: int, end: int) -> VadEvent | None:
        if self._speaking:
            if loud:
                self._last_loud_end = end
            elif end - self._last_loud_end >= self._silence_ms:
                self._speaking = False
                self._run_ms = 0
                return SpeechStopped(end)
            return None
        if not loud:
            self._run_ms = 0
            return None
        if self._run_ms == 0:
            self._run_start = start
        self._run_ms += FRAME_MS
        if self._run_ms >= MIN_SPEECH_MS:
            self._speaking = True
            self._last_loud_end = end
            return SpeechStarted(self._run_start)
        return None
