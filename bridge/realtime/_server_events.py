"""Realtime server events (model -> bridge) as dataclasses (private; see ``events.py``).

Every class carries the server's ``event_id`` and ``extra``: the top-level keys the class does
not model (``obfuscation``, ``logprobs``, ``usage`` of a transcription, ...), kept so that a
parsed event dumps back to the same JSON.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

__all__ = [
    "ConversationItemAdded",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "ErrorEvent",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "InputAudioTranscriptionCompleted",
    "InputAudioTranscriptionDelta",
    "InputAudioTranscriptionFailed",
    "RateLimitsUpdated",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "UnknownEvent",
]


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """``error``. ``type``/``code``/``message``/``param`` are the server's; ``client_event_id`` is
    the ``event_id`` of the client event that caused it (``error.event_id`` on the wire)."""

    type: str
    code: str | None
    message: str
    param: str | None
    client_event_id: str | None
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionCreated:
    """``session.created``: the effective session, GA-shaped in both dialects."""

    session: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    """``session.updated``: the full effective session (not a delta), GA-shaped in both dialects."""

    session: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioBufferSpeechStarted:
    """``input_audio_buffer.speech_started``: the caller started talking (barge-in trigger)."""

    audio_start_ms: int
    item_id: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioBufferSpeechStopped:
    """``input_audio_buffer.speech_stopped``."""

    audio_end_ms: int
    item_id: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioBufferCommitted:
    """``input_audio_buffer.committed``: the buffered audio became user item ``item_id``."""

    item_id: str
    previous_item_id: str | None
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioBufferCleared:
    """``input_audio_buffer.cleared``."""

    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioBufferTimeoutTriggered:
    """``input_audio_buffer.timeout_triggered`` (GA only): the caller stayed silent for ``idle_timeout_ms``."""

    audio_start_ms: int
    audio_end_ms: int
    item_id: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationItemAdded:
    """``conversation.item.added``; also what beta's (and legacy GA's) ``conversation.item.created`` parses to."""

    item: dict[str, Any]
    previous_item_id: str | None
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationItemDone:
    """``conversation.item.done`` (GA only): the item is final."""

    item: dict[str, Any]
    previous_item_id: str | None
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationItemRetrieved:
    """``conversation.item.retrieved``: the server's copy of an item, audio included."""

    item: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationItemTruncated:
    """``conversation.item.truncated``: the answer to ``conversation.item.truncate``."""

    item_id: str
    content_index: int
    audio_end_ms: int
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationItemDeleted:
    """``conversation.item.deleted``."""

    item_id: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioTranscriptionDelta:
    """``conversation.item.input_audio_transcription.delta``; ``content_index``/``delta`` may be absent (None)."""

    item_id: str
    content_index: int | None
    delta: str | None
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioTranscriptionCompleted:
    """``conversation.item.input_audio_transcription.completed`` (``usage`` stays in ``extra``)."""

    item_id: str
    content_index: int
    transcript: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InputAudioTranscriptionFailed:
    """``conversation.item.input_audio_transcription.failed``: ``error`` is ``{type?, code?, message?, param?}``."""

    item_id: str
    content_index: int
    error: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


class _ResponseView:
    """Accessors over a GA-shaped ``response`` object (parsing guarantees ``id`` and ``status``)."""

    __slots__ = ()
    response: dict[str, Any]

    @property
    def response_id(self) -> str:
        """``response.id`` (``resp_...``)."""
        return str(self.response["id"])

    @property
    def status(self) -> str:
        """``in_progress``, ``completed``, ``cancelled``, ``failed`` or ``incomplete``."""
        return str(self.response["status"])

    @property
    def status_reason(self) -> str | None:
        """``status_details.reason`` (``turn_detected``, ``client_cancelled``, ``max_output_tokens``,
        ``content_filter``), or None."""
        details = self.response.get("status_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return reason if isinstance(reason, str) else None

    @property
    def usage(self) -> dict[str, Any] | None:
        """``response.usage`` (token counts), or None while the response runs."""
        usage = self.response.get("usage")
        return usage if isinstance(usage, dict) else None

    @property
    def output(self) -> list[dict[str, Any]]:
        """The output items (messages, function calls), GA-shaped."""
        output = self.response.get("output")
        return [item for item in output if isinstance(item, dict)] if isinstance(output, list) else []


@dataclass(frozen=True, slots=True)
class ResponseCreated(_ResponseView):
    """``response.created``."""

    response: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseDone(_ResponseView):
    """``response.done``: the response ended (``status``); ``usage`` is set."""

    response: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputItemAdded:
    """``response.output_item.added``."""

    response_id: str
    output_index: int
    item: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputItemDone:
    """``response.output_item.done``."""

    response_id: str
    output_index: int
    item: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseContentPartAdded:
    """``response.content_part.added``: ``part`` is ``{type: "audio"|"text", ...}`` in both dialects."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseContentPartDone:
    """``response.content_part.done``."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: dict[str, Any]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputAudioDelta:
    """``response.output_audio.delta`` (beta ``response.audio.delta``): ``delta`` is decoded audio bytes."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: bytes
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputAudioDone:
    """``response.output_audio.done`` (beta ``response.audio.done``)."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputAudioTranscriptDelta:
    """``response.output_audio_transcript.delta`` (beta ``response.audio_transcript.delta``)."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputAudioTranscriptDone:
    """``response.output_audio_transcript.done`` (beta ``response.audio_transcript.done``)."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputTextDelta:
    """``response.output_text.delta`` (beta ``response.text.delta``)."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseOutputTextDone:
    """``response.output_text.done`` (beta ``response.text.done``)."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseFunctionCallArgumentsDelta:
    """``response.function_call_arguments.delta``."""

    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseFunctionCallArgumentsDone:
    """``response.function_call_arguments.done``: ``arguments`` is a JSON string; ``name`` is None in
    beta, which does not send it (take it from the ``function_call`` output item)."""

    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str | None
    arguments: str
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RateLimitsUpdated:
    """``rate_limits.updated``: ``[{name, limit, remaining, reset_seconds}]``."""

    rate_limits: list[dict[str, Any]]
    _: KW_ONLY
    event_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Any server event the bridge does not model; ``data`` is the whole JSON object, as sent."""

    type: str
    data: dict[str, Any]

    @property
    def event_id(self) -> str | None:
        """The ``event_id``, when the event has a string one."""
        event_id = self.data.get("event_id")
        return event_id if isinstance(event_id, str) else None


ServerEvent = (
    ErrorEvent
    | SessionCreated
    | SessionUpdated
    | InputAudioBufferSpeechStarted
    | InputAudioBufferSpeechStopped
    | InputAudioBufferCommitted
    | InputAudioBufferCleared
    | InputAudioBufferTimeoutTriggered
    | ConversationItemAdded
    | ConversationItemDone
    | ConversationItemRetrieved
    | ConversationItemTruncated
    | ConversationItemDeleted
    | InputAudioTranscriptionDelta
    | InputAudioTranscriptionCompleted
    | InputAudioTranscriptionFailed
    | ResponseCreated
    | ResponseDone
    | ResponseOutputItemAdded
    | ResponseOutputItemDone
    | ResponseContentPartAdded
    | ResponseContentPartDone
    | ResponseOutputAudioDelta
    | ResponseOutputAudioDone
    | ResponseOutputAudioTranscriptDelta
    | ResponseOutputAudioTranscriptDone
    | ResponseOutputTextDelta
    | ResponseOutputTextDone
    | ResponseFunctionCallArgumentsDelta
    | ResponseFunctionCallArgumentsDone
    | RateLimitsUpdated
    | UnknownEvent
)
