from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.g711 import pcm16_to_ulaw
from bridge.engine.rest import RestLimits
from bridge.errors import UpstreamError
from bridge.openai_api.client import TranscriptionFormat
from tests.integration.engine_rest_peer import Peer, running_peer


class FakeRecognizer:
    """Records what it is given and answers a fixed text."""

    def __init__(self, text: str = "what are your opening hours") -> None:
        self.text = text
        self.calls: list[tuple[bytes, int]] = []

    def __call__(self, pcm16: bytes, rate: int) -> str:
        self.calls.append((pcm16, rate))
        return self.text


@pytest.fixture
def recognizer() -> FakeRecognizer:
    return FakeRecognizer()


@pytest.fixture
async def peer(tmp_path: Path, recognizer: FakeRecognizer) -> AsyncIterator[Peer]:
    async with running_peer(tmp_path, recognizer=recognizer, limits=RestLimits(audio_bytes=64 * 1024)) as running:
        yield running


def wav(samples: bytes, *, tag: int = 1, bits: int = 16, rate: int = 8000) -> bytes:
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(samples))
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )


TONE = (np.sin(np.arange(19200) / 7) * 6000).astype("<i2").tobytes()  # 2.4 s at 8 kHz


async def test_json_transcription_decodes_pcm_for_the_recognizer(peer: Peer, recognizer: FakeRecognizer) -> None:
    async with peer.client() as client:
        result = await client.transcribe(wav(TONE), "call.wav")
    assert recognizer.calls == [(TONE, 8000)]
    assert result.text == "what are your opening hours"
    assert result.raw == {"text": "what are your opening hours", "usage": {"type": "duration", "seconds": 3}}


async def test_mulaw_wav_is_decoded(peer: Peer, recognizer: FakeRecognizer) -> None:
    async with peer.client() as client:
        await client.transcribe(wav(pcm16_to_ulaw(TONE), tag=7, bits=8), "call.wav", model="whisper-1")
    ((pcm, rate),) = recognizer.calls
    assert rate == 8000 and len(pcm) == len(TONE)


async def test_every_whisper_format(peer: Peer) -> None:
    async with peer.client() as client:
        verbose = await client.transcribe(wav(TONE), model="whisper-1", response_format="verbose_json")
        text = await client.transcribe(wav(TONE), model="whisper-1", response_format="text")
        srt = await client.transcribe(wav(TONE), model="whisper-1", response_format="srt")
        vtt = await client.transcribe(wav(TONE), model="whisper-1", response_format="vtt")
    assert (verbose.language, verbose.duration, verbose.usage_seconds) == ("english", 2.4, 3.0)
    assert [(s.start, s.end, s.text) for s in verbose.segments] == [(0.0, 2.4, "what are your opening hours")]
    assert text.text == "what are your opening hours"
    assert srt.text == "1\n00:00:00,000 --> 00:00:02,400\nwhat are your opening hours\n\n"
    assert vtt.text == "WEBVTT\n\n00:00:00.000 --> 00:00:02.400\nwhat are your opening hours\n\n"


async def test_refusals(peer: Peer, recognizer: FakeRecognizer) -> None:
    cases: list[tuple[str, str, TranscriptionFormat, bytes, str]] = [
        ("call.ulaw", "whisper-1", "json", wav(TONE), "Invalid file format"),
        ("call.mp3", "whisper-1", "json", b"ID3 not a wav", "Audio file might be corrupted or unsupported"),
        ("call.wav", "gpt-4o-mini-transcribe", "srt", wav(TONE), "is not compatible with model"),
        ("call.wav", "gpt-9", "json", wav(TONE), "Invalid 'model'"),
    ]
    async with peer.client() as client:
        for filename, model, response_format, audio, message in cases:
            with pytest.raises(UpstreamError, match=message) as caught:
                await client.transcribe(audio, filename, model, response_format=response_format)
            assert caught.value.status == 400, message
    async with peer.http() as http:
        missing = await http.post("/audio/transcriptions", data={"model": "whisper-1"}, files={"x": ("a", b"")})
        assert (missing.status_code, missing.json()["error"]["param"]) == (400, "file")
        response = await http.post("/audio/transcriptions", files={"file": ("call.wav", wav(TONE))})
        assert (response.status_code, response.json()["error"]["param"]) == (400, "model")
    assert recognizer.calls == []


async def test_a_request_over_the_size_limit_is_413(peer: Peer) -> None:
    async with peer.client() as client:
        with pytest.raises(UpstreamError) as caught:
            await client.transcribe(wav(b"\x00" * 70_000), "call.wav")
    assert caught.value.status == 413
    assert "Maximum content size limit (65536) exceeded" in str(caught.value)
