"""CallRunner: the asyncio pumps around one CallSession. The only async module in ``call/``.

One call is one media socket (the caller's leg, Twilio Media Streams) plus one upstream Realtime
transport. Every decision is the session's; this module only moves things:

* the media pump reads the caller's socket, decodes it (``TwilioMediaStream``) and feeds the session;
* the upstream pump reads Realtime events and feeds the session;
* the timer sleeps until ``session.next_deadline()`` and calls ``tick``;
* after each feed the session's actions are carried out, in order, under one lock (whichever pump
  holds it sends everything pending, so the caller and the model see the session's exact order).

Tool runs and upstream (re)connections run as tasks of their own, so neither ever blocks a pump.
The upstream is dialled as soon as the caller's socket is accepted; the call's configuration (and its
tools) is chosen when Twilio's ``start`` arrives (a :data:`CallPlanner` reads its parameters), and the
session holds the ``session.update`` and the caller's audio until then.
The call ends on the session's ``EndCall``: the upstream is closed at once, every task is cancelled
and awaited, and the media socket is closed. Nothing is logged per frame.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from bridge.call.actions import Action, EndCall, Note, ReconnectUpstream, RunTools, SendToCaller, SendUpstream
from bridge.call.config import CallConfig
from bridge.call.recorder import CallEnd, CallRecorder
from bridge.call.session import CallSession
from bridge.errors import BridgeError, ProtocolError, UpstreamError
from bridge.realtime.transport import RealtimeTransport
from bridge.telephony.events import CallStarted, CallStopped, HangUp, Transfer
from bridge.telephony.twilio.protocol import TwilioMediaStream
from bridge.telephony.twilio.rest import TwilioRest
from bridge.tools.base import ToolCall, ToolContext, ToolResult

__all__ = [
    "CallPlanner",
    "CallRunner",
    "CallSetup",
    "MediaSocket",
    "NoteObserver",
    "ToolExecutor",
    "UnknownToolExecutor",
    "UpstreamConnector",
    "error_results",
]

log = logging.getLogger(__name__)
tool_log = logging.getLogger("bridge.tools")

_LOG_EVERY = 100  # a malformed media frame is logged the first time, then once per this many
_DEFAULT_OPEN_TIMEOUT_S = 5.0
_ids = itertools.count(1)


class MediaSocket(Protocol):
    """The caller's leg as the runner needs it (a WebSocket adapter lives in ``web/twilio_routes.py``)."""

    async def receive(self) -> str | bytes | None:
        """The next frame, or None once the socket has closed."""
        ...

    async def send(self, text: str) -> None:
        """Send a text frame; a socket that has closed drops it silently (its receive says so)."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent)."""
        ...


UpstreamConnector = Callable[[float, str | None], Awaitable[RealtimeTransport]]
"""``(open_timeout, model)``: opens a new upstream session for ``model`` within the timeout (seconds);
raises UpstreamError (or ConfigError). ``model`` is None while the call's configuration is not known
yet (the early dial): the connector's default model."""

NoteObserver = Callable[[Note], None]
"""Receives every Note of a call (metrics, the archive recorder). It must not block."""


class ToolExecutor(Protocol):
    """Runs a batch of tool calls; every call gets a result (errors and timeouts are results too)."""

    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]: ...


@dataclass(frozen=True, slots=True)
class CallSetup:
    """What one call runs with: its configuration and its tools (None answers every call with an error)."""

    config: CallConfig
    tools: ToolExecutor | None = None


CallPlanner = Callable[[CallStarted], CallSetup]
"""Chooses a call's setup from the provider's ``start`` (its numbers and custom parameters). It must not
block or raise: it runs on the media pump."""


def error_results(calls: Sequence[ToolCall], message: Callable[[ToolCall], str], at_ms: float) -> list[ToolResult]:
    """A failed result for each call, with ``{"error": message(call)}`` as the model's output."""
    return [
        ToolResult(
            call_id=call.call_id,
            name=call.name,
            arguments=call.arguments,
            output=orjson.dumps({"error": message(call)}).decode(),
            status="error",
            started_at_ms=at_ms,
            duration_ms=0.0,
            source=call.source,
        )
        for call in calls
    ]


class UnknownToolExecutor:
    """The executor of a call with no tools: every call is answered ``{"error": "no tool named X"}``.

    ``clock_ms`` gives call-relative milliseconds for the results' ``started_at_ms``.
    """

    def __init__(self, clock_ms: Callable[[], float]) -> None:
        self._clock_ms = clock_ms

    async def run(self, calls: Sequence[ToolCall], context: ToolContext) -> list[ToolResult]:
        return error_results(calls, lambda call: f"no tool named {call.name}", self._clock_ms())


class CallRunner:
    """Relays one call between ``media`` and an upstream Realtime session until the call ends.

    Create it inside the event loop, then ``await run()``.

    Args:
        media: the caller's socket, already accepted.
        config: the call's behaviour, or a planner that chooses it (with its tools) when ``start``
            arrives. Either way the session is configured at ``start``.
        connect_upstream: opens upstream sessions (first one at once, later ones on renewal/retry).
        tools: runs the model's (and DTMF's) tool calls for a fixed ``config``; None answers each with
            an error. A planner's setups carry their own (giving both is a TypeError).
        twilio: REST client for hang-up and transfer; None closes the media socket instead.
        on_note: observers of the session's notes, called in order.
        recorder: archives the call (and records it); fed the caller's frames, the audio and ``clear``
            sent to the caller and every note, and finished when the call ends.
        open_timeout: seconds allowed to open an upstream session (a retry gets at most the
            session's retry window).
    """

    def __init__(
        self,
        media: MediaSocket,
        config: CallConfig | CallPlanner,
        connect_upstream: UpstreamConnector,
        *,
        tools: ToolExecutor | None = None,
        twilio: TwilioRest | None = None,
        on_note: Sequence[NoteObserver] = (),
        recorder: CallRecorder | None = None,
        open_timeout: float = _DEFAULT_OPEN_TIMEOUT_S,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        now = self._now()
        self.number = next(_ids)
        self.session = CallSession(None, now=now, epoch_offset_ms=time.time() * 1000.0 - now)
        if isinstance(config, CallConfig):
            setup = CallSetup(config, tools)
            self._plan: CallPlanner = lambda call: setup
        elif tools is not None:
            raise TypeError("a planner's setups carry their tools: pass tools=None with a planner")
        else:
            self._plan = config
        self._media = media
        self._stream = TwilioMediaStream()
        self._connect_upstream = connect_upstream
        self._tools: ToolExecutor = UnknownToolExecutor(self._call_ms)
        self._twilio = twilio
        self._observers = (*on_note, recorder.observe) if recorder is not None else tuple(on_note)
        self._recorder = recorder
        self._open_timeout = open_timeout
        self._transport: RealtimeTransport | None = None
        self._connecting = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # replaced transports being closed
        self._lock = asyncio.Lock()
        self._ended = asyncio.Event()
        self._wake = asyncio.Event()
        self._armed: float | None = None
        self._send_errors = 0
        # Counters read by metrics.
        self.malformed_frames = 0
        self.upstream_errors: Counter[str] = Counter()

    # -- identity and clock --------------------------------------------------------------------

    @property
    def call_id(self) -> str:
        """The provider's call id once ``start`` arrived, else a process-local number."""
        call = self.session.call
        return call.call_id if call is not None else f"#{self.number}"

    def _now(self) -> float:
        return self._loop.time() * 1000.0

    def _call_ms(self) -> float:
        return self._now() - self.session.started_at

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> str:
        """Relay the call until it ends; returns the end reason."""
        if self._recorder is not None:
            self._recorder.start(self.session)
        # The upstream is dialled before Twilio's ``start`` arrives: the handshake is most of the latency.
        self._connecting = True
        self._spawn(self._connect(self._open_timeout), "connect")
        self._spawn(self._timer(), "timer")
        self._spawn(self._media_pump(), "media")
        try:
            await self._ended.wait()
        finally:
            await self._shutdown()
        return self.session.end_reason or "error"

    async def end(self, reason: str) -> None:
        """End the call from outside (``shutdown``): both legs close as for any other ending.

        It does not wait for the actions being carried out (a send may be stuck on a dead socket):
        ``run`` cancels the pumps, and the end note reaches the observers from there."""
        if not self.session.ended:
            self.session.receive_telephony(CallStopped(reason), self._now())
        self._ended.set()

    def _spawn(self, coro: Coroutine[Any, Any, None], role: str) -> None:
        task = asyncio.create_task(coro, name=f"bridge-call-{self.number}:{role}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("call %s: %s failed", self.call_id, task.get_name(), exc_info=exc)
            if not self.session.ended:
                # A broken pump ends the call like a lost stream; the notes still reach the observers.
                self.session.receive_telephony(CallStopped("error"), self._now())
            self._ended.set()

    async def _shutdown(self) -> None:
        if not self.session.ended:  # run() itself was cancelled
            self.session.receive_telephony(CallStopped("shutdown"), self._now())
        end_ms = self._call_ms()
        try:
            await self._close_legs()
        finally:
            # Also when the shutdown itself is cancelled: the archive gets the end and a closed recording.
            if self._recorder is not None:
                await self._recorder.finish(self._call_end(), end_ms)

    def _call_end(self) -> CallEnd:
        session = self.session
        return CallEnd(
            reason=session.end_reason or "error",
            usage=session.usage,
            barge_ins=session.barge_ins,
            upstream_errors=sum(self.upstream_errors.values()),
        )

    async def _close_legs(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Whatever the session said last (its end note) still reaches the observers; sends are moot.
        for action in self.session.actions():
            if isinstance(action, Note):
                self._observe(action)
        # Both legs close together: the upstream's closing handshake must not hold up the caller's.
        closing = [*self._closing, self._media.close(1000)]
        transport, self._transport = self._transport, None
        if transport is not None:
            closing.append(_close_quietly(transport))
        await asyncio.gather(*closing, return_exceptions=True)

    # -- pumps ---------------------------------------------------------------------------------

    async def _media_pump(self) -> None:
        session = self.session
        receive = self._media.receive
        decode = self._stream.receive
        recorder = self._recorder
        while True:
            data = await receive()
            now = self._now()
            if data is None:
                # The socket closed without Twilio's ``stop``: the caller's leg is gone.
                session.receive_telephony(CallStopped("media_lost"), now)
                await self._flush()
                return
            try:
                events = decode(data)
            except ProtocolError as exc:
                self.malformed_frames += 1
                if self.malformed_frames % _LOG_EVERY == 1:
                    log.warning(
                        "call %s: malformed media frame (%d so far): %s", self.call_id, self.malformed_frames, exc
                    )
                continue
            for event in events:
                session.receive_telephony(event, now)
                if isinstance(event, CallStarted) and not session.configured:
                    self._configure(event, now)
                if recorder is not None:
                    recorder.receive_telephony(event, now - session.started_at)
            await self._flush()

    def _configure(self, call: CallStarted, now: float) -> None:
        setup = self._plan(call)
        if setup.tools is not None:
            self._tools = setup.tools
        self.session.configure(setup.config, now)

    async def _upstream_pump(self, transport: RealtimeTransport) -> None:
        try:
            async for event in transport.events():
                if transport is not self._transport:
                    return  # replaced (renewal): its late events belong to no one
                self.session.receive_realtime(event, self._now())
                await self._flush()
            return  # closed by us
        except UpstreamError as exc:
            error = exc
        if transport is not self._transport:
            return
        self._transport = None
        self._count_upstream_error(error)
        log.info("call %s: upstream lost: %s", self.call_id, error)
        self.session.upstream_closed(self._now(), str(error))
        await self._flush()

    async def _timer(self) -> None:
        session = self.session
        while True:
            self._wake.clear()
            deadline = session.next_deadline()
            self._armed = deadline
            if deadline is None:
                await self._wake.wait()
                continue
            delay = (deadline - self._now()) / 1000.0
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                    continue  # woken early: the deadline may have moved
                except TimeoutError:
                    pass
            # The deadline has come even if the clock reads a little less: uvloop's timers and clock
            # have millisecond precision, and waiting again for the remainder would spin.
            session.tick(max(self._now(), deadline))
            await self._flush()

    async def _connect(self, open_timeout: float) -> None:
        session = self.session
        model = session.config.session.model if session.configured else None
        try:
            transport = await self._connect_upstream(open_timeout, model)
        except BridgeError as exc:
            self._connecting = False
            self._count_upstream_error(exc)
            log.warning("call %s: cannot open the upstream session: %s", self.call_id, exc)
            self.session.upstream_failed(self._now(), str(exc))
            await self._flush()
            return
        self._connecting = False
        self._transport = transport
        self.session.upstream_opened(self._now(), default_model=model is None)
        self._spawn(self._upstream_pump(transport), "upstream")
        await self._flush()

    async def _run_tools(self, calls: Sequence[ToolCall]) -> None:
        call = self.session.call
        context = ToolContext(
            call_id=self.call_id,
            from_number=call.from_number if call is not None else "",
            to_number=call.to_number if call is not None else "",
            dialplan=self.session.config.dialplan,
            logger=tool_log,
        )
        try:
            results = await self._tools.run(calls, context)
        except Exception as exc:  # an executor must not raise; if one does, the model still gets answers
            log.exception("call %s: the tool executor failed", self.call_id)
            failure = f"tool failure: {type(exc).__name__}"
            results = error_results(calls, lambda _: failure, self._call_ms())
        self.session.tool_results(results, self._now())
        await self._flush()

    # -- carrying out actions ------------------------------------------------------------------

    async def _flush(self) -> None:
        """Carry out every pending action in the session's order, then re-arm the timer if needed."""
        async with self._lock:
            while actions := self.session.actions():
                for action in actions:
                    await self._do(action)
        deadline = self.session.next_deadline()
        if deadline is not None and (self._armed is None or deadline < self._armed):
            self._wake.set()

    async def _do(self, action: Action) -> None:
        if isinstance(action, SendToCaller):
            command = action.command
            if isinstance(command, HangUp | Transfer):
                await self._call_control(command)
                return
            try:
                text = self._stream.send(command)
            except ProtocolError as exc:
                self._send_errors += 1
                if self._send_errors % _LOG_EVERY == 1:
                    log.warning("call %s: cannot send to the caller: %s", self.call_id, exc)
                return
            if text is not None:
                if self._recorder is not None:
                    self._recorder.sent_to_caller(command, self._call_ms())
                await self._media.send(text)
        elif isinstance(action, SendUpstream):
            transport = self._transport
            if transport is None:
                return  # between sessions: the session holds caller audio itself
            try:
                await transport.send(action.event)
            except UpstreamError:
                pass  # the upstream pump sees the close and tells the session
        elif isinstance(action, Note):
            self._observe(action)
        elif isinstance(action, RunTools):
            self._spawn(self._run_tools(action.calls), "tools")
        elif isinstance(action, ReconnectUpstream):
            self._reconnect(action.reason)
        elif isinstance(action, EndCall):
            self._ended.set()

    def _reconnect(self, reason: str) -> None:
        if self._connecting:
            return
        transport = self._transport
        if transport is not None:
            # Closing a live session is reported like any other close; the session then asks to connect.
            self._transport = None
            closing = asyncio.create_task(_close_quietly(transport), name=f"bridge-call-{self.number}:close")
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            self.session.upstream_closed(self._now(), f"closed for {reason}")
            return
        timeout = self._open_timeout
        if reason == "retry":
            timeout = min(timeout, self.session.config.retry_window_s)
        self._connecting = True
        self._spawn(self._connect(timeout), "connect")

    async def _call_control(self, command: HangUp | Transfer) -> None:
        call = self.session.call
        if self._twilio is None or call is None:
            if isinstance(command, Transfer):
                log.warning("call %s: cannot transfer to %s without Twilio credentials", self.call_id, command.to)
            return  # the session's EndCall follows: closing the media socket ends the stream
        try:
            if isinstance(command, HangUp):
                await self._twilio.hang_up(call.call_id)
            else:
                await self._twilio.transfer(call.call_id, command.to)
        except UpstreamError as exc:
            self._count_upstream_error(exc)
            log.warning("call %s: Twilio REST failed: %s", self.call_id, exc)

    def _observe(self, note: Note) -> None:
        if note.kind == "error" and note.data.get("source") == "realtime":
            self.upstream_errors[str(note.data.get("code") or note.data.get("type") or "unknown")] += 1
        for observer in self._observers:
            try:
                observer(note)
            except Exception:
                log.exception("call %s: a note observer failed", self.call_id)

    def _count_upstream_error(self, exc: BridgeError) -> None:
        if isinstance(exc, UpstreamError):
            label = exc.code or (str(exc.status) if exc.status is not None else "unreachable")
        else:
            label = "config"
        self.upstream_errors[label] += 1


async def _close_quietly(transport: RealtimeTransport) -> None:
    try:
        await transport.close()
    except (BridgeError, OSError):
        pass
