"""Twilio Media Streams codec and sans-I/O adapter (PROTOCOLS.md section C.1, C.2).

Every message in both directions is a frozen dataclass:

* Twilio -> app ("inbound"): :class:`Connected`, :class:`Start`, :class:`Media`, :class:`Dtmf`,
  :class:`Mark`, :class:`Stop`; read with :func:`parse_inbound`.
* app -> Twilio ("outbound"): :class:`OutboundMedia`, :class:`OutboundMark`, :class:`Clear`;
  read with :func:`parse_outbound` (the bundled caller in ``bridge/sim/`` is Twilio's side).

:func:`dump` writes any message in the canonical wire form: compact JSON, keys in the order
Twilio uses (PROTOCOLS.md C.1/C.2), non-ASCII text as raw UTF-8, ``sequenceNumber``, ``chunk``
and ``timestamp`` as decimal strings. For every frame in that form ``dump(parse(x)) == x``.

Decisions:

* Unknown extra fields are accepted and dropped, so a field Twilio adds later cannot break a
  call; ``dump`` then writes the canonical form without them. Key order on input is free.
* ``sequenceNumber``, ``chunk`` and ``timestamp`` are ints here. On the wire they must be
  canonical decimal strings (ASCII digits, no sign, no leading zero, at most 19 digits), so
  every accepted value dumps back to the same text.
* Size caps: an inbound frame is at most :data:`MAX_INBOUND_FRAME` (64 KiB; Twilio sends about
  400 bytes per 20 ms frame) with at most :data:`MAX_INBOUND_PAYLOAD` audio bytes (1 s). The app
  may send audio "of any size", so outbound caps are larger: :data:`MAX_OUTBOUND_FRAME` (1 MiB)
  and :data:`MAX_OUTBOUND_PAYLOAD` (512 KiB, 64 s of audio). ``dump`` enforces the payload caps,
  so whatever it writes parses again. Frame sizes count characters for ``str`` input and bytes
  for ``bytes`` input.

Anything malformed raises :class:`~bridge.errors.ProtocolError` with ``.field`` set to the dotted
wire path of the offending field (``None`` when the frame is not a JSON object at all), and never
any other exception type.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, assert_never

import orjson

from bridge.errors import ProtocolError
from bridge.telephony.events import (
    AudioReceived,
    CallStarted,
    CallStopped,
    ClearPlayback,
    DtmfReceived,
    HangUp,
    MarkPlayed,
    PlayAudio,
    SetMark,
    TelephonyCommand,
    TelephonyEvent,
    Transfer,
)

__all__ = [
    "MAX_INBOUND_FRAME",
    "MAX_INBOUND_PAYLOAD",
    "MAX_OUTBOUND_FRAME",
    "MAX_OUTBOUND_PAYLOAD",
    "Clear",
    "Connected",
    "Dtmf",
    "InboundMessage",
    "Mark",
    "Media",
    "MediaFormat",
    "OutboundMark",
    "OutboundMedia",
    "OutboundMessage",
    "Start",
    "Stop",
    "TwilioMediaStream",
    "TwilioMessage",
    "dump",
    "parse_inbound",
    "parse_outbound",
]

MAX_INBOUND_FRAME = 64 * 1024
MAX_INBOUND_PAYLOAD = 8000
MAX_OUTBOUND_FRAME = 1024 * 1024
MAX_OUTBOUND_PAYLOAD = 512 * 1024

_MAX_DIGITS = 19  # fits a signed 64-bit integer
_DTMF_DIGITS = frozenset("0123456789*#ABCD")

JsonObject = dict[str, Any]


# -- field readers: each names the dotted wire path of what it rejects --------------------------

_T = TypeVar("_T")
_TYPE_NAMES = {str: "a string", dict: "an object", int: "an integer", list: "an array"}


def _field(obj: JsonObject, key: str, path: str, kind: type[_T]) -> _T:
    """``obj[key]`` if it is exactly of ``kind`` (so ``true`` is no integer); else ProtocolError naming ``path``."""
    try:
        value: _T = obj[key]
    except KeyError:
        raise ProtocolError(f"missing field {path}", field=path) from None
    if type(value) is not kind:
        raise _wrong_type(path, _TYPE_NAMES[kind], value)
    return value


def _wrong_type(path: str, expected: str, value: object) -> ProtocolError:
    return ProtocolError(f"{path} must be {expected}, not {type(value).__name__}", field=path)


def _decimal(obj: JsonObject, key: str, path: str) -> int:
    """A counter Twilio sends as a string ("1"); only canonical text is accepted so it dumps back the same."""
    text = _field(obj, key, path, str)
    if not (text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS and (text[0] != "0" or len(text) == 1)):
        raise ProtocolError(f"{path} must be a canonical decimal string, not {text[:24]!r}", field=path)
    return int(text)


def _payload(obj: JsonObject, key: str, path: str, limit: int) -> bytes:
    # The frame cap bounds the text, so decoding before the size check costs little.
    text = _field(obj, key, path, str)
    try:
        payload = binascii.a2b_base64(text, strict_mode=True)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise ProtocolError(f"{path} is not valid base64: {exc}", field=path) from exc
    if len(payload) > limit:
        raise ProtocolError(f"{path} is larger than {limit} bytes", field=path)
    return payload


def _b64(payload: bytes, limit: int, path: str) -> str:
    if len(payload) > limit:
        raise ProtocolError(f"{path} is larger than {limit} bytes", field=path)
    return binascii.b2a_base64(payload, newline=False).decode("ascii")


def _load(data: str | bytes, limit: int) -> JsonObject:
    if len(data) > limit:
        raise ProtocolError(f"frame of {len(data)} exceeds the {limit} limit")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if type(obj) is not dict:
        raise ProtocolError(f"frame must be a JSON object, not {type(obj).__name__}")
    return obj


# -- Twilio -> app ---------------------------------------------------------------------------
# Each from_wire passes fields positionally, in declaration order: on a 20 ms media frame a
# keyword call to a frozen dataclass costs about a third more than the positional one.


@dataclass(frozen=True, slots=True)
class Connected:
    """First message on the socket, before ``start``."""

    protocol: str = "Call"
    version: str = "1.0.0"

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Connected:
        return cls(_field(obj, "protocol", "protocol", str), _field(obj, "version", "version", str))

    def to_wire(self) -> JsonObject:
        return {"event": "connected", "protocol": self.protocol, "version": self.version}


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """``start.mediaFormat``; always mu-law, 8000 Hz, mono from Twilio."""

    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1

    @classmethod
    def from_wire(cls, obj: JsonObject) -> MediaFormat:
        return cls(
            _field(obj, "encoding", "start.mediaFormat.encoding", str),
            _field(obj, "sampleRate", "start.mediaFormat.sampleRate", int),
            _field(obj, "channels", "start.mediaFormat.channels", int),
        )

    def to_wire(self) -> JsonObject:
        return {"encoding": self.encoding, "sampleRate": self.sample_rate, "channels": self.channels}


@dataclass(frozen=True, slots=True)
class Start:
    """The stream's metadata; ``custom_parameters`` are the TwiML ``<Parameter>`` values."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str]
    media_format: MediaFormat

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Start:
        start = _field(obj, "start", "start", dict)
        tracks = _field(start, "tracks", "start.tracks", list)
        for index, track in enumerate(tracks):
            if type(track) is not str:
                raise _wrong_type(f"start.tracks.{index}", "a string", track)
        params = _field(start, "customParameters", "start.customParameters", dict)
        for name, value in params.items():
            if type(value) is not str:
                raise _wrong_type(f"start.customParameters.{name}", "a string", value)
        return cls(
            _decimal(obj, "sequenceNumber", "sequenceNumber"),
            _field(obj, "streamSid", "streamSid", str),
            _field(start, "accountSid", "start.accountSid", str),
            _field(start, "callSid", "start.callSid", str),
            tuple(tracks),
            params,
            MediaFormat.from_wire(_field(start, "mediaFormat", "start.mediaFormat", dict)),
        )

    def to_wire(self) -> JsonObject:
        return {
            "event": "start",
            "sequenceNumber": str(self.sequence_number),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": list(self.tracks),
                "customParameters": self.custom_parameters,
                "mediaFormat": self.media_format.to_wire(),
            },
            "streamSid": self.stream_sid,
        }


@dataclass(frozen=True, slots=True)
class Media:
    """One chunk of call audio (raw mu-law); ``timestamp`` is ms since the stream started."""

    sequence_number: int
    stream_sid: str
    track: str
    chunk: int
    timestamp: int
    payload: bytes

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Media:
        media = _field(obj, "media", "media", dict)
        return cls(
            _decimal(obj, "sequenceNumber", "sequenceNumber"),
            _field(obj, "streamSid", "streamSid", str),
            _field(media, "track", "media.track", str),
            _decimal(media, "chunk", "media.chunk"),
            _decimal(media, "timestamp", "media.timestamp"),
            _payload(media, "payload", "media.payload", MAX_INBOUND_PAYLOAD),
        )

    def to_wire(self) -> JsonObject:
        return {
            "event": "media",
            "sequenceNumber": str(self.sequence_number),
            "media": {
                "track": self.track,
                "chunk": str(self.chunk),
                "timestamp": str(self.timestamp),
                "payload": _b64(self.payload, MAX_INBOUND_PAYLOAD, "media.payload"),
            },
            "streamSid": self.stream_sid,
        }


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The caller pressed a key (``digit`` is one of 0-9, *, #, A-D)."""

    sequence_number: int
    stream_sid: str
    track: str
    digit: str

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Dtmf:
        dtmf = _field(obj, "dtmf", "dtmf", dict)
        digit = _field(dtmf, "digit", "dtmf.digit", str)
        if digit not in _DTMF_DIGITS:
            raise ProtocolError(f"dtmf.digit must be one of 0-9 * # A-D, not {digit[:8]!r}", field="dtmf.digit")
        return cls(
            _decimal(obj, "sequenceNumber", "sequenceNumber"),
            _field(obj, "streamSid", "streamSid", str),
            _field(dtmf, "track", "dtmf.track", str),
            digit,
        )

    def to_wire(self) -> JsonObject:
        return {
            "event": "dtmf",
            "streamSid": self.stream_sid,
            "sequenceNumber": str(self.sequence_number),
            "dtmf": {"track": self.track, "digit": self.digit},
        }


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio played (or cleared) all audio queued before the app's mark of this name."""

    sequence_number: int
    stream_sid: str
    name: str

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Mark:
        return cls(
            _decimal(obj, "sequenceNumber", "sequenceNumber"),
            _field(obj, "streamSid", "streamSid", str),
            _field(_field(obj, "mark", "mark", dict), "name", "mark.name", str),
        )

    def to_wire(self) -> JsonObject:
        return {
            "event": "mark",
            "sequenceNumber": str(self.sequence_number),
            "streamSid": self.stream_sid,
            "mark": {"name": self.name},
        }


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream ended; the socket closes next."""

    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Stop:
        stop = _field(obj, "stop", "stop", dict)
        return cls(
            _decimal(obj, "sequenceNumber", "sequenceNumber"),
            _field(obj, "streamSid", "streamSid", str),
            _field(stop, "accountSid", "stop.accountSid", str),
            _field(stop, "callSid", "stop.callSid", str),
        )

    def to_wire(self) -> JsonObject:
        return {
            "event": "stop",
            "sequenceNumber": str(self.sequence_number),
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            "streamSid": self.stream_sid,
        }


InboundMessage = Connected | Start | Media | Dtmf | Mark | Stop


# -- app -> Twilio ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    """Audio for the caller (raw mu-law, any length); Twilio queues and plays it in order."""

    stream_sid: str
    payload: bytes

    @classmethod
    def from_wire(cls, obj: JsonObject) -> OutboundMedia:
        return cls(
            _field(obj, "streamSid", "streamSid", str),
            _payload(_field(obj, "media", "media", dict), "payload", "media.payload", MAX_OUTBOUND_PAYLOAD),
        )

    def to_wire(self) -> JsonObject:
        return {
            "event": "media",
            "streamSid": self.stream_sid,
            "media": {"payload": _b64(self.payload, MAX_OUTBOUND_PAYLOAD, "media.payload")},
        }


@dataclass(frozen=True, slots=True)
class OutboundMark:
    """Ask Twilio to echo a ``mark`` of this name once the audio queued before it has played."""

    stream_sid: str
    name: str

    @classmethod
    def from_wire(cls, obj: JsonObject) -> OutboundMark:
        return cls(
            _field(obj, "streamSid", "streamSid", str),
            _field(_field(obj, "mark", "mark", dict), "name", "mark.name", str),
        )

    def to_wire(self) -> JsonObject:
        return {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": self.name}}


@dataclass(frozen=True, slots=True)
class Clear:
    """Drop all queued audio; Twilio echoes every pending mark."""

    stream_sid: str

    @classmethod
    def from_wire(cls, obj: JsonObject) -> Clear:
        return cls(stream_sid=_field(obj, "streamSid", "streamSid", str))

    def to_wire(self) -> JsonObject:
        return {"event": "clear", "streamSid": self.stream_sid}


OutboundMessage = OutboundMedia | OutboundMark | Clear
TwilioMessage = InboundMessage | OutboundMessage

_INBOUND: dict[str, Callable[[JsonObject], InboundMessage]] = {
    "connected": Connected.from_wire,
    "start": Start.from_wire,
    "media": Media.from_wire,
    "dtmf": Dtmf.from_wire,
    "mark": Mark.from_wire,
    "stop": Stop.from_wire,
}
_OUTBOUND: dict[str, Callable[[JsonObject], OutboundMessage]] = {
    "media": OutboundMedia.from_wire,
    "mark": OutboundMark.from_wire,
    "clear": Clear.from_wire,
}


def parse_inbound(data: str | bytes) -> InboundMessage:
    """Decode one text frame Twilio sent.

    Raises:
        ProtocolError: the frame is not a well-formed Twilio message (``.field`` names the field).
    """
    obj = _load(data, MAX_INBOUND_FRAME)
    event = _field(obj, "event", "event", str)
    parser = _INBOUND.get(event)
    if parser is None:
        raise ProtocolError(f"unknown inbound event {event[:32]!r}", field="event")
    return parser(obj)


def parse_outbound(data: str | bytes) -> OutboundMessage:
    """Decode one text frame the app sent to Twilio (the simulated caller's side).

    Raises:
        ProtocolError: the frame is not a well-formed app message (``.field`` names the field).
    """
    obj = _load(data, MAX_OUTBOUND_FRAME)
    event = _field(obj, "event", "event", str)
    parser = _OUTBOUND.get(event)
    if parser is None:
        raise ProtocolError(f"unknown outbound event {event[:32]!r}", field="event")
    return parser(obj)


def dump(msg: TwilioMessage) -> str:
    """Encode any message as one canonical wire text frame.

    Raises:
        ProtocolError: a payload exceeds its cap, or a string cannot be encoded (lone surrogate).
    """
    try:
        return orjson.dumps(msg.to_wire()).decode()
    except orjson.JSONEncodeError as exc:
        raise ProtocolError(f"cannot encode {type(msg).__name__}: {exc}") from exc


# -- sans-I/O adapter ------------------------------------------------------------------------


class TwilioMediaStream:
    """Translates one Media Streams socket between wire text and ``telephony.events``.

    Feed every received text frame to :meth:`receive`; turn commands into frames with :meth:`send`.
    The stream must see ``start`` before anything else but ``connected``, and every later message
    must carry the same ``streamSid``. Hang-up and transfer are REST actions (``rest.TwilioRest``),
    so :meth:`send` returns ``None`` for them.
    """

    __slots__ = ("_stream_sid",)

    def __init__(self) -> None:
        self._stream_sid: str | None = None

    @property
    def stream_sid(self) -> str | None:
        """The stream's SID once ``start`` arrived."""
        return self._stream_sid

    def receive(self, data: str | bytes) -> list[TelephonyEvent]:
        """Decode one frame into zero or one provider-neutral events.

        Raises:
            ProtocolError: malformed frame, a second ``start``, a message before ``start``, a
                foreign ``streamSid``, or a media format other than mu-law 8000 Hz mono.
        """
        msg = parse_inbound(data)
        if isinstance(msg, Connected):
            return []
        if isinstance(msg, Start):
            return [self._start(msg)]
        if msg.stream_sid != self._stream_sid:
            if self._stream_sid is None:
                raise ProtocolError(f"{type(msg).__name__.lower()} before start", field="event")
            raise ProtocolError(f"streamSid {msg.stream_sid[:40]!r} is not this stream's", field="streamSid")
        if isinstance(msg, Media):
            # A <Connect> stream carries only the caller; other tracks are not ours to hear.
            if msg.track != "inbound":
                return []
            return [AudioReceived(msg.payload, msg.timestamp)]
        if isinstance(msg, Dtmf):
            return [DtmfReceived(msg.digit)]
        if isinstance(msg, Mark):
            return [MarkPlayed(msg.name)]
        if isinstance(msg, Stop):
            return [CallStopped("stopped")]
        assert_never(msg)

    def _start(self, msg: Start) -> CallStarted:
        if self._stream_sid is not None:
            raise ProtocolError("second start on one stream", field="event")
        fmt = msg.media_format
        if fmt.encoding != "audio/x-mulaw":
            raise ProtocolError(f"unsupported encoding {fmt.encoding[:32]!r}", field="start.mediaFormat.encoding")
        if fmt.sample_rate != 8000:
            raise ProtocolError(f"unsupported sample rate {fmt.sample_rate}", field="start.mediaFormat.sampleRate")
        if fmt.channels != 1:
            raise ProtocolError(f"unsupported channel count {fmt.channels}", field="start.mediaFormat.channels")
        self._stream_sid = msg.stream_sid
        params = msg.custom_parameters
        return CallStarted(
            call_id=msg.call_sid,
            stream_id=msg.stream_sid,
            account_id=msg.account_sid,
            from_number=params.get("From", ""),
            to_number=params.get("To", ""),
            parameters=dict(params),
        )

    def send(self, command: TelephonyCommand) -> str | None:
        """Encode a command as a frame for Twilio, or ``None`` for REST-only commands.

        Raises:
            ProtocolError: called before ``start`` (no streamSid yet), or the audio exceeds
                :data:`MAX_OUTBOUND_PAYLOAD`.
        """
        if isinstance(command, HangUp | Transfer):
            return None
        stream_sid = self._stream_sid
        if stream_sid is None:
            raise ProtocolError("cannot send before start: no streamSid yet", field="streamSid")
        if isinstance(command, PlayAudio):
            return dump(OutboundMedia(stream_sid, command.payload))
        if isinstance(command, SetMark):
            return dump(OutboundMark(stream_sid, command.name))
        if isinstance(command, ClearPlayback):
            return dump(Clear(stream_sid))
        assert_never(command)
