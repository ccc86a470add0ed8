"""The messages Twilio sends on a bidirectional Media Stream, numbered the way Twilio numbers them.

Sans-I/O: :class:`TwilioStream` only builds the JSON text frames (shared PROTOCOLS.md C.1); the
caller decides when to send them. The JSON is built here from plain dicts, deliberately not from the
bridge's own codec, so the caller stays an independent peer that can catch the codec's mistakes.
Key order and compact separators match the literal C.1 examples byte for byte.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import orjson

from bridge.sim.ids import CallIds

__all__ = ["FRAME_BYTES", "FRAME_MS", "MULAW_SILENCE", "TwilioStream"]

FRAME_MS = 20
"""Twilio sends inbound audio in 20 ms chunks."""
FRAME_BYTES = 160
"""20 ms of mu-law at 8 kHz."""
MULAW_SILENCE = 0xFF
"""The mu-law code for zero amplitude."""

_CONNECTED = orjson.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


class TwilioStream:
    """Builds Twilio's inbound messages for one stream.

    ``sequenceNumber`` starts at ``"1"`` on ``start`` and counts every later message (``connected``
    carries none). ``media.chunk`` starts at ``"1"`` and counts media messages only;
    ``media.timestamp`` is the milliseconds of inbound audio sent before the chunk (0, 20, 40, ...
    for 160-byte frames). Every counter is a string on the wire.
    """

    def __init__(self, ids: CallIds, custom_parameters: Mapping[str, str] | None = None) -> None:
        self.ids = ids
        self._custom_parameters = dict(custom_parameters or {})
        self._sequence = 0
        self._chunk = 0
        self._audio_bytes = 0

    @property
    def sequence_number(self) -> int:
        """The ``sequenceNumber`` of the last message built (0 before ``start``)."""
        return self._sequence

    @property
    def chunks(self) -> int:
        """How many ``media`` messages have been built."""
        return self._chunk

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def connected(self) -> bytes:
        """``{"event":"connected","protocol":"Call","version":"1.0.0"}``: the first frame on the socket."""
        return _CONNECTED

    def start(self) -> bytes:
        """The ``start`` message: SIDs, ``tracks ["inbound"]``, custom parameters and the mu-law format."""
        return orjson.dumps(
            {
                "event": "start",
                "sequenceNumber": self._next_sequence(),
                "start": {
                    "accountSid": self.ids.account_sid,
                    "streamSid": self.ids.stream_sid,
                    "callSid": self.ids.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self._custom_parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": self.ids.stream_sid,
            }
        )

    def media(self, payload: bytes) -> bytes:
        """One ``media`` message on the inbound track carrying ``payload`` (raw mu-law, base64 on the wire)."""
        self._chunk += 1
        timestamp_ms = self._audio_bytes // 8
        self._audio_bytes += len(payload)
        return orjson.dumps(
            {
                "event": "media",
                "sequenceNumber": self._next_sequence(),
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(timestamp_ms),
                    "payload": base64.b64encode(payload).decode("ascii"),
                },
                "streamSid": self.ids.stream_sid,
            }
        )

    def dtmf(self, digit: str) -> bytes:
        """A ``dtmf`` message: the caller pressed ``digit``."""
        return orjson.dumps(
            {
                "event": "dtmf",
                "streamSid": self.ids.stream_sid,
                "sequenceNumber": self._next_sequence(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    def mark(self, name: str) -> bytes:
        """A ``mark`` echo: the audio the app queued before its mark ``name`` has played (or was cleared)."""
        return orjson.dumps(
            {
                "event": "mark",
                "sequenceNumber": self._next_sequence(),
                "streamSid": self.ids.stream_sid,
                "mark": {"name": name},
            }
        )

    def stop(self) -> bytes:
        """The ``stop`` message Twilio sends when the stream ends."""
        return orjson.dumps(
            {
                "event": "stop",
                "sequenceNumber": self._next_sequence(),
                "stop": {"accountSid": self.ids.account_sid, "callSid": self.ids.call_sid},
                "streamSid": self.ids.stream_sid,
            }
        )
