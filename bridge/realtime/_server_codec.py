"""Parse and dump Realtime server events in either dialect (private; see ``events.py``)."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from bridge.errors import ProtocolError
from bridge.realtime._server_events import (
    ConversationItemAdded,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ErrorEvent,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    InputAudioTranscriptionCompleted,
    InputAudioTranscriptionDelta,
    InputAudioTranscriptionFailed,
    RateLimitsUpdated,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
    UnknownEvent,
)
from bridge.realtime._wire import (
    BASE64,
    INT,
    ITEM,
    LIST,
    NULLABLE_STR,
    OBJECT,
    OPTIONAL_INT,
    OPTIONAL_STR,
    RESPONSE,
    SESSION_SERVER,
    STR,
    Dialect,
    Field,
    Kind,
    load_object,
    read_fields,
    write_fields,
)

__all__ = ["dump_server_event", "parse_server_event"]

_RESPONSE_ID = Field("response_id", "response_id", STR)
_ITEM_ID = Field("item_id", "item_id", STR)
_OUTPUT_INDEX = Field("output_index", "output_index", INT)
_CONTENT_INDEX = Field("content_index", "content_index", INT)
_PREVIOUS_ITEM_ID = Field("previous_item_id", "previous_item_id", NULLABLE_STR)
_PART = (_RESPONSE_ID, _ITEM_ID, _OUTPUT_INDEX, _CONTENT_INDEX)  # where a content part comes from


def _f(key: str, kind: Kind) -> Field:
    return Field(key, key, kind)


# class -> (GA type, beta type or None when beta has no such event, fields in wire order).
# The field order is the real server's key order (PROTOCOLS.md G.1 captures), which is what
# dump writes after ``type`` and ``event_id``.
_TABLE: dict[type[Any], tuple[str, str | None, tuple[Field, ...]]] = {
    SessionCreated: ("session.created", "session.created", (_f("session", SESSION_SERVER),)),
    SessionUpdated: ("session.updated", "session.updated", (_f("session", SESSION_SERVER),)),
    InputAudioBufferSpeechStarted: (
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_started",
        (_f("audio_start_ms", INT), _ITEM_ID),
    ),
    InputAudioBufferSpeechStopped: (
        "input_audio_buffer.speech_stopped", "input_audio_buffer.speech_stopped",
        (_f("audio_end_ms", INT), _ITEM_ID),
    ),
    InputAudioBufferCommitted: (
        "input_audio_buffer.committed", "input_audio_buffer.committed", (_PREVIOUS_ITEM_ID, _ITEM_ID),
    ),
    InputAudioBufferCleared: ("input_audio_buffer.cleared", "input_audio_buffer.cleared", ()),
    InputAudioBufferTimeoutTriggered: (
        "input_audio_buffer.timeout_triggered", None, (_f("audio_start_ms", INT), _f("audio_end_ms", INT), _ITEM_ID),
    ),
    ConversationItemAdded: (
        "conversation.item.added", "conversation.item.created", (_PREVIOUS_ITEM_ID, _f("item", ITEM)),
    ),
    ConversationItemDone: ("conversation.item.done", None, (_PREVIOUS_ITEM_ID, _f("item", ITEM))),
    ConversationItemRetrieved: ("conversation.item.retrieved", "conversation.item.retrieved", (_f("item", ITEM),)),
    ConversationItemTruncated: (
        "conversation.item.truncated", "conversation.item.truncated",
        (_ITEM_ID, _CONTENT_INDEX, _f("audio_end_ms", INT)),
    ),
    ConversationItemDeleted: ("conversation.item.deleted", "conversation.item.deleted", (_ITEM_ID,)),
    InputAudioTranscriptionDelta: (
        "conversation.item.input_audio_transcription.delta", "conversation.item.input_audio_transcription.delta",
        (_ITEM_ID, _f("content_index", OPTIONAL_INT), _f("delta", OPTIONAL_STR)),
    ),
    InputAudioTranscriptionCompleted: (
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.completed",
        (_ITEM_ID, _CONTENT_INDEX, _f("transcript", STR)),
    ),
    InputAudioTranscriptionFailed: (
        "conversation.item.input_audio_transcription.failed", "conversation.item.input_audio_transcription.failed",
        (_ITEM_ID, _CONTENT_INDEX, _f("error", OBJECT)),
    ),
    ResponseCreated: ("response.created", "response.created", (_f("response", RESPONSE),)),
    ResponseDone: ("response.done", "response.done", (_f("response", RESPONSE),)),
    ResponseOutputItemAdded: (
        "response.output_item.added", "response.output_item.added", (_RESPONSE_ID, _OUTPUT_INDEX, _f("item", ITEM)),
    ),
    ResponseOutputItemDone: (
        "response.output_item.done", "response.output_item.done", (_RESPONSE_ID, _OUTPUT_INDEX, _f("item", ITEM)),
    ),
    ResponseContentPartAdded: (
        "response.content_part.added", "response.content_part.added", (*_PART, _f("part", OBJECT)),
    ),
    ResponseContentPartDone: ("response.content_part.done", "response.content_part.done", (*_PART, _f("part", OBJECT))),
    ResponseOutputAudioDelta: ("response.output_audio.delta", "response.audio.delta", (*_PART, _f("delta", BASE64))),
    ResponseOutputAudioDone: ("response.output_audio.done", "response.audio.done", _PART),
    ResponseOutputAudioTranscriptDelta: (
        "response.output_audio_transcript.delta", "response.audio_transcript.delta", (*_PART, _f("delta", STR)),
    ),
    ResponseOutputAudioTranscriptDone: (
        "response.output_audio_transcript.done", "response.audio_transcript.done", (*_PART, _f("transcript", STR)),
    ),
    ResponseOutputTextDelta: ("response.output_text.delta", "response.text.delta", (*_PART, _f("delta", STR))),
    ResponseOutputTextDone: ("response.output_text.done", "response.text.done", (*_PART, _f("text", STR))),
    ResponseFunctionCallArgumentsDelta: (
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        (_RESPONSE_ID, _ITEM_ID, _OUTPUT_INDEX, _f("call_id", STR), _f("delta", STR)),
    ),
    ResponseFunctionCallArgumentsDone: (
        "response.function_call_arguments.done", "response.function_call_arguments.done",
        (_RESPONSE_ID, _ITEM_ID, _OUTPUT_INDEX, _f("call_id", STR), Field("name", "name", STR, ga_only=True),
         _f("arguments", STR)),
    ),
    RateLimitsUpdated: ("rate_limits.updated", "rate_limits.updated", (_f("rate_limits", LIST),)),
}  # fmt: skip

# The fields of the ``error`` object of an ErrorEvent.
_ERROR_FIELDS = (
    _f("type", STR),
    _f("code", NULLABLE_STR),
    _f("message", STR),
    _f("param", NULLABLE_STR),
    Field("event_id", "client_event_id", NULLABLE_STR),
)


@dataclass(frozen=True, slots=True)
class _Codec:
    """One event class in one dialect."""

    cls: type[Any]
    name: str
    dialect: Dialect
    fields: tuple[Field, ...]
    known: frozenset[str]  # top-level keys that are not ``extra``
    absent: tuple[str, ...]  # attributes this dialect never sends (set to None)

    def parse(self, obj: dict[str, Any]) -> Any:
        values = read_fields(obj, self.fields, self.dialect, obj["type"])
        for attr in self.absent:
            values[attr] = None
        extra = {k: v for k, v in obj.items() if k not in self.known}
        return self.cls(**values, event_id=_event_id(obj), extra=extra)

    def dump(self, event: Any) -> str:
        out: dict[str, Any] = {"type": self.name, "event_id": event.event_id}
        write_fields(out, event, self.fields, self.dialect)
        _add_extra(out, event.extra)
        return orjson.dumps(out).decode()


def _codec(cls: type[Any], name: str, dialect: Dialect, fields: tuple[Field, ...]) -> _Codec:
    kept = tuple(f for f in fields if dialect == "ga" or not f.ga_only)
    absent = tuple(f.attr for f in fields if f not in kept)
    known = frozenset(("type", "event_id", *(f.key for f in kept)))
    return _Codec(cls, name, dialect, kept, known, absent)


def _event_id(obj: dict[str, Any]) -> str:
    event_id = obj.get("event_id")
    if type(event_id) is not str:
        raise ProtocolError(f"{obj['type']}: 'event_id' must be a string", field="event_id")
    return event_id


def _add_extra(out: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if key not in out:  # a modelled field always wins over a stray extra key
            out[key] = value


def _parse_error(obj: dict[str, Any], dialect: Dialect) -> ErrorEvent:
    error = obj.get("error")
    if type(error) is not dict:
        raise ProtocolError("error: 'error' must be an object", field="error")
    values = read_fields(error, _ERROR_FIELDS, dialect, "error", prefix="error.")
    extra = {k: v for k, v in obj.items() if k not in ("type", "event_id", "error")}
    return ErrorEvent(**values, event_id=_event_id(obj), extra=extra)


def _dump_error(event: ErrorEvent, dialect: Dialect) -> str:
    error: dict[str, Any] = {}
    write_fields(error, event, _ERROR_FIELDS, dialect)
    out: dict[str, Any] = {"type": "error", "event_id": event.event_id, "error": error}
    _add_extra(out, event.extra)
    return orjson.dumps(out).decode()


def _audio_delta_parser(codec: _Codec) -> Callable[[dict[str, Any]], ServerEvent]:
    """The hot path (model audio, many per second): plain lookups, then the generic parser for
    anything unusual (extra keys, a wrong type, bad base64), which also words the error."""

    def parse(obj: dict[str, Any]) -> ServerEvent:
        if len(obj) == 7:
            try:
                event_id = obj["event_id"]
                response_id = obj["response_id"]
                item_id = obj["item_id"]
                output_index = obj["output_index"]
                content_index = obj["content_index"]
                delta = obj["delta"]
            except KeyError:
                pass
            else:
                if (
                    type(event_id) is str
                    and type(response_id) is str
                    and type(item_id) is str
                    and type(output_index) is int
                    and type(content_index) is int
                    and type(delta) is str
                ):
                    try:
                        audio = binascii.a2b_base64(delta, strict_mode=True)
                    except (binascii.Error, ValueError):
                        pass
                    else:
                        return ResponseOutputAudioDelta(
                            response_id, item_id, output_index, content_index, audio, event_id=event_id
                        )
        parsed: ServerEvent = codec.parse(obj)
        return parsed

    return parse


_Parser = Callable[[dict[str, Any]], ServerEvent]


def _build() -> tuple[dict[Dialect, dict[str, _Parser]], dict[Dialect, dict[type[Any], _Codec]]]:
    parsers: dict[Dialect, dict[str, _Parser]] = {"ga": {}, "beta": {}}
    codecs: dict[Dialect, dict[type[Any], _Codec]] = {"ga": {}, "beta": {}}
    for cls, (ga_name, beta_name, fields) in _TABLE.items():
        names: tuple[tuple[Dialect, str | None], ...] = (("ga", ga_name), ("beta", beta_name))
        for dialect, name in names:
            if name is None:
                continue
            codec = _codec(cls, name, dialect, fields)
            codecs[dialect][cls] = codec
            parsers[dialect][name] = _audio_delta_parser(codec) if cls is ResponseOutputAudioDelta else codec.parse
    # GA still lists the beta name in its union (PROTOCOLS.md B); it means the same event.
    parsers["ga"]["conversation.item.created"] = parsers["ga"]["conversation.item.added"]
    parsers["ga"]["error"] = partial(_parse_error, dialect="ga")
    parsers["beta"]["error"] = partial(_parse_error, dialect="beta")
    return parsers, codecs


_PARSERS, _CODECS = _build()


def parse_server_event(data: str | bytes, dialect: Dialect) -> ServerEvent:
    """Parse one server event received in ``dialect`` into its internal (GA-shaped) form.

    Parsing is total: a type the bridge does not model (or one that does not exist in
    ``dialect``) comes back as ``UnknownEvent``.

    Raises:
        ProtocolError: not a JSON object with a string ``type``, or a modelled event with a
            missing or mistyped field (``field`` names it).
    """
    obj = load_object(data)
    parse = _PARSERS[dialect].get(obj["type"])
    if parse is None:
        return UnknownEvent(obj["type"], obj)
    return parse(obj)


def dump_server_event(event: ServerEvent, dialect: Dialect) -> str:
    """Serialise a server event as compact JSON in ``dialect`` (the inverse of ``parse_server_event``).

    Keys come in the server's order: ``type``, ``event_id``, the modelled fields, then ``extra``.

    Raises:
        ProtocolError: the event does not exist in ``dialect`` (beta has no
            ``conversation.item.done`` or ``input_audio_buffer.timeout_triggered``), or its
            session/response cannot be expressed there.
    """
    if type(event) is UnknownEvent:
        return orjson.dumps(event.data).decode()
    if type(event) is ErrorEvent:
        return _dump_error(event, dialect)
    codec = _CODECS[dialect].get(type(event))
    if codec is None:
        raise ProtocolError(f"{type(event).__name__} has no {dialect} equivalent")
    return codec.dump(event)
