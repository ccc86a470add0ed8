from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.audio.wav import write_wav
from bridge.engine.rest_audio import MAX_AUDIO_BYTES, check_request, load_audio, render
from bridge.engine.rest_http import ApiError


def ulaw_wav(samples: bytes, rate: int = 8000) -> bytes:
    fmt = struct.pack("<HHIIHHH", 7, 1, rate, rate, 1, 8, 0)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(samples))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )


def test_the_limit_is_25_mib() -> None:
    assert MAX_AUDIO_BYTES == 26_214_400


def test_requests_that_pass() -> None:
    check_request("call.wav", "gpt-4o-mini-transcribe", "json")
    check_request("CALL.WAV", "whisper-1", "vtt")
    check_request("call.mp3", "gpt-4o-transcribe-diarize", "text")


@pytest.mark.parametrize(
    ("filename", "model", "fmt", "param", "message"),
    [
        ("call.wav", None, "json", "model", "Missing required parameter: 'model'."),
        ("call.wav", "gpt-9", "json", "model", "Invalid 'model'"),
        ("call.ulaw", "whisper-1", "json", "file", "Invalid file format. Supported formats: ['flac'"),
        ("call", "whisper-1", "json", "file", "Invalid file format"),
        (
            "call.wav",
            "gpt-4o-mini-transcribe",
            "verbose_json",
            "response_format",
            "response_format 'verbose_json' is not compatible with model 'gpt-4o-mini-transcribe'. Use 'json'.",
        ),
        ("call.wav", "gpt-4o-transcribe-diarize", "diarized_json", "response_format", "Use 'json' or 'text'."),
    ],
)
def test_requests_that_fail(filename: str, model: str | None, fmt: str, param: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_request(filename, model, fmt)
    assert caught.value.status == 400 and caught.value.param == param
    assert message in caught.value.message


def test_load_mulaw_wav() -> None:
    tone = (np.sin(np.arange(800) / 5) * 8000).astype("<i2").tobytes()
    pcm, rate = load_audio(ulaw_wav(pcm16_to_ulaw(tone)))
    assert rate == 8000 and pcm == ulaw_to_pcm16(pcm16_to_ulaw(tone))


def test_stereo_is_downmixed(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    write_wav(path, np.array([[100, 300], [-50, -150]], dtype="<i2").tobytes(), 16000, channels=2)
    pcm, rate = load_audio(path.read_bytes())
    assert rate == 16000 and np.frombuffer(pcm, dtype="<i2").tolist() == [200, -100]


def test_undecodable_audio_is_400() -> None:
    with pytest.raises(ApiError) as caught:
        load_audio(b"ID3\x03mp3 data")
    assert (caught.value.status, caught.value.message) == (400, "Audio file might be corrupted or unsupported")


def test_json_and_text_shapes() -> None:
    assert render("hello", 2.4, "json") == (
        {"text": "hello", "usage": {"type": "duration", "seconds": 3}},
        "application/json",
    )
    assert render("hello", 2.4, "text") == ("hello", "text/plain")


def test_verbose_json_shape() -> None:
    body, media_type = render("hello", 2.4, "verbose_json")
    assert media_type == "application/json" and isinstance(body, dict)
    assert (body["task"], body["language"], body["duration"], body["text"]) == ("transcribe", "english", 2.4, "hello")
    assert [(s["id"], s["start"], s["end"], s["text"]) for s in body["segments"]] == [(0, 0.0, 2.4, "hello")]
    assert body["usage"] == {"type": "duration", "seconds": 3}
    silent, _ = render("", 3.0, "verbose_json")
    assert isinstance(silent, dict) and silent["segments"] == []


def test_subtitle_shapes() -> None:
    assert render("hello", 3725.5, "srt") == ("1\n00:00:00,000 --> 01:02:05,500\nhello\n\n", "text/plain")
    assert render("hello", 2.4, "vtt") == ("WEBVTT\n\n00:00:00.000 --> 00:00:02.400\nhello\n\n", "text/plain")
    assert render("", 2.4, "srt") == ("", "text/plain")
    assert render("", 2.4, "vtt") == ("WEBVTT\n\n", "text/plain")
