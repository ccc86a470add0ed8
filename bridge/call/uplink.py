"""Uplink: the caller's audio on its way to the model, for one CallSession (sans-I/O).

The upstream takes the caller's mu-law 8 kHz as it is (passthrough) or as PCM16 24 kHz. Until an
upstream session is ready the audio is held (the newest ``max_held_ms`` of it, as mu-law) and then
converted and sent in order; so the format may still be chosen while audio is held (a call's
configuration arrives with the provider's ``start``, after the upstream was dialled).
Every send is remembered with its time, so a position in the upstream session's input audio (a turn's
``audio_end_ms``) maps back to when that audio was forwarded, for latency notes.
"""

from __future__ import annotations

from collections import deque

from bridge.audio.g711 import ulaw_to_pcm16
from bridge.audio.resample import StreamResampler
from bridge.call.outbox import Outbox
from bridge.realtime.events import InputAudioBufferAppend

__all__ = ["PCM16_BYTES_PER_MS", "ULAW_BYTES_PER_MS", "Uplink"]

ULAW_BYTES_PER_MS = 8  # mu-law 8 kHz, the caller's audio
PCM16_BYTES_PER_MS = 48  # PCM16 24 kHz, the upstream's audio in pcm16 mode


class Uplink:
    """Caller audio for the upstream: converted, held while no session is ready, and clocked."""

    def __init__(self, out: Outbox, *, pcm16: bool, max_held_ms: int) -> None:
        self._out = out
        self._max_held_bytes = max_held_ms * ULAW_BYTES_PER_MS
        self._held: deque[bytes] = deque()  # mu-law, converted when sent
        self._held_bytes = 0
        self._input_ms = 0  # audio forwarded on this upstream session, in ms
        self._clock: deque[tuple[int, float]] = deque(maxlen=600)  # (input ms, time) for latency
        self.set_format(pcm16=pcm16)

    def set_format(self, *, pcm16: bool) -> None:
        """Choose the upstream's format before any audio was forwarded; held audio is sent in it."""
        self._upsampler = StreamResampler(8000, 24000) if pcm16 else None
        self._bytes_per_ms = PCM16_BYTES_PER_MS if pcm16 else ULAW_BYTES_PER_MS

    def caller_audio(self, ulaw: bytes, pcm: bytes, now: float, *, ready: bool) -> None:
        """One frame of the caller (``pcm`` is ``ulaw`` decoded): forward it, or hold it until ``ready``."""
        if ready:
            self._forward(ulaw, pcm, now)
            return
        self._held.append(ulaw)
        self._held_bytes += len(ulaw)
        while self._held_bytes > self._max_held_bytes:
            self._held_bytes -= len(self._held.popleft())

    def new_session(self) -> None:
        """A new upstream session counts its input audio from zero."""
        self._input_ms = 0
        self._clock.clear()

    def flush(self, now: float) -> None:
        """The upstream session is ready: send what was held, in order."""
        while self._held:
            self._forward(self._held.popleft(), None, now)
        self._held_bytes = 0

    def time_of(self, audio_ms: int, now: float) -> float:
        """When the caller audio at ``audio_ms`` (upstream session time) was forwarded (``now`` if unknown)."""
        for input_ms, at in reversed(self._clock):
            if input_ms <= audio_ms:
                return at + (audio_ms - input_ms)
        return now

    def _forward(self, ulaw: bytes, pcm: bytes | None, now: float) -> None:
        if self._upsampler is None:
            audio = ulaw
        else:
            audio = self._upsampler.process(ulaw_to_pcm16(ulaw) if pcm is None else pcm)
        self._input_ms += len(audio) // self._bytes_per_ms
        self._clock.append((self._input_ms, now))
        self._out.send(InputAudioBufferAppend(audio=audio))
