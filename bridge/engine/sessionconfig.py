"""A session's effective configuration, updated from and rendered to either dialect.

Defaults are those of the real GA server's ``session.created`` (PROTOCOLS G.4): PCM 24 kHz both
ways, server VAD with threshold 0.5, prefix 300 ms, silence 200 ms. A ``turn_detection`` object in
an update replaces the previous one, with the documented defaults for the fields it omits
(silence 500 ms). Updates build a new object, so a refused update leaves the old one intact.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bridge.engine.formats import PCM, AudioFormat, by_beta_name, by_ga_type
from bridge.engine.schema import ClientError

__all__ = ["DEFAULT_INSTRUCTIONS", "SessionConfig", "TurnDetection"]

DEFAULT_INSTRUCTIONS = (
    "You are the bridge's bundled demo agent, a local stand-in for a Realtime model. "
    "What you say comes from a scenario, not from a language model."
)
# Semantic VAD has no silence setting; the engine approximates its eagerness with one.
_EAGER_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Server or semantic VAD settings (semantic VAD runs as energy VAD, see ``silence_ms``)."""

    type: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True
    eagerness: str = "auto"

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TurnDetection:
        """From a validated ``turn_detection`` object (type defaults to server_vad, as in beta)."""
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})

    @property
    def silence_ms(self) -> int:
        """The silence that ends a turn."""
        if self.type == "semantic_vad":
            return _EAGER_SILENCE_MS[self.eagerness]
        return self.silence_duration_ms

    def ga(self) -> dict[str, Any]:
        """The GA ``turn_detection`` object."""
        if self.type == "semantic_vad":
            return {
                "type": self.type,
                "eagerness": self.eagerness,
                "create_response": self.create_response,
                "interrupt_response": self.interrupt_response,
            }
        return {
            "type": self.type,
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "idle_timeout_ms": self.idle_timeout_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }

    def beta(self) -> dict[str, Any]:
        """The beta ``turn_detection`` object (no idle timeout in beta)."""
        rendered = self.ga()
        rendered.pop("idle_timeout_ms", None)
        return rendered


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Everything ``session.update`` can set, dialect-neutral."""

    model: str
    instructions: str = DEFAULT_INSTRUCTIONS
    output_modalities: tuple[str, ...] = ("audio",)
    input_format: AudioFormat = PCM
    output_format: AudioFormat = PCM
    transcription: dict[str, Any] | None = None
    noise_reduction: dict[str, Any] | None = None
    turn_detection: TurnDetection | None = TurnDetection(silence_duration_ms=200)
    voice: str | dict[str, Any] = "alloy"
    speed: float = 1.0
    tools: list[Any] = field(default_factory=list)
    tool_choice: Any = "auto"
    max_output_tokens: int | str = "inf"
    tracing: Any = None
    truncation: Any = "auto"
    prompt: Any = None
    include: list[str] | None = None
    reasoning: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float = 0.8

    def _check_model(self, session: dict[str, Any]) -> None:
        model = session.get("model", self.model)
        if model != self.model:
            raise ClientError(
                f"Cannot change the model of a session: it is '{self.model}'.",
                code="invalid_value",
                param="session.model",
            )

    def updated_ga(self, session: dict[str, Any]) -> SessionConfig:
        """Apply a validated GA ``session`` object (only the fields present)."""
        self._check_model(session)
        changes: dict[str, Any] = {}
        if "output_modalities" in session:
            modalities = session["output_modalities"]
            if len(set(modalities)) != 1:
                raise ClientError(
                    "Invalid 'session.output_modalities': request exactly one of 'audio' or 'text'.",
                    code="invalid_value",
                    param="session.output_modalities",
                )
            changes["output_modalities"] = (modalities[0],)
        audio = session.get("audio", {})
        given_in = audio.get("input", {})
        given_out = audio.get("output", {})
        if "format" in given_in:
            changes["input_format"] = by_ga_type(given_in["format"]["type"])
        if "format" in given_out:
            changes["output_format"] = by_ga_type(given_out["format"]["type"])
        for key in ("transcription", "noise_reduction"):
            if key in given_in:
                changes[key] = given_in[key]
        if "turn_detection" in given_in:
            detection = given_in["turn_detection"]
            changes["turn_detection"] = None if detection is None else TurnDetection.parse(detection)
        for key in ("voice", "speed"):
            if key in given_out:
                changes[key] = given_out[key]
        for key in (
            "instructions",
            "tools",
            "tool_choice",
            "max_output_tokens",
            "tracing",
            "truncation",
            "prompt",
            "include",
            "reasoning",
            "parallel_tool_calls",
        ):
            if key in session:
                changes[key] = session[key]
        return replace(self, **changes)

    def updated_beta(self, session: dict[str, Any]) -> SessionConfig:
        """Apply a validated beta ``session`` object (only the fields present)."""
        self._check_model(session)
        changes: dict[str, Any] = {}
        if "modalities" in session:
            modalities = sorted(set(session["modalities"]))
            if modalities not in (["text"], ["audio", "text"]):
                raise ClientError(
                    f"Invalid modalities: {modalities}. Supported combinations are: ['text'] and ['audio', 'text'].",
                    code="invalid_value",
                    param="session.modalities",
                )
            changes["output_modalities"] = ("audio",) if "audio" in modalities else ("text",)
        if "input_audio_format" in session:
            changes["input_format"] = by_beta_name(session["input_audio_format"])
        if "output_audio_format" in session:
            changes["output_format"] = by_beta_name(session["output_audio_format"])
        if "input_audio_transcription" in session:
            changes["transcription"] = session["input_audio_transcription"]
        if "input_audio_noise_reduction" in session:
            changes["noise_reduction"] = session["input_audio_noise_reduction"]
        if "turn_detection" in session:
            detection = session["turn_detection"]
            changes["turn_detection"] = None if detection is None else TurnDetection.parse(detection)
        if "max_response_output_tokens" in session:
            changes["max_output_tokens"] = session["max_response_output_tokens"]
        for key in ("instructions", "voice", "speed", "tools", "tool_choice", "temperature", "tracing"):
            if key in session:
                changes[key] = session[key]
        return replace(self, **changes)

    def render_ga(self, session_id: str, expires_at: int) -> dict[str, Any]:
        """The GA session object, in the real server's field order (PROTOCOLS G.4)."""
        rendered: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": self.model,
            "output_modalities": list(self.output_modalities),
            "instructions": self.instructions,
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "max_output_tokens": self.max_output_tokens,
            "tracing": self.tracing,
            "truncation": self.truncation,
            "prompt": self.prompt,
            "expires_at": expires_at,
            "audio": {
                "input": {
                    "format": self.input_format.ga(),
                    "transcription": self.transcription,
                    "noise_reduction": self.noise_reduction,
                    "turn_detection": None if self.turn_detection is None else self.turn_detection.ga(),
                },
                "output": {"format": self.output_format.ga(), "voice": self.voice, "speed": self.speed},
            },
            "include": self.include,
        }
        if self.reasoning is not None:
            rendered["reasoning"] = self.reasoning
        if self.parallel_tool_calls is not None:
            rendered["parallel_tool_calls"] = self.parallel_tool_calls
        return rendered

    def render_beta(self, session_id: str, expires_at: int) -> dict[str, Any]:
        """The beta (flat) session object."""
        return {
            "id": session_id,
            "object": "realtime.session",
            "model": self.model,
            "expires_at": expires_at,
            "modalities": self.beta_modalities(),
            "instructions": self.instructions,
            "voice": self.voice,
            "turn_detection": None if self.turn_detection is None else self.turn_detection.beta(),
            "input_audio_format": self.input_format.beta_name,
            "output_audio_format": self.output_format.beta_name,
            "input_audio_transcription": self.transcription,
            "input_audio_noise_reduction": self.noise_reduction,
            "tool_choice": self.tool_choice,
            "temperature": self.temperature,
            "max_response_output_tokens": self.max_output_tokens,
            "speed": self.speed,
            "tracing": self.tracing,
            "tools": self.tools,
        }

    def beta_modalities(self) -> list[str]:
        """Beta's names for the output modalities (audio always comes with text)."""
        return ["text", "audio"] if self.output_modalities == ("audio",) else ["text"]
