"""StereoRecording: both sides of a call on one timeline, sans-I/O; and the WAV file it goes to.

The timeline is call-relative milliseconds, 8 samples per millisecond, from 0 (the call's start) to its end.

* Left, the caller: their frames in arrival order, each ``len(payload) / 8`` ms long. The first frame is
  placed so that it ends when it arrived (its audio was spoken during the 20 ms before). Later frames
  follow back to back; a frame that comes after a gap (frames missing) starts after silence. With the
  provider's stream clock (Twilio's ``media.timestamp``) a gap is exact: a jump of the timestamp, and the
  clock is anchored on the earliest-arriving frame of the first second (a late first frame does not
  shift the channel). Without it, a frame arriving more than one frame's length after the channel's end
  marks the gap. A frame due
  before the channel's end (jitter, a burst after a stall) is never dropped: it is appended.
* Right, the agent, as the caller heard it: Twilio's playout modelled by
  :class:`~bridge.telephony.playout.TwilioPlayback`, a FIFO played at 8 bytes per ms from the later of a chunk's
  send time and the end of the audio before it; ``clear`` drops what had not played yet.

Audio stays mu-law in memory until :meth:`StereoRecording.take` hands out the part both channels have
decided; :func:`stereo_pcm16` (decoding and interleaving, meant for a worker thread) makes it a WAV frame
block. The functions at the end are the file side, blocking, also for a worker thread.
"""

from __future__ import annotations

from pathlib import Path

from bridge.audio.g711 import ulaw_to_pcm16
from bridge.audio.wav import StreamingWavWriter, interleave_stereo
from bridge.telephony.playout import BYTES_PER_MS, TwilioPlayback

__all__ = [
    "CALLER_LAG_MS",
    "RATE",
    "WAV_HEADER_BYTES",
    "StereoRecording",
    "append_wav",
    "close_wav",
    "open_wav",
    "stereo_pcm16",
    "wav_size",
]

RATE = 8000
WAV_HEADER_BYTES = 44
"""The plain PCM header ``StreamingWavWriter`` writes."""
CALLER_LAG_MS = 2000
"""How far the caller channel may trail the agent's before its end is filled with silence.

Frames come every 20 ms for as long as the call lasts, so the caller channel only trails when they stop
coming (a stalled stream). Holding the agent's audio back for it would hold back the whole recording, so
after this long the missing stretch becomes silence and what arrives later is appended after it.
"""

_SILENCE = 0xFF  # mu-law digital silence
_JITTER_SAMPLES = 20 * BYTES_PER_MS  # without a stream clock, lateness up to one frame is not a gap


class StereoRecording:
    """Places caller frames and agent audio on the call's timeline; drained in mu-law with :meth:`take`.

    Feed methods are cheap (they append bytes); time is call-relative milliseconds, never decreasing by
    more than the jitter between the caller's and the agent's paths (slightly late times are harmless).
    """

    def __init__(self) -> None:
        self._caller = bytearray()  # caller samples from self.samples onwards
        self._agent = bytearray()  # agent samples from self.samples onwards, as played
        self._playback = TwilioPlayback()
        self._stream_origin: int | None = None  # timeline sample of the stream clock's zero
        self.samples = 0
        """Samples (per channel) handed out by :meth:`take` and :meth:`finish` so far."""
        self.finished = False

    def caller_audio(self, payload: bytes, at_ms: float, stream_ms: int | None = None) -> None:
        """A caller frame (mu-law) that arrived at ``at_ms``; ``stream_ms`` is the provider's stream clock."""
        if self.finished or not payload:
            return
        end = self.samples + len(self._caller)
        arrived = round(at_ms * BYTES_PER_MS) - len(payload)
        if stream_ms is None:
            start = arrived if arrived > end + _JITTER_SAMPLES else end
        else:
            origin = arrived - stream_ms * BYTES_PER_MS  # where this frame says the stream clock's zero is
            if self._stream_origin is None:
                self._stream_origin = origin
            elif origin < self._stream_origin and self.samples == 0:
                # The first frames came late (a busy start): re-anchor on the earliest, until the first take.
                shift = min(self._stream_origin - origin, max(0, self._stream_origin))
                del self._caller[:shift]  # the silence before the first frame
                self._stream_origin -= shift
                end -= shift
            start = self._stream_origin + stream_ms * BYTES_PER_MS
        if start > end:
            self._caller += bytes((_SILENCE,)) * (start - end)
        self._caller += payload

    def agent_audio(self, payload: bytes, at_ms: float) -> None:
        """Agent audio (mu-law) sent to the caller at ``at_ms``."""
        if not self.finished:
            self._playback.receive_media(payload, at_ms)

    def agent_clear(self, at_ms: float) -> None:
        """A ``clear`` sent at ``at_ms``: agent audio not yet played by then is never heard."""
        if not self.finished:
            self._playback.receive_clear(at_ms)

    @property
    def buffered(self) -> int:
        """Bytes held in memory, not yet handed out (both channels)."""
        return len(self._caller) + len(self._agent)

    def take(self, until_ms: float) -> tuple[bytes, bytes]:
        """``(caller, agent)`` mu-law, of equal length: the recording from where the last take ended.

        The agent's channel is decided up to ``until_ms``; the caller's up to its last frame. Both are
        handed out up to the earlier of the two (the caller's may trail by at most :data:`CALLER_LAG_MS`).
        """
        if self.finished:
            return b"", b""
        self._agent += self._playback.advance(until_ms).audio
        self._fill_caller(len(self._agent) - CALLER_LAG_MS * BYTES_PER_MS)
        return self._split(min(len(self._caller), len(self._agent)))

    def finish(self, end_ms: float) -> tuple[bytes, bytes]:
        """The rest of the recording up to ``end_ms`` (or the caller's last frame, if later); feeds stop here."""
        if self.finished:
            return b"", b""
        self._agent += self._playback.advance(end_ms).audio
        self.finished = True
        length = max(len(self._caller), len(self._agent))
        self._fill_caller(length)
        self._agent += bytes((_SILENCE,)) * (length - len(self._agent))
        return self._split(length)

    def _fill_caller(self, length: int) -> None:
        if len(self._caller) < length:
            self._caller += bytes((_SILENCE,)) * (length - len(self._caller))

    def _split(self, n: int) -> tuple[bytes, bytes]:
        caller, agent = bytes(self._caller[:n]), bytes(self._agent[:n])
        del self._caller[:n]
        del self._agent[:n]
        self.samples += n
        return caller, agent


def stereo_pcm16(caller: bytes, agent: bytes) -> bytes:
    """Interleaved stereo PCM16 (left caller, right agent) from equal-length mu-law channels."""
    return interleave_stereo(ulaw_to_pcm16(caller), ulaw_to_pcm16(agent))


def wav_size(samples: int) -> int:
    """Bytes of a stereo PCM16 recording of ``samples`` samples per channel, header included."""
    return WAV_HEADER_BYTES + 4 * samples


def open_wav(path: Path) -> StreamingWavWriter:
    """Create the folder and an empty stereo 8 kHz WAV at ``path`` (blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return StreamingWavWriter(path, RATE, channels=2)


def append_wav(wav: StreamingWavWriter, caller: bytes, agent: bytes) -> None:
    """Append a block and flush, so the file on disk is a complete WAV again (blocking)."""
    wav.write(stereo_pcm16(caller, agent))
    wav.flush()


def close_wav(wav: StreamingWavWriter, caller: bytes, agent: bytes) -> None:
    """Append the last block and close; the file is closed (with a valid header) even if writing fails."""
    try:
        wav.write(stereo_pcm16(caller, agent))
    finally:
        wav.close()
