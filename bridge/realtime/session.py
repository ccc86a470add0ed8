"""The ``session.update`` the bridge sends first: built from settings, in the GA or beta shape.

``build_session_update`` returns the internal event (its session always GA-shaped, see
``events.py``); dumping it in the beta dialect gives the flat beta session. What differs by
dialect is decided here, not in the translation: beta asks for ``["audio", "text"]``
(a beta session cannot be audio-only) and leaves out ``model`` (the beta model goes in the URL).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.errors import ConfigError
from bridge.realtime.events import Dialect, SessionUpdate, dump_client_event

__all__ = [
    "AudioMode",
    "SessionSettings",
    "audio_format_bytes_per_ms",
    "build_session_update",
    "session_update_json",
]

AudioMode = Literal["passthrough", "pcm16"]
"""``passthrough``: G.711 mu-law 8 kHz both ways, forwarded to the phone as is.
``pcm16``: 16-bit PCM at 24 kHz both ways (the bridge resamples)."""

# GA audio format objects and the audio bytes per millisecond of each mode.
_FORMATS: dict[str, dict[str, Any]] = {
    "passthrough": {"type": "audio/pcmu"},
    "pcm16": {"type": "audio/pcm", "rate": 24000},
}
_BYTES_PER_MS = {"passthrough": 8, "pcm16": 48}


def _default_turn_detection() -> dict[str, Any]:
    # The documented server_vad defaults (PROTOCOLS.md A.2); the server lets the caller
    # interrupt (interrupt_response) and answers by itself at the end of a turn (create_response).
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
        "create_response": True,
        "interrupt_response": True,
    }


@dataclass(frozen=True)
class SessionSettings:
    """What the bridge asks of a Realtime session (usually filled from a dialplan).

    Attributes:
        model: GA model name (sent in the session); beta puts its model in the URL instead.
        instructions: the system prompt.
        voice: an output voice (``marin``, ``cedar``, ``alloy``, ...).
        audio_mode: ``passthrough`` (``audio/pcmu`` both ways) or ``pcm16`` (``audio/pcm`` 24 kHz).
        turn_detection: GA ``audio.input.turn_detection`` (``server_vad``/``semantic_vad``
            object); None for manual turns (commit + ``response.create``).
        transcription: GA ``audio.input.transcription`` (``{"model": ..., "language": ...}``) or None (off).
        tools: function tools, each ``{"type": "function", "name", "description", "parameters"}``.
        tool_choice: ``auto``, ``none`` or ``required``.
        noise_reduction: ``{"type": "near_field" | "far_field"}`` or None (off).
        speed: output speech speed 0.25-1.5, or None for the server default (1.0).
    """

    model: str = "gpt-realtime"
    instructions: str = ""
    voice: str = "marin"
    audio_mode: AudioMode = "passthrough"
    turn_detection: dict[str, Any] | None = field(default_factory=_default_turn_detection)
    transcription: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str = "auto"
    noise_reduction: dict[str, Any] | None = None
    speed: float | None = None

    def __post_init__(self) -> None:
        audio_format_bytes_per_ms(self.audio_mode)  # rejects an unknown mode early


def audio_format_bytes_per_ms(audio_mode: AudioMode) -> int:
    """Audio bytes per millisecond in ``audio_mode``: 8 (mu-law 8 kHz) or 48 (PCM16 24 kHz).

    Use it to turn byte counts into ``audio_end_ms`` and back.

    Raises:
        ConfigError: an unknown audio mode.
    """
    try:
        return _BYTES_PER_MS[audio_mode]
    except KeyError:
        raise ConfigError(f"unknown audio mode {audio_mode!r} (expected passthrough or pcm16)") from None


def build_session_update(settings: SessionSettings, dialect: Dialect) -> SessionUpdate:
    """The full session configuration for ``settings``, as a ``session.update`` for ``dialect``.

    Every field is sent, off-switches as null, so the update fully defines the session
    whatever the server's defaults; ``speed`` only when set. The event holds its own copy of
    the settings' dicts.
    """
    fmt = _FORMATS[settings.audio_mode]
    audio_input: dict[str, Any] = {
        "format": dict(fmt),
        "transcription": settings.transcription,
        "noise_reduction": settings.noise_reduction,
        "turn_detection": settings.turn_detection,
    }
    audio_output: dict[str, Any] = {"format": dict(fmt), "voice": settings.voice}
    if settings.speed is not None:
        audio_output["speed"] = settings.speed
    session: dict[str, Any] = {"type": "realtime"}
    if dialect == "ga":
        session["model"] = settings.model
    session["output_modalities"] = ["audio"] if dialect == "ga" else ["audio", "text"]
    session["instructions"] = settings.instructions
    session["audio"] = {"input": audio_input, "output": audio_output}
    session["tools"] = list(settings.tools)
    session["tool_choice"] = settings.tool_choice
    # A copy, so that nothing done to the event reaches the (shared, frozen) settings.
    return SessionUpdate(copy.deepcopy(session))


def session_update_json(settings: SessionSettings, dialect: Dialect) -> str:
    """``build_session_update`` dumped as the JSON text to send in ``dialect``."""
    return dump_client_event(build_session_update(settings, dialect), dialect)
