"""Post-call transcription of one call: its recording's channels through ``/v1/audio/transcriptions``.

The text is stored as ``source="post"`` transcript segments beside the live ones, one segment per
channel chunk (see :mod:`bridge.archive.jobs_audio`). Segment numbers are fixed by channel and chunk
(``seq = 2 * chunk + channel``), so transcribing a call again replaces its post segments instead of
adding to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from bridge.archive.jobs_audio import channel_chunks
from bridge.archive.records import Speaker, TranscriptSegment
from bridge.archive.store import ArchiveStore
from bridge.audio.wav import WavAudio, read_wav
from bridge.errors import ProtocolError
from bridge.openai_api import OpenAIClient

__all__ = ["ItemError", "transcribe_call"]

_CHANNEL_SEQ: dict[Speaker, int] = {"caller": 0, "agent": 1}


class ItemError(Exception):
    """This call cannot be processed (no recording, unreadable file, ...); the message goes to its item."""


async def _recording(store: ArchiveStore, call_id: str) -> WavAudio:
    call = await store.get_call(call_id)
    if call is None:
        raise ItemError("the call no longer exists")
    if call.recording_path is None:
        raise ItemError("the call has no recording")
    try:
        return await asyncio.to_thread(read_wav, Path(call.recording_path))
    except OSError as exc:
        raise ItemError(f"cannot read the recording: {exc.strerror or exc}") from exc
    except ProtocolError as exc:
        raise ItemError(f"the recording is not a readable WAV file: {exc}") from exc


async def transcribe_call(
    store: ArchiveStore,
    client: OpenAIClient,
    call_id: str,
    *,
    channels: Sequence[Speaker],
    model: str,
    prompt: str | None,
    chunk_ms: int,
) -> dict[str, str]:
    """Transcribe ``channels`` of the call's recording, store the segments and return the text by channel.

    Raises:
        ItemError: the call, its recording or a requested channel is missing or unreadable.
        UpstreamError, ProtocolError: the transcription endpoint refused or failed.
    """
    audio = await _recording(store, call_id)
    segments: list[TranscriptSegment] = []
    texts: dict[str, str] = {}
    for channel in channels:
        try:
            chunks = channel_chunks(audio, channel, chunk_ms)
        except ValueError as exc:
            raise ItemError(str(exc)) from None
        parts = []
        for chunk in chunks:
            name = f"{call_id}-{channel}-{chunk.index}.wav"
            transcription = await client.transcribe(chunk.wav, name, model, prompt=prompt)
            text = " ".join(transcription.text.split())
            if not text:
                continue
            parts.append(text)
            segments.append(
                TranscriptSegment(
                    seq=2 * chunk.index + _CHANNEL_SEQ[channel],
                    speaker=channel,
                    start_ms=chunk.start_ms,
                    end_ms=chunk.end_ms,
                    text=text,
                    source="post",
                )
            )
        texts[channel] = " ".join(parts)
    if segments:
        await store.add_transcript_segments(call_id, segments)
    return texts
