"""``POST /v1/audio/transcriptions`` offline (PROTOCOLS E.1): request checks, WAV decoding, answer shapes.

The engine decodes WAV (PCM16, 8-bit PCM, mu-law or A-law, any channel count, downmixed to mono) and
leaves recognition to a ``Recognizer`` (the bundled pocketsphinx English model by default). Other
containers OpenAI accepts (mp3, flac, …) are refused as the real API refuses audio it cannot decode.
Which ``response_format`` each model accepts follows PROTOCOLS E.1; ``diarized_json`` is not offered.
"""

from __future__ import annotations

import math
from typing import Any

from bridge.audio.wav import mono_pcm16, parse_wav
from bridge.engine.rest_http import ApiError
from bridge.errors import ProtocolError

__all__ = [
    "AUDIO_EXTENSIONS",
    "MAX_AUDIO_BYTES",
    "MODEL_FORMATS",
    "check_request",
    "load_audio",
    "render",
]

#: The whole request may be at most 25 MiB (``whisper-1``'s documented limit).
MAX_AUDIO_BYTES = 25 * 1024 * 1024
AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MODEL_FORMATS: dict[str, frozenset[str]] = {
    "whisper-1": frozenset({"json", "text", "srt", "verbose_json", "vtt"}),
    "gpt-4o-transcribe": frozenset({"json"}),
    "gpt-4o-mini-transcribe": frozenset({"json"}),
    "gpt-4o-mini-transcribe-2025-12-15": frozenset({"json"}),
    "gpt-transcribe": frozenset({"json"}),
    "gpt-4o-transcribe-diarize": frozenset({"json", "text"}),
}


def check_request(filename: str, model: str | None, response_format: str) -> None:
    """400 for a missing or unknown model, a file name without an audio extension, or a format the model
    does not offer."""
    if model is None:
        raise ApiError.missing("model")
    if model not in MODEL_FORMATS:
        raise ApiError.invalid("model", f"Invalid 'model': expected one of {', '.join(sorted(MODEL_FORMATS))}.")
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in AUDIO_EXTENSIONS:
        raise ApiError.invalid("file", f"Invalid file format. Supported formats: {list(AUDIO_EXTENSIONS)}")
    if response_format not in MODEL_FORMATS[model]:
        allowed = " or ".join(f"'{f}'" for f in sorted(MODEL_FORMATS[model]))
        raise ApiError.invalid(
            "response_format",
            f"response_format '{response_format}' is not compatible with model '{model}'. Use {allowed}.",
        )


def load_audio(data: bytes) -> tuple[bytes, int]:
    """(mono PCM16, sample rate) of an uploaded WAV file; 400 when it cannot be decoded."""
    try:
        audio = parse_wav(data)
    except ProtocolError as exc:
        raise ApiError.invalid("file", "Audio file might be corrupted or unsupported") from exc
    return mono_pcm16(audio, audio.rate), audio.rate


def render(text: str, duration: float, response_format: str) -> tuple[dict[str, Any] | str, str]:
    """The answer body for ``response_format`` and its media type."""
    usage = {"type": "duration", "seconds": math.ceil(duration)}
    if response_format == "json":
        return {"text": text, "usage": usage}, "application/json"
    if response_format == "verbose_json":
        segments = [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": round(duration, 3),
                "text": text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            }
        ]
        body = {
            "task": "transcribe",
            "language": "english",  # the bundled model knows English only
            "duration": round(duration, 3),
            "text": text,
            "segments": segments if text else [],
            "usage": usage,
        }
        return body, "application/json"
    if response_format == "srt":
        cue = f"1\n{_stamp(0.0, ',')} --> {_stamp(duration, ',')}\n{text}\n\n" if text else ""
        return cue, "text/plain"
    if response_format == "vtt":
        cue = f"{_stamp(0.0, '.')} --> {_stamp(duration, '.')}\n{text}\n\n" if text else ""
        return f"WEBVTT\n\n{cue}", "text/plain"
    return text, "text/plain"


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{separator}{millis:03d}"
