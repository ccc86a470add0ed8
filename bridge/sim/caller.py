"""A simulated Twilio caller: dials a bridge's Media Streams WebSocket and plays Twilio's side.

The caller sends what Twilio sends (``connected``, ``start``, a ``media`` frame every 20 ms, ``dtmf``,
mark echoes, ``stop``) and plays what the app sends the way Twilio does (:mod:`bridge.telephony.playout`),
recording everything the person on the phone would have heard. The protocol logic lives in the
sans-I/O modules beside this one; this module is the asyncio pump around them.

Simulated time
--------------
Every time the caller reports (``at_ms`` fields, :class:`CallResult`) is *simulated* milliseconds
since ``start`` was sent. Media frame ``n`` (0-based) carries the audio of ``[20n, 20n + 20)`` ms,
is stamped ``timestamp = 20n`` and is sent once its audio is complete, at ``20(n + 1)``. A DTMF digit
scheduled at ``s`` seconds is sent at ``1000 s`` ms; the call ends at ``1000 * seconds`` ms; a mark
is echoed when its audio has played. Events due at the same time go out in this order: mark echoes,
media, DTMF, ``stop``.

* Real time (default): simulated time is ``time.monotonic()`` minus the time ``start`` was sent
  (not the loop's clock: uvloop's reads in whole milliseconds, cached per loop iteration). Each
  event is scheduled against that origin (frame ``n`` at ``t0 + 20(n + 1)`` ms), so the frame pace
  does not drift; a late wake-up sends every overdue frame at once.
* Fast (``fast=True``): simulated time is a virtual clock that jumps straight to the next due
  event (so it moves 20 ms per media frame, or less when a mark echo or DTMF falls between frames),
  yielding once to the event loop at each step so the server and the receiver run in between.
  A message from the server is stamped with the virtual time at which it was processed; playback,
  mark echoes, DTMF and ``seconds`` all run on the virtual clock, so a mark echo lands exactly
  ``len(audio) / 8`` ms after its audio arrived. The server's real processing time shows up as
  whatever number of frames the caller sent meanwhile. Against a server in another thread or
  process, or one that waits on real timers, the virtual clock outruns it: drive such calls by
  events (the hooks below, or the server hanging up) rather than by ``seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidProxy, InvalidStatus, InvalidURI

from bridge.errors import ConfigError, ProtocolError, UpstreamError
from bridge.sim.commands import AppMark, AppMedia, AppMessage, parse_app_message
from bridge.sim.ids import CallIds, new_call_ids
from bridge.sim.stream import FRAME_BYTES, FRAME_MS, MULAW_SILENCE, TwilioStream
from bridge.telephony.playout import EchoedMark, TwilioPlayback
from bridge.telephony.twilio.webhook import compute_signature

__all__ = ["DTMF_DIGITS", "CallResult", "Caller", "EchoedMark", "EndReason", "ReceivedMessage"]

DTMF_DIGITS = frozenset("0123456789*#ABCD")
"""Keys a caller can press."""

EndReason = Literal["server", "seconds", "hangup"]

_SILENCE_FRAME = bytes([MULAW_SILENCE]) * FRAME_BYTES


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One frame the app sent, as received.

    ``data`` is the frame itself (``bytes`` only for a binary frame, which Twilio does not accept);
    ``event`` is ``"media"``, ``"mark"`` or ``"clear"`` for a valid message, ``None`` otherwise
    (the reason is in :attr:`CallResult.protocol_errors`).
    """

    at_ms: float
    data: str | bytes
    event: str | None

    @property
    def json(self) -> Any:
        """The frame parsed as JSON (raises ``orjson.JSONDecodeError`` if it is not JSON)."""
        return orjson.loads(self.data)


@dataclass(frozen=True, slots=True)
class CallResult:
    """Everything a finished call produced. Times are simulated ms since ``start`` (see the module doc)."""

    ids: CallIds
    ended_by: EndReason
    duration_ms: float
    heard: bytes
    """What the caller heard, mu-law 8 kHz from time 0 to the end: app audio where it played, 0xFF elsewhere."""
    bytes_heard: int
    """App audio bytes that played (8 per ms); silence between them not counted."""
    bytes_dropped: int
    """App audio bytes dropped by ``clear``."""
    marks: tuple[EchoedMark, ...]
    """Marks echoed on the wire, with the time each echo was sent."""
    pending_marks: tuple[str, ...]
    """Marks never echoed because the call ended first."""
    clears: tuple[float, ...]
    """When each ``clear`` arrived."""
    dtmf: tuple[tuple[str, float], ...]
    """Digits sent and when."""
    frames_sent: int
    received: tuple[ReceivedMessage, ...]
    protocol_errors: tuple[str, ...]
    """The app's messages that break shared PROTOCOLS.md C.2, one line each; empty for a correct app."""
    close_code: int | None
    close_reason: str


class Caller:
    """One simulated Twilio call against ``url`` (a bridge's ``ws://`` or ``wss://`` media stream URL).

    Use ``result = await Caller(url, ...).run()`` for a whole call, or ``async with Caller(...) as
    caller:`` to interact while it runs (the block's exit hangs up if the call is still going); then
    :meth:`wait_closed` returns the :class:`CallResult`.

    Args:
        url: WebSocket URL to dial.
        audio: mu-law 8 kHz to speak, in 20 ms frames from the start; silence frames follow it.
        parameters: Twilio ``customParameters`` (what ``<Parameter>`` elements would carry).
        dtmf: ``(digit, at_seconds)`` key presses.
        seconds: hang up (``stop`` then close) at this simulated time; ``None`` waits for the server
            or :meth:`hangup`.
        fast: run on a virtual clock as fast as possible instead of in real time (see the module doc).
        auth_token: sign the upgrade with ``X-Twilio-Signature`` using this Twilio auth token.
        signed_url: the URL the signature covers, as Twilio would have dialed it
            (``wss://public-host/path``); defaults to ``url``. A query string goes into the signed
            parameters, not the URL (shared PROTOCOLS.md C.4).
        seed: make the SIDs deterministic.
        open_timeout: seconds allowed for the TCP connection and WebSocket handshake.

    Raises:
        ConfigError: an invalid digit, time or option combination.
    """

    def __init__(
        self,
        url: str,
        *,
        audio: bytes = b"",
        parameters: Mapping[str, str] | None = None,
        dtmf: Sequence[tuple[str, float]] = (),
        seconds: float | None = None,
        fast: bool = False,
        auth_token: str | None = None,
        signed_url: str | None = None,
        seed: int | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        for digit, at_seconds in dtmf:
            if digit not in DTMF_DIGITS:
                raise ConfigError(f"DTMF digit {digit!r} is not one of 0-9 * # A-D")
            if at_seconds < 0:
                raise ConfigError(f"DTMF time {at_seconds} for {digit!r} is negative")
        if seconds is not None and seconds <= 0:
            raise ConfigError(f"seconds must be positive, not {seconds}")
        if signed_url is not None and auth_token is None:
            raise ConfigError("signed_url needs auth_token: there is nothing to sign without it")
        self.url = url
        self.ids = new_call_ids(seed)
        self.fast = fast
        self._audio = bytes(audio)
        self._dtmf_due = sorted(((digit, at * 1000.0) for digit, at in dtmf), key=lambda item: item[1])
        self._end_ms = None if seconds is None else seconds * 1000.0
        self._auth_token = auth_token
        self._signed_url = signed_url if signed_url is not None else url
        self._open_timeout = open_timeout
        self._stream = TwilioStream(self.ids, parameters)
        self._playback = TwilioPlayback()
        self._heard = bytearray()
        self._received: list[ReceivedMessage] = []
        self._marks: list[EchoedMark] = []
        self._clears: list[float] = []
        self._dtmf_sent: list[tuple[str, float]] = []
        self._errors: list[str] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._t0 = 0.0
        self._sim_ms = 0.0
        self._hangup_requested = False
        self._end_reason: EndReason | None = None
        self._ended_ms = 0.0
        self._result: CallResult | None = None
        self._wake = asyncio.Event()  # the pump has something to look at before its next deadline
        self._changed = asyncio.Event()  # replaced on every change; waiters hold the one they saw

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Dial and start the call; returns once the WebSocket is open.

        Raises:
            ConfigError: the URL is not a WebSocket URL.
            UpstreamError: the connection was refused, timed out, or the upgrade was rejected
                (``status`` is the HTTP status then).
        """
        if self._ws is not None:
            raise RuntimeError("this call was already started")
        try:
            self._ws = await connect(
                self.url,
                compression=None,
                additional_headers=self._signature_headers(),
                open_timeout=self._open_timeout,
                max_size=None,  # Twilio accepts outbound media "of any size"
            )
        except (InvalidURI, InvalidProxy) as exc:
            raise ConfigError(f"cannot dial {self.url!r}: {exc}") from exc
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise UpstreamError(f"{self.url} rejected the call: HTTP {status}", status=status) from exc
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise UpstreamError(f"cannot connect to {self.url}: {exc or type(exc).__name__}") from exc
        self._task = asyncio.create_task(self._run(self._ws))
        # Wake waiters however the call ends, including by a failure of the pump itself.
        self._task.add_done_callback(lambda _: self._notify())

    async def wait_closed(self) -> CallResult:
        """Wait for the call to end however it ends, and return its result."""
        if self._task is None:
            raise RuntimeError("the call has not been started")
        # Shielded: cancelling a waiter (Ctrl-C in `bridge call`) must not cancel the call itself.
        await asyncio.shield(self._task)
        assert self._result is not None
        return self._result

    async def hangup(self) -> CallResult:
        """Hang up now: send ``stop``, close the socket, return the result (just the result if already over)."""
        self._hangup_requested = True
        self._wake.set()
        return await self.wait_closed()

    async def run(self) -> CallResult:
        """Place the whole call: :meth:`start`, then :meth:`wait_closed`."""
        await self.start()
        return await self.wait_closed()

    async def __aenter__(self) -> Caller:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.hangup()

    # -- live state and synchronisation -------------------------------------------------------------

    def now_ms(self) -> float:
        """The current simulated time (see the module doc)."""
        if self.fast:
            return self._sim_ms
        return (time.monotonic() - self._t0) * 1000.0

    @property
    def received(self) -> Sequence[ReceivedMessage]:
        """Every frame received so far (live)."""
        return self._received

    @property
    def marks(self) -> Sequence[EchoedMark]:
        """Mark echoes sent so far (live)."""
        return self._marks

    @property
    def clears(self) -> Sequence[float]:
        """Arrival times of ``clear`` so far (live)."""
        return self._clears

    @property
    def protocol_errors(self) -> Sequence[str]:
        """The app's protocol violations so far (live)."""
        return self._errors

    @property
    def result(self) -> CallResult | None:
        """The result once the call has ended, else ``None``."""
        return self._result

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds; it is re-checked whenever the call's state changes.

        State changes are: a frame received, a simulated step taken (frames, DTMF, echoes sent), the
        call ending. Wrap the wait in ``asyncio.timeout()`` for a safety net.

        Raises:
            UpstreamError: the call ended with the condition still false.
        """
        while not condition():
            if self._task is not None and self._task.done():
                result = await self.wait_closed()  # raises the call's own failure, if it had one
                raise UpstreamError(
                    f"the call ended ({result.ended_by}) before the awaited condition held",
                    status=result.close_code,
                )
            await self._changed.wait()

    async def wait_for(self, predicate: Callable[[ReceivedMessage], bool]) -> ReceivedMessage:
        """The first received frame (already received or still to come) for which ``predicate`` is true."""
        scanned = 0
        found: list[ReceivedMessage] = []

        def matched() -> bool:
            nonlocal scanned
            while scanned < len(self._received):
                message = self._received[scanned]
                scanned += 1
                if predicate(message):
                    found.append(message)
                    return True
            return False

        await self.wait_until(matched)
        return found[0]

    async def wait_for_mark(self, name: str) -> EchoedMark:
        """The first echo of mark ``name``, once it has been sent."""
        await self.wait_until(lambda: any(mark.name == name for mark in self._marks))
        return next(mark for mark in self._marks if mark.name == name)

    async def wait_for_clear(self, count: int = 1) -> float:
        """The arrival time of the ``count``-th ``clear``."""
        await self.wait_until(lambda: len(self._clears) >= count)
        return self._clears[count - 1]

    # -- the pump ----------------------------------------------------------------------------------

    def _signature_headers(self) -> dict[str, str]:
        if self._auth_token is None:
            return {}
        parts = urlsplit(self._signed_url)
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        return {"X-Twilio-Signature": compute_signature(self._auth_token, url, params)}

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _ended(self) -> bool:
        return self._end_reason is not None

    def _end(self, reason: EndReason) -> None:
        if self._end_reason is None:
            self._end_reason = reason
            self._ended_ms = self.now_ms()
            self._wake.set()

    async def _run(self, ws: ClientConnection) -> None:
        self._t0 = time.monotonic()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._receive(ws))
                await self._pump(ws)
        finally:
            # The pump closes the socket when the call ends; this covers a pump that failed instead.
            await ws.close()
        self._finish(ws)

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            while True:
                data = await ws.recv()
                self._on_frame(data, self.now_ms())
        except ConnectionClosed:
            self._end("server")

    def _on_frame(self, data: str | bytes, now: float) -> None:
        event: str | None = None
        if isinstance(data, bytes):
            self._errors.append(f"{now:.1f} ms: a binary frame ({len(data)} bytes); Twilio takes JSON text frames")
        else:
            try:
                command = parse_app_message(data, self.ids.stream_sid)
            except ProtocolError as exc:
                self._errors.append(f"{now:.1f} ms: {exc}")
            else:
                event = self._apply(command, now)
        self._received.append(ReceivedMessage(now, data, event))
        self._wake.set()
        self._notify()

    def _apply(self, command: AppMessage, now: float) -> str:
        if isinstance(command, AppMedia):
            self._playback.receive_media(command.payload, now)
            return "media"
        if isinstance(command, AppMark):
            self._playback.receive_mark(command.name, now)
            return "mark"
        self._playback.receive_clear(now)
        self._clears.append(now)
        return "clear"

    async def _pump(self, ws: ClientConnection) -> None:
        try:
            await ws.send(self._stream.connected(), text=True)
            await ws.send(self._stream.start(), text=True)
            while not self._ended():
                due = await self._until_next_event()
                if self._ended():  # the server hung up while we waited
                    break
                now = max(self.now_ms(), due)
                await self._play(ws, now)
                while FRAME_MS * (self._stream.chunks + 1) <= now:
                    await ws.send(self._stream.media(self._next_frame()), text=True)
                while self._dtmf_due and self._dtmf_due[0][1] <= now:
                    digit, _ = self._dtmf_due.pop(0)
                    await ws.send(self._stream.dtmf(digit), text=True)
                    self._dtmf_sent.append((digit, now))
                if self._hangup_requested:
                    self._end("hangup")
                elif self._end_ms is not None and now >= self._end_ms:
                    self._end("seconds")
                self._notify()
            if self._end_reason != "server":
                await ws.send(self._stream.stop(), text=True)
                await ws.close()  # ends the receiver too
        except ConnectionClosed:
            self._end("server")

    def _next_due_ms(self) -> float:
        due = FRAME_MS * (self._stream.chunks + 1.0)
        echo = self._playback.next_echo_ms()
        if echo is not None:
            due = min(due, echo)
        if self._dtmf_due:
            due = min(due, self._dtmf_due[0][1])
        if self._end_ms is not None:
            due = min(due, self._end_ms)
        return due

    async def _until_next_event(self) -> float:
        """Wait for the next due event or a wake-up; returns the simulated time known to have come.

        That is the due time when the wait ran out: an event loop's timers are only so precise
        (uvloop's fire up to a millisecond early), and waiting again for the rest would spin.
        """
        if self.fast:
            # One turn of the event loop, so the server and our receiver run between simulated steps.
            await asyncio.sleep(0)
            if not self._hangup_requested:
                self._sim_ms = max(self._sim_ms, self._next_due_ms())
            return self._sim_ms
        due_ms = self._next_due_ms()
        delay = (due_ms - self.now_ms()) / 1000.0
        reached = 0.0
        if not self._wake.is_set() and not self._hangup_requested and delay > 0:
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                reached = due_ms
        self._wake.clear()
        return reached

    async def _play(self, ws: ClientConnection, now: float) -> None:
        playout = self._playback.advance(now)
        self._heard += playout.audio
        for mark in playout.marks:
            await ws.send(self._stream.mark(mark.name), text=True)
            self._marks.append(EchoedMark(mark.name, now))

    def _next_frame(self) -> bytes:
        offset = self._stream.chunks * FRAME_BYTES
        frame = self._audio[offset : offset + FRAME_BYTES]
        if len(frame) < FRAME_BYTES:
            frame += _SILENCE_FRAME[len(frame) :]
        return frame

    def _finish(self, ws: ClientConnection) -> None:
        playout = self._playback.advance(self._ended_ms)
        self._heard += playout.audio
        assert self._end_reason is not None
        self._result = CallResult(
            ids=self.ids,
            ended_by=self._end_reason,
            duration_ms=self._ended_ms,
            heard=bytes(self._heard),
            bytes_heard=self._playback.played_bytes,
            bytes_dropped=self._playback.dropped_bytes,
            marks=tuple(self._marks),
            pending_marks=tuple(mark.name for mark in playout.marks) + self._playback.pending_marks,
            clears=tuple(self._clears),
            dtmf=tuple(self._dtmf_sent),
            frames_sent=self._stream.chunks,
            received=tuple(self._received),
            protocol_errors=tuple(self._errors),
            close_code=ws.close_code,
            close_reason=ws.close_reason or "",
        )
