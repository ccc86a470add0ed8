"""The engine's configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.engine.recognizer import transcribe
from bridge.engine.scenario import Scenario
from bridge.engine.voice import SpeechVoice, Voice
from bridge.errors import ConfigError

__all__ = ["EngineConfig", "Recognizer"]

Recognizer = Callable[[bytes, int], str]
"""PCM16 at a rate -> transcript (``bridge.engine.recognizer.transcribe`` by default)."""


@dataclass(frozen=True)
class EngineConfig:
    """How the engine behaves; every field has a working default.

    Attributes:
        api_key: the only Bearer token accepted; None accepts any non-empty token.
        session_limit_s: wall-clock session length before ``session_expired`` and close 1001.
        pace: how many times faster than real time audio deltas go out (0: all at once).
        delta_ms: audio per ``output_audio.delta``.
        send_conversation_created: send ``conversation.created`` after ``session.created``;
            None follows the dialect (beta sends it, GA does not, as the real servers did).
        scenario: what the agent says; None is the packaged demo agent (``Scenario.default()``).
        voice: turns text into audio.
        recognizer: input audio transcription (runs in a thread).
        seed: makes IDs reproducible (session N uses ``f"{seed}:{N}"``); None is random.
        clock: wall-clock time in Unix seconds, read only by the async pump.
        keep_log: record every event of every session (``EngineSession.log``).
        keep_sessions: how many finished or live sessions the server remembers.
    """

    api_key: str | None = None
    session_limit_s: float = 3600.0
    pace: float = 4.0
    delta_ms: int = 100
    send_conversation_created: bool | None = None
    scenario: Scenario | None = None
    voice: Voice = field(default_factory=SpeechVoice)
    recognizer: Recognizer = transcribe
    seed: int | None = None
    clock: Callable[[], float] = time.time
    keep_log: bool = True
    keep_sessions: int = 1000

    def __post_init__(self) -> None:
        if self.pace < 0:
            raise ConfigError("pace must be >= 0")
        if self.delta_ms <= 0:
            raise ConfigError("delta_ms must be > 0")
        if self.session_limit_s <= 0:
            raise ConfigError("session_limit_s must be > 0")
