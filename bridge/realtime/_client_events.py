"""Realtime client events (bridge -> model): dataclasses and their codec (private; see ``events.py``)."""

from __future__ import annotations

import binascii
from dataclasses import KW_ONLY, dataclass
from typing import Any

import orjson

from bridge.errors import ProtocolError
from bridge.realtime._wire import (
    BASE64,
    INT,
    ITEM,
    OPTIONAL_STR,
    RESPONSE_PARAMS,
    SESSION_CLIENT,
    STR,
    Dialect,
    Field,
    load_object,
    read_fields,
    write_fields,
)

__all__ = [
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "dump_client_event",
    "parse_client_event",
]


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """``session.update``: ``session`` in the GA shape (translated to the flat beta shape on dump)."""

    session: dict[str, Any]
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioBufferAppend:
    """``input_audio_buffer.append``: raw audio bytes in the session's input format (base64 on the wire)."""

    audio: bytes
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioBufferCommit:
    """``input_audio_buffer.commit``: turn the buffered audio into a user item (manual turns)."""

    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioBufferClear:
    """``input_audio_buffer.clear``: drop the buffered input audio."""

    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemCreate:
    """``conversation.item.create``: ``item`` in the GA shape, inserted after ``previous_item_id``."""

    item: dict[str, Any]
    previous_item_id: str | None = None
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemRetrieve:
    """``conversation.item.retrieve``: ask for the server's copy of an item (with its audio)."""

    item_id: str
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemTruncate:
    """``conversation.item.truncate``: cut an assistant item's audio at ``audio_end_ms`` (what was heard)."""

    item_id: str
    content_index: int
    audio_end_ms: int
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemDelete:
    """``conversation.item.delete``."""

    item_id: str
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    """``response.create``: ``response`` holds GA-shaped parameters, or None for the session defaults."""

    response: dict[str, Any] | None = None
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    """``response.cancel``: cancel ``response_id``, or the active response when None."""

    response_id: str | None = None
    _: KW_ONLY
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutputAudioBufferClear:
    """``output_audio_buffer.clear`` (WebRTC/SIP only): stop the server-side playout."""

    _: KW_ONLY
    event_id: str | None = None


ClientEvent = (
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ConversationItemDelete
    | ResponseCreate
    | ResponseCancel
    | OutputAudioBufferClear
)

# Wire type and fields (in wire order) of each client event; the names are the same in both dialects.
_SPECS: dict[type[ClientEvent], tuple[str, tuple[Field, ...]]] = {
    SessionUpdate: ("session.update", (Field("session", "session", SESSION_CLIENT),)),
    InputAudioBufferAppend: ("input_audio_buffer.append", (Field("audio", "audio", BASE64),)),
    InputAudioBufferCommit: ("input_audio_buffer.commit", ()),
    InputAudioBufferClear: ("input_audio_buffer.clear", ()),
    ConversationItemCreate: (
        "conversation.item.create",
        (Field("previous_item_id", "previous_item_id", OPTIONAL_STR), Field("item", "item", ITEM)),
    ),
    ConversationItemRetrieve: ("conversation.item.retrieve", (Field("item_id", "item_id", STR),)),
    ConversationItemTruncate: (
        "conversation.item.truncate",
        (
            Field("item_id", "item_id", STR),
            Field("content_index", "content_index", INT),
            Field("audio_end_ms", "audio_end_ms", INT),
        ),
    ),
    ConversationItemDelete: ("conversation.item.delete", (Field("item_id", "item_id", STR),)),
    ResponseCreate: ("response.create", (Field("response", "response", RESPONSE_PARAMS),)),
    ResponseCancel: ("response.cancel", (Field("response_id", "response_id", OPTIONAL_STR),)),
    OutputAudioBufferClear: ("output_audio_buffer.clear", ()),
}
_BY_NAME = {name: (cls, fields) for cls, (name, fields) in _SPECS.items()}


def dump_client_event(event: ClientEvent, dialect: Dialect) -> str:
    """Serialise a client event as compact JSON in ``dialect``.

    Keys come in the order ``type``, ``event_id`` (only when set), then the event's fields;
    optional fields that are None are left out.

    Raises:
        ProtocolError: the event cannot be expressed in ``dialect`` (e.g. a transcription
            session or an unknown audio field in a beta ``session.update``).
    """
    if type(event) is InputAudioBufferAppend:
        # Hot path (every 20 ms per call): no dict, no generic field walk.
        audio = binascii.b2a_base64(event.audio, newline=False).decode("ascii")
        if event.event_id is None:
            return '{"type":"input_audio_buffer.append","audio":"' + audio + '"}'
        event_id = orjson.dumps(event.event_id).decode()
        return '{"type":"input_audio_buffer.append","event_id":' + event_id + ',"audio":"' + audio + '"}'
    name, fields = _SPECS[type(event)]
    out: dict[str, Any] = {"type": name}
    if event.event_id is not None:
        out["event_id"] = event.event_id
    write_fields(out, event, fields, dialect)
    return orjson.dumps(out).decode()


def parse_client_event(data: str | bytes, dialect: Dialect) -> ClientEvent:
    """Parse one client event sent in ``dialect``; the result is in the internal (GA) form.

    Parsing is strict, as the Realtime server is: an unknown ``type`` or an unknown top-level
    key is an error whose ``field`` names it (what a server answers as ``invalid_value`` /
    ``unknown_parameter``). The content of ``session``, ``item`` and ``response`` is not checked.

    Raises:
        ProtocolError: not a JSON object with a string ``type``; an unknown type or key; a
            missing or mistyped field; audio that is not valid base64.
    """
    obj = load_object(data)
    spec = _BY_NAME.get(obj["type"])
    if spec is None:
        raise ProtocolError(f"unknown client event type {obj['type']!r}", field="type")
    cls, fields = spec
    for key in obj:
        if key != "type" and key != "event_id" and all(f.key != key for f in fields):
            raise ProtocolError(f"{obj['type']}: unknown parameter '{key}'", field=key)
    event_id = obj.get("event_id")
    if event_id is not None and type(event_id) is not str:
        raise ProtocolError(f"{obj['type']}: 'event_id' must be a string", field="event_id")
    return cls(**read_fields(obj, fields, dialect, obj["type"]), event_id=event_id)
