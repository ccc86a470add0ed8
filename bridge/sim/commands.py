"""The messages an app may send Twilio on a bidirectional stream: ``media``, ``mark``, ``clear``.

Parsed strictly (shared PROTOCOLS.md C.2), because the caller exists to catch a bridge that gets
them wrong: a wrong ``streamSid``, a payload that is not base64, a mark without a name are all
:class:`~bridge.errors.ProtocolError`. Unknown extra keys are tolerated, as Twilio does.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from bridge.errors import ProtocolError

__all__ = ["AppClear", "AppMark", "AppMedia", "AppMessage", "parse_app_message"]


@dataclass(frozen=True, slots=True)
class AppMedia:
    """Audio to queue for playback (raw mu-law, 8 kHz)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class AppMark:
    """A label to echo back once the audio queued before it has played."""

    name: str


@dataclass(frozen=True, slots=True)
class AppClear:
    """Drop all queued audio and echo every pending mark."""


AppMessage = AppMedia | AppMark | AppClear


def _object(value: object, field: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{field} must be an object", field=field)
    return value


def _string(container: dict[str, object], key: str, field: str) -> str:
    value = container.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"{field} must be a string", field=field)
    return value


def parse_app_message(text: str | bytes, stream_sid: str) -> AppMessage:
    """Parse one text frame the app sent on the stream ``stream_sid``.

    Raises:
        ProtocolError: the frame is not JSON, not one of the three C.2 messages, names another
            stream, or has a field of the wrong type (``field`` names it).
    """
    try:
        message = _object(orjson.loads(text), "message")
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    event = _string(message, "event", "event")
    if _string(message, "streamSid", "streamSid") != stream_sid:
        raise ProtocolError(f"streamSid {message['streamSid']!r} is not this stream ({stream_sid})", field="streamSid")
    if event == "media":
        encoded = _string(_object(message.get("media"), "media"), "payload", "media.payload")
        try:
            return AppMedia(base64.b64decode(encoded, validate=True))
        except binascii.Error as exc:
            raise ProtocolError(f"media.payload is not base64: {exc}", field="media.payload") from exc
    if event == "mark":
        return AppMark(_string(_object(message.get("mark"), "mark"), "name", "mark.name"))
    if event == "clear":
        return AppClear()
    raise ProtocolError(f"unknown event {event!r} (an app may send media, mark or clear)", field="event")
