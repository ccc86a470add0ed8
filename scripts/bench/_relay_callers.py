"""The relay benchmark's simulated Twilio callers: many calls on raw transports, one timer.

``bridge.sim.caller.Caller`` runs two tasks per call on the ``websockets`` client, which costs
about as much CPU per call as the bridge itself; on a two-core machine, where the engine and the
callers share the core the bridge does not have, that made the callers' core, not the bridge's,
the limit. These calls speak the same protocol with the same sans-I/O parts (``TwilioStream`` for
every message, ``TwilioPlayback`` for Twilio's playout and mark echoes, ``parse_app_message`` for
what the bridge sends), over ``asyncio.Protocol`` transports with hand-built RFC 6455 frames
(masked, as a client's must be), and one timer serves every call: each due event (a media frame
at ``20 (n + 1)`` ms, a mark echo when its audio has played) goes on one heap.

Times are ``time.monotonic()`` seconds (the clock the engine's records are in); a call's
simulated milliseconds run from the moment its ``start`` message was written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import itertools
import math
import random
import time
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

from bridge.errors import ProtocolError
from bridge.sim.commands import AppMark, AppMedia, parse_app_message
from bridge.sim.ids import new_call_ids
from bridge.sim.stream import TwilioStream
from bridge.telephony.playout import TwilioPlayback

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["CallOutcome", "Chunk", "LeanCallers"]

FRAME_MS = 20
FRAME_BYTES = 160
_SILENCE_FRAME = b"\xff" * FRAME_BYTES
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_TEXT, _OP_CLOSE, _OP_PING, _OP_PONG = 0x1, 0x8, 0x9, 0xA
_CLOSE_NORMAL = (1000).to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One agent audio chunk a caller received: its item, where it ends in the item, size and arrival."""

    item_id: str
    end_offset: int  # the bridge's mark: bytes of the item sent up to the end of this chunk
    nbytes: int
    at: float


@dataclass
class CallOutcome:
    """What one call saw (monotonic seconds)."""

    t0: float = 0.0
    frames_sent: int = 0
    ended_by: str = ""
    protocol_errors: list[str] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)


class _Call(asyncio.Protocol):
    """One call: the WebSocket handshake, frames both ways, the stream and its playout."""

    def __init__(self, driver: LeanCallers, host: str, path: str, audio: bytes, seed: int) -> None:
        self._driver = driver
        self._host = host
        self._path = path
        self._audio = audio
        self._rng = random.Random(seed)
        self._key = base64.b64encode(self._rng.randbytes(16))
        self._stream = TwilioStream(new_call_ids(seed))
        self._stream_sid = self._stream.ids.stream_sid
        self._playback = TwilioPlayback()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._open = False
        self._media: tuple[float, int] | None = None  # the last media message, until its mark names it
        self.outcome = CallOutcome()
        self.scheduled: float | None = None  # the due time of this call's live heap entry
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's does not subclass asyncio's
        self._transport.write(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self._path.encode(), self._host.encode(), self._key)
        )

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._open and not self._handshake():
            return
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end("server")
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the upgrade: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- the driver's side -------------------------------------------------------------------------------

    def service(self, now: float) -> float | None:
        """Send what is due at ``now``: mark echoes, then media frames. Returns the next due time."""
        if self.outcome.ended_by:
            return None
        # A nanosecond over: `now` may be a due time that went through t0 + ms / 1000 and back.
        now_ms = (now - self.outcome.t0) * 1000.0 + 1e-6
        self._echo(now_ms)
        stream = self._stream
        while FRAME_MS * (stream.chunks + 1) <= now_ms:
            offset = stream.chunks * FRAME_BYTES
            frame = self._audio[offset : offset + FRAME_BYTES]
            if len(frame) < FRAME_BYTES:
                frame += _SILENCE_FRAME[len(frame) :]
            self._send(stream.media(frame))
            self.outcome.frames_sent += 1
        return self._next_due()

    def hang_up(self) -> None:
        """Send ``stop`` and a close frame; ``closed`` resolves when the bridge has closed too."""
        if self.outcome.ended_by:
            return
        self._send(self._stream.stop())
        self._send(_CLOSE_NORMAL, _OP_CLOSE)
        self._end("hangup")

    # -- internals -----------------------------------------------------------------------------------

    def _next_due(self) -> float:
        due = FRAME_MS * (self._stream.chunks + 1.0)
        echo = self._playback.next_echo_ms()
        if echo is not None and echo < due:
            due = echo
        return self.outcome.t0 + due / 1000.0

    def _echo(self, now_ms: float) -> None:
        for mark in self._playback.advance(now_ms).marks:
            self._send(self._stream.mark(mark.name))

    def _handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self._key + _WS_GUID).digest()).decode()
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])}
        if not head[0].startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
            self.opened.set_exception(ConnectionError(f"upgrade refused: {head[0]}"))
            assert self._transport is not None
            self._transport.close()
            return False
        self._open = True
        self._send(self._stream.connected())
        self._send(self._stream.start())
        self.outcome.t0 = time.monotonic()
        self.opened.set_result(None)
        self._driver.schedule(self, self._next_due())
        return True

    def _frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if second & 0x80 or not first & 0x80:
                self._error("a masked or fragmented frame from the server")
                continue
            opcode = first & 0x0F
            if opcode == _OP_TEXT:
                self._message(payload)
            elif opcode == _OP_CLOSE:
                if not self.outcome.ended_by:
                    self._send(payload[:2] or _CLOSE_NORMAL, _OP_CLOSE)
                self._end("server")
                assert self._transport is not None
                self._transport.close()
            elif opcode == _OP_PING:
                self._send(payload, _OP_PONG)
            elif opcode != _OP_PONG:
                self._error(f"a frame with opcode {opcode}")

    def _message(self, payload: bytes) -> None:
        now = time.monotonic()
        now_ms = (now - self.outcome.t0) * 1000.0
        try:
            command = parse_app_message(payload, self._stream_sid)
        except ProtocolError as exc:
            self._error(str(exc))
            return
        if isinstance(command, AppMedia):
            self._playback.receive_media(command.payload, now_ms)
            self._media = (now, len(command.payload))
        elif isinstance(command, AppMark):
            self._playback.receive_mark(command.name, now_ms)
            if self._media is not None:
                item_id, _, rest = command.name.partition("@")
                at, size = self._media
                self.outcome.chunks.append(Chunk(item_id, int(rest.partition("#")[0]), size, at))
                self._media = None
        else:
            self._playback.receive_clear(now_ms)
            self.outcome.clears.append(now)
            self._echo(now_ms)  # a clear echoes the pending marks at once
        self._driver.schedule(self, self._next_due())

    def _send(self, payload: bytes, opcode: int = _OP_TEXT) -> None:
        if self.outcome.ended_by or self._transport is None:
            return
        mask = self._rng.randbytes(4)
        size = len(payload)
        if size < 126:
            header = bytes((0x80 | opcode, 0x80 | size))
        elif size < 65536:
            header = bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0xFF)) + size.to_bytes(8, "big")
        self._transport.write(header + mask + apply_mask(payload, mask))

    def _error(self, problem: str) -> None:
        self.outcome.protocol_errors.append(problem)

    def _end(self, reason: str) -> None:
        if not self.outcome.ended_by:
            self.outcome.ended_by = reason


class LeanCallers:
    """Places and drives many calls to one media stream URL on one event loop."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need a ws://host:port/path URL, not {url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._path = parts.path or "/"
        self._heap: list[tuple[float, int, _Call]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None

    async def place(self, audio: bytes, seed: int) -> _Call:
        """Dial one call; returns once its stream has started (raises ConnectionError if refused)."""
        loop = asyncio.get_running_loop()
        call = _Call(self, f"{self._host}:{self._port}", self._path, audio, seed)
        await loop.create_connection(lambda: call, self._host, self._port)
        await call.opened
        return call

    async def hang_up(self, call: _Call, timeout_s: float) -> CallOutcome:
        call.hang_up()
        try:
            async with asyncio.timeout(timeout_s):
                await call.closed
        except TimeoutError:
            call.outcome.protocol_errors.append("the bridge did not close the stream after stop")
        return call.outcome

    def schedule(self, call: _Call, due: float) -> None:
        """Make sure ``call`` is serviced at ``due`` (an earlier entry stands; a later one is dropped)."""
        if call.scheduled is not None and call.scheduled <= due:
            return
        call.scheduled = due
        heapq.heappush(self._heap, (due, next(self._order), call))
        if self._armed is None or due < self._armed:
            if self._timer is not None:
                self._timer.cancel()
            self._armed = due
            self._timer = asyncio.get_running_loop().call_later(max(0.0, due - time.monotonic()), self._fire)

    def _fire(self) -> None:
        armed = self._armed
        assert armed is not None
        # While servicing, `schedule` only queues: the timer is armed once, below.
        self._timer, self._armed = None, -math.inf
        # The armed moment has come even if the clock reads a little less (uvloop's timers have
        # millisecond precision); waiting again for the remainder would spin.
        now = max(time.monotonic(), armed)
        heap = self._heap
        serviced: list[tuple[_Call, float]] = []
        while heap and heap[0][0] <= now:
            due, _, call = heapq.heappop(heap)
            if call.scheduled != due:
                continue  # superseded by an earlier entry that was serviced already
            call.scheduled = None
            following = call.service(now)
            if following is not None:
                serviced.append((call, following))
        for call, following in serviced:  # after the pass: each call is serviced once per firing
            self.schedule(call, following)
        self._armed = None
        if heap:
            due = heap[0][0]
            self._armed = due
            self._timer = asyncio.get_running_loop().call_later(max(0.0, due - time.monotonic()), self._fire)
