"""One channel of a call recording, cut into WAV files small enough for ``/v1/audio/transcriptions``.

Pure. Recordings are stereo PCM16 (left: the caller, right: the agent as the caller heard it). Audio goes
out at the recording's own rate: 8 kHz telephone audio gains nothing from upsampling (the band above
4 kHz stays empty), and PCM16 WAV is the container every transcription model accepts (PROTOCOLS E.1).
An upload may hold 25 MiB, so long calls are sent in chunks (10 minutes at 8 kHz is 9.6 MB).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from bridge.archive.records import Speaker
from bridge.audio.wav import WavAudio

__all__ = ["DEFAULT_CHUNK_MS", "AudioChunk", "channel_chunks", "mono_wav"]

DEFAULT_CHUNK_MS = 10 * 60 * 1000
_CHANNEL_INDEX: dict[Speaker, int] = {"caller": 0, "agent": 1}


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """``wav`` holds the channel from ``start_ms`` to ``end_ms`` of the call; ``index`` counts every
    chunk of the channel from 0, silent ones included, so it names the same stretch of audio every time."""

    index: int
    start_ms: int
    end_ms: int
    wav: bytes


def mono_wav(pcm: bytes, rate: int) -> bytes:
    """A PCM16 mono WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def channel_chunks(audio: WavAudio, channel: Speaker, chunk_ms: int = DEFAULT_CHUNK_MS) -> list[AudioChunk]:
    """The ``channel`` of a recording as WAV chunks of at most ``chunk_ms``, in order.

    Chunks of pure digital silence are left out (the recorder writes zeros while a side is quiet, and
    transcribing nothing still costs). A mono recording holds only the caller.

    Raises:
        ValueError: the agent channel of a mono recording, or a ``chunk_ms`` below 1.
    """
    if chunk_ms < 1:
        raise ValueError("chunk_ms must be at least 1")
    index = _CHANNEL_INDEX[channel]
    if index >= audio.channels:
        raise ValueError(f"the recording has {audio.channels} channel(s): no {channel} channel")
    samples = np.frombuffer(audio.pcm, dtype="<i2").reshape(-1, audio.channels)[:, index]
    per_chunk = max(1, audio.rate * chunk_ms // 1000)
    chunks = []
    for index, first in enumerate(range(0, len(samples), per_chunk)):
        piece = samples[first : first + per_chunk]
        if not piece.any():
            continue
        chunks.append(
            AudioChunk(
                index=index,
                start_ms=first * 1000 // audio.rate,
                end_ms=(first + len(piece)) * 1000 // audio.rate,
                wav=mono_wav(piece.tobytes(), audio.rate),
            )
        )
    return chunks
