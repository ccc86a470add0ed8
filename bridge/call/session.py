"""CallSession: one phone call's decisions, sans-I/O.

Fed telephony events (the caller's leg), Realtime server events (the model's leg), tool results and
the time; drained of actions (``call/actions.py``). It owns the playback ledger and so barge-in,
the greeting, timers (idle, max duration, session renewal), DTMF, and the record of the call (timeline
notes, transcript). Its helpers write to the same :class:`~bridge.call.outbox.Outbox`: the caller's audio
goes upstream through an :class:`~bridge.call.uplink.Uplink`, and tool calls, response pacing and the end
of the call are a :class:`~bridge.call.tooling.Tooling`'s. It never reads a clock and never awaits: time
is an argument in milliseconds on the runner's monotonic clock.

A session may start without its :class:`~bridge.call.config.CallConfig`: the runner dials the upstream as
soon as the caller's socket opens, but the dialplan (and so the configuration) is only known from the
provider's ``start``. Until :meth:`CallSession.configure` the upstream gets no ``session.update`` and
the caller's audio is held.
"""

from __future__ import annotations

import audioop
from dataclasses import replace
from typing import Any

from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.audio.resample import StreamResampler
from bridge.call.actions import Action, ReconnectUpstream, SendToCaller
from bridge.call.config import CallConfig
from bridge.call.outbox import Outbox
from bridge.call.playback import PlaybackLedger
from bridge.call.tooling import ALREADY_ACTIVE, Tooling, server_answers_turns
from bridge.call.transcript import Segment, Transcript, heard_words
from bridge.call.uplink import PCM16_BYTES_PER_MS, ULAW_BYTES_PER_MS, Uplink
from bridge.realtime.events import (
    ConversationItemCreate,
    ConversationItemTruncate,
    ErrorEvent,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioTranscriptionCompleted,
    ResponseCancel,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
)
from bridge.realtime.session import build_session_update
from bridge.telephony.events import (
    AudioReceived,
    CallStarted,
    CallStopped,
    ClearPlayback,
    DtmfReceived,
    MarkPlayed,
    PlayAudio,
    SetMark,
    TelephonyEvent,
)
from bridge.tools.base import ToolResult

__all__ = ["CallSession"]

# A timer that came due but waits on a condition (a quiet moment for renewal, audio still playing
# before an idle hang-up) is looked at again after this long, not in a busy loop.
_RECHECK_MS = 20.0
# A session.update the server neither confirms nor rejects within this long leaves the call silent: end it.


class CallSession:
    """The state of one call. Feed it with the ``receive_*`` methods and ``tick``; drain ``actions()``."""

    def __init__(self, config: CallConfig | None, *, now: float, epoch_offset_ms: float | None = None) -> None:
        """``now`` is the call's start; ``epoch_offset_ms`` maps the runner's clock to Unix time (``now + offset``)
        so the upstream's ``expires_at`` can schedule renewal; without it the configured session length is used.

        ``config`` None: the configuration comes later, from :meth:`configure`; until then the timers run
        on ``CallConfig()``'s defaults."""
        self.configured = config is not None
        config = config if config is not None else CallConfig()
        self.config = config
        self.started_at = now
        self.call: CallStarted | None = None
        self.ledger = PlaybackLedger(ULAW_BYTES_PER_MS)
        self.transcript = Transcript()
        self._epoch_offset_ms = epoch_offset_ms
        self._out = Outbox(now)
        self._tooling = Tooling(config, self._out, self.ledger, self.transcript, self._play)
        pcm16 = config.session.audio_mode == "pcm16"
        self._uplink = Uplink(self._out, pcm16=pcm16, max_held_ms=config.max_buffered_input_ms)
        self._downsampler = StreamResampler(24000, 8000) if pcm16 else None
        # Upstream session state.
        self._upstream_ready = False
        self._upstream_sessions = 0
        self._session_opened_at = now
        # The open upstream session still needs its session.update: it waits for the call's configuration
        # and, for a session dialled with the connector's default model, for session.created to name it.
        self._update_due = False
        self._ready_deadline: float | None = None  # the session.update went out; session.updated is due by then
        self._model_unknown = False
        self._upstream_model: str | None = None  # the model the open upstream session reports
        self._model_redialled = False
        self._renew_at: float | None = None
        self._reconnecting: str | None = None  # why we closed the upstream ourselves (renew, model)
        self._retries_left = config.upstream_retries
        self._retry_deadline: float | None = None
        self._greeted = False
        self._held_items: list[dict[str, Any]] = []  # key presses for the model, until a session is ready
        # Items the caller talked over.
        self._muted_items: set[str] = set()
        self._muted_response: str | None = None
        self._item_audio_ms: dict[str, float] = {}
        # Timers and turn bookkeeping.
        self._last_activity = now
        self._caller_speaking = False
        # The caller's turn ended and the server answers turns by itself: its response is on the way.
        self._reply_due = False
        self._turn_end_at: float | None = None
        self._last_tick: float | None = None
        # Counters for the archive and metrics.
        self.frames_in = 0
        self.frames_out = 0
        self.barge_ins = 0
        self.truncations = 0
        self.usage: dict[str, int] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}

    # -- draining --------------------------------------------------------------------------------

    def actions(self) -> list[Action]:
        """Everything decided since the last call, in order."""
        return self._out.drain()

    @property
    def end_reason(self) -> str | None:
        """Why the call ended (None while it goes on)."""
        return self._out.end_reason

    @property
    def ended(self) -> bool:
        return self._out.ended

    def next_deadline(self) -> float | None:
        """The earliest time ``tick`` has something to do (None: nothing scheduled)."""
        if self.ended:
            return None
        candidates = [
            self.started_at + self.config.max_call_s * 1000,
            self._last_activity + self.config.idle_s * 1000,
        ]
        timers = (
            self._renew_at,
            self._retry_deadline,
            self._ready_deadline,
            self._tooling.end_deadline,
            self._tooling.hold_until,
        )
        for t in timers:
            if t is not None:
                candidates.append(t)
        earliest = min(candidates)
        if self._last_tick is not None and earliest <= self._last_tick:
            # Already due at the last tick, so it is waiting on a condition: look again shortly.
            return self._last_tick + _RECHECK_MS
        return earliest

    # -- the caller's leg ------------------------------------------------------------------------

    def receive_telephony(self, event: TelephonyEvent, now: float) -> None:
        if self.ended:
            return
        if isinstance(event, AudioReceived):
            self._caller_audio(event.payload, now)
        elif isinstance(event, MarkPlayed):
            if self.ledger.mark_played(event.name, now):
                self._last_activity = now
                self._tooling.maybe_finish(now)
        elif isinstance(event, DtmfReceived):
            self._dtmf(event.digit, now)
        elif isinstance(event, CallStarted):
            self.call = event
            self._out.note(
                "session", now, {"event": "call_started", "call_id": event.call_id, "stream": event.stream_id}
            )
        elif isinstance(event, CallStopped):
            self._out.end(event.reason if event.reason != "stopped" else "caller_hangup", now)

    def _caller_audio(self, payload: bytes, now: float) -> None:
        self.frames_in += 1
        pcm = ulaw_to_pcm16(payload)
        if audioop.rms(pcm, 2) >= self.config.caller_energy_rms:
            self._last_activity = now
        self._uplink.caller_audio(payload, pcm, now, ready=self._upstream_ready)

    def _dtmf(self, digit: str, now: float) -> None:
        self._last_activity = now
        self._out.note("dtmf", now, {"digit": digit})
        tool = self.config.dtmf_tools.get(digit)
        if tool is not None:
            self._tooling.run_dtmf_tool(tool)
            return
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": f"[caller pressed {digit}]"}],
        }
        if self._upstream_ready:
            self._out.send(ConversationItemCreate(item=item))
        else:
            self._held_items.append(item)
        self._tooling.request_response(self._upstream_ready)

    # -- the model's leg -------------------------------------------------------------------------

    def configure(self, config: CallConfig, now: float) -> None:
        """The call's configuration, once known (the provider's ``start`` names the dialplan).

        An upstream session already open gets its ``session.update`` now (see :meth:`upstream_opened`
        for one whose model is not known yet). Caller audio held meanwhile goes up once it is ready.

        Raises:
            RuntimeError: the session was configured already.
        """
        if self.configured:
            raise RuntimeError("the call is configured already")
        self.configured = True
        # Retries used before the configuration was known (a failed first dial) count against its number.
        used = self.config.upstream_retries - self._retries_left
        self.config = config
        self._tooling.config = config
        pcm16 = config.session.audio_mode == "pcm16"
        self._uplink.set_format(pcm16=pcm16)
        self._downsampler = StreamResampler(24000, 8000) if pcm16 else None
        self._retries_left = max(0, config.upstream_retries - used)
        if self.ended:
            return
        self._out.note("session", now, {"event": "configured", "dialplan": config.dialplan})
        self._update_upstream(now)

    def upstream_opened(self, now: float, *, default_model: bool = False) -> None:
        """A new upstream session is connected: configure it (renewals carry the conversation so far).

        ``default_model``: it was dialled before the call's model was known, with the connector's default
        model. Its ``session.update`` then waits for ``session.created``, which names the model; a session
        of another model than the call's is replaced by one of the right model (once per call).
        """
        self._upstream_sessions += 1
        self._session_opened_at = now
        self._upstream_ready = False
        self._upstream_model = None
        self._tooling.upstream_opened()
        self._reply_due = False
        self._uplink.new_session()
        self._retry_deadline = None
        self._ready_deadline = None
        self._renew_at = now + max(0.0, self.config.upstream_session_s - self.config.renew_margin_s) * 1000
        self._update_due = True
        self._model_unknown = default_model
        self._update_upstream(now)
        self._out.note("session", now, {"event": "upstream_opened", "n": self._upstream_sessions})

    def _update_upstream(self, now: float) -> None:
        """Send the open upstream session its ``session.update`` once everything it needs is known."""
        if not self._update_due or not self.configured or self._model_unknown or self._redial_for_model(now):
            return
        self._update_due = False
        self._ready_deadline = now + self.config.upstream_ready_timeout_s * 1000
        self._send_session_update()

    def _send_session_update(self) -> None:
        settings = self.config.session
        if self._upstream_sessions > 1:
            summary = self.transcript.summary()
            if summary:
                extra = (
                    "\n\nThis phone call is already in progress; do not greet the caller again. "
                    f"The conversation so far:\n{summary}"
                )
                settings = replace(settings, instructions=settings.instructions + extra)
        self._out.send(build_session_update(settings, self.config.dialect))

    def _redial_for_model(self, now: float) -> bool:
        """Replace the upstream session if it runs another model than the call's (once per call)."""
        wanted = self.config.session.model
        model = self._upstream_model
        if not self.configured or model is None or model == wanted or self._model_redialled:
            return False
        self._model_redialled = True
        self._update_due = False
        self._upstream_ready = False
        self._reconnecting = "model"
        self._out.note("session", now, {"event": "redial", "model": wanted, "upstream_model": model})
        self._out.emit(ReconnectUpstream("model"))
        return True

    def upstream_closed(self, now: float, detail: str) -> None:
        """The upstream session went away. Renewals reconnect at once; drops are retried once, quickly."""
        if self.ended:
            return
        self._upstream_ready = False
        self._update_due = False
        self._ready_deadline = None
        if self._reconnecting is not None:
            reason, self._reconnecting = self._reconnecting, None
            self._out.emit(ReconnectUpstream(reason))
            return
        self._out.note("error", now, {"source": "upstream", "detail": detail})
        if not self._retry(now):
            self._out.end("upstream_lost", now)

    def upstream_failed(self, now: float, detail: str) -> None:
        """A (re)connection attempt failed: it is retried (within the retry window) while retries are left,
        then the call ends."""
        if self.ended:
            return
        self._out.note("error", now, {"source": "upstream", "detail": detail})
        if not self._retry(now):
            self._out.end("upstream_unavailable", now)

    def _retry(self, now: float) -> bool:
        """Use a retry to connect again, if one is left."""
        if self._retries_left <= 0:
            return False
        self._retries_left -= 1
        self._retry_deadline = now + self.config.retry_window_s * 1000
        self._out.emit(ReconnectUpstream("retry"))
        return True

    def receive_realtime(self, event: ServerEvent, now: float) -> None:
        if self.ended:
            return
        if isinstance(event, ResponseOutputAudioDelta):
            self._agent_audio(event, now)
        elif isinstance(event, InputAudioBufferSpeechStarted):
            self._speech_started(now)
        elif isinstance(event, InputAudioBufferSpeechStopped):
            self._caller_speaking = False
            self._reply_due = server_answers_turns(self.config)
            self._turn_end_at = self._uplink.time_of(event.audio_end_ms, now)
            self._out.note("turn", now, {"event": "speech_stopped", "audio_end_ms": event.audio_end_ms})
        elif isinstance(event, ResponseCreated):
            self._tooling.response_created(_response_id(event.response))
            self._reply_due = False
        elif isinstance(event, ResponseDone):
            self._response_done(event.response, now)
        elif isinstance(event, ResponseFunctionCallArgumentsDone):
            self._tooling.function_call_done(event)
        elif isinstance(event, ResponseOutputAudioTranscriptDone):
            seg = self.transcript.segment("agent", event.item_id, self._out.ms(now))
            self._agent_text(seg, event.transcript)
        elif isinstance(event, InputAudioTranscriptionCompleted):
            seg = self.transcript.segment("caller", event.item_id, self._out.ms(now))
            seg.text = event.transcript.strip()
            self._out.note("transcript", now, {"speaker": "caller", "item_id": event.item_id, "text": seg.text})
        elif isinstance(event, SessionCreated):
            self._session_created(event.session, now)
        elif isinstance(event, SessionUpdated):
            self._session_updated(now)
        elif isinstance(event, ErrorEvent):
            self._error(event, now)

    def _error(self, event: ErrorEvent, now: float) -> None:
        self._out.note(
            "error",
            now,
            {"source": "realtime", "code": event.code, "type": event.type, "message": event.message},
        )
        if self._ready_deadline is not None:
            # The bridge sends nothing else before session.updated, so this rejects the session.update:
            # the session will never be configured.
            self._out.end(f"upstream_rejected:{event.code or event.type or 'unknown'}"[:64], now)
        elif event.code == ALREADY_ACTIVE:
            self._tooling.create_rejected()

    def _session_created(self, session: dict[str, Any], now: float) -> None:
        expires_at = session.get("expires_at")
        if self._epoch_offset_ms is not None and isinstance(expires_at, int | float) and expires_at > 0:
            expires_local = expires_at * 1000 - self._epoch_offset_ms
            self._renew_at = expires_local - self.config.renew_margin_s * 1000
        model = session.get("model")
        self._upstream_model = model if isinstance(model, str) else None
        self._model_unknown = False
        if self._update_due:
            self._update_upstream(now)
        else:
            self._redial_for_model(now)

    def _session_updated(self, now: float) -> None:
        if self._upstream_ready:
            return
        self._upstream_ready = True
        self._ready_deadline = None
        self._retries_left = self.config.upstream_retries
        self._uplink.flush(now)
        for item in self._held_items:
            self._out.send(ConversationItemCreate(item=item))
        self._held_items.clear()
        self._out.note("session", now, {"event": "ready", "n": self._upstream_sessions})
        greeting = None if self._greeted else self.config.greeting
        self._greeted = True
        if greeting:
            # A response wanted meanwhile (after a key press) follows the greeting's.
            self._tooling.say(greeting)
        self._tooling.upstream_ready()

    def _agent_audio(self, event: ResponseOutputAudioDelta, now: float) -> None:
        item_id = event.item_id
        if item_id in self._muted_items or (
            event.response_id is not None and event.response_id == self._muted_response
        ):
            return
        audio = event.delta
        if self._downsampler is not None:
            self._item_audio_ms[item_id] = self._item_audio_ms.get(item_id, 0.0) + len(audio) / PCM16_BYTES_PER_MS
            audio = pcm16_to_ulaw(self._downsampler.process(audio))
        else:
            self._item_audio_ms[item_id] = self._item_audio_ms.get(item_id, 0.0) + len(audio) / ULAW_BYTES_PER_MS
        if not audio:
            return
        if self._turn_end_at is not None:
            self._out.note("latency", now, {"ms": round(now - self._turn_end_at, 1)})
            self._turn_end_at = None
        seg = self.transcript.segment("agent", item_id, self._out.ms(now))
        seg.end_ms = self._out.ms(now)
        self._play(item_id, audio, now)

    def _play(self, item_id: str, audio: bytes, now: float) -> None:
        self.frames_out += 1
        self._last_activity = now
        mark = self.ledger.sent(item_id, len(audio), now)
        self._out.emit(SendToCaller(PlayAudio(audio)))
        self._out.emit(SendToCaller(SetMark(mark)))

    def _speech_started(self, now: float) -> None:
        self._caller_speaking = True
        self._last_activity = now
        self._tooling.hold_until = None
        self._out.note("turn", now, {"event": "speech_started"})
        if not self.config.barge_in or not self.ledger.has_unheard(now):
            return
        cut = self.ledger.cut(now)
        if cut is None:
            return
        self.barge_ins += 1
        self._out.emit(SendToCaller(ClearPlayback()))
        if self._downsampler is not None:
            self._downsampler.reset()
        truncated = []
        for item_id, end_ms in ((cut.item_id, cut.audio_end_ms), *((i, 0) for i in cut.unheard_items)):
            self._muted_items.add(item_id)
            if item_id.startswith("~"):
                continue
            self._out.send(ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=end_ms))
            self.truncations += 1
            truncated.append({"item_id": item_id, "audio_end_ms": end_ms})
            self._mark_cut(item_id, end_ms)
        if self._tooling.active_response is not None:
            self._muted_response = self._tooling.active_response
            if not self._server_interrupts:
                # With interrupt_response the server cancels the response itself on speech_started;
                # a second cancel would only earn a response_cancel_not_active error.
                self._out.send(ResponseCancel())
        self._tooling.caller_interrupted(self._muted_items, now)
        self._out.note("barge_in", now, {"truncated": truncated})

    @property
    def _server_interrupts(self) -> bool:
        """True when server VAD cancels the active response on speech_started by itself."""
        detection = self.config.session.turn_detection
        return bool(detection and detection.get("interrupt_response", True))

    def _mark_cut(self, item_id: str, heard_ms: int) -> None:
        seg = self.transcript.get(item_id)
        if seg is None:
            return
        seg.cut = True
        seg.heard_ms = heard_ms
        seg.end_ms = seg.start_ms + heard_ms
        self._agent_text(seg, seg.text)

    def _agent_text(self, seg: Segment, text: str) -> None:
        """Set an agent segment's text; for a cut reply also what the caller heard of it.

        The transcript often arrives after the cut (audio is generated faster than it plays), so what
        was heard is worked out again whenever the text is set."""
        seg.text = text
        if seg.heard_ms is not None:
            total = int(self._item_audio_ms.get(seg.item_id, 0.0))
            seg.heard_text = heard_words(text, seg.heard_ms, total)

    def _response_done(self, response: dict[str, Any], now: float) -> None:
        response_id = _response_id(response)
        if response_id == self._muted_response:
            self._muted_response = None
        usage = response.get("usage")
        if isinstance(usage, dict):
            for key in self.usage:
                value = usage.get(key)
                if isinstance(value, int):
                    self.usage[key] += value
        status = response.get("status")
        details = response.get("status_details") or {}
        self._out.note("response", now, {"id": response_id, "status": status, "reason": details.get("reason")})
        for item in response.get("output") or ():
            if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == "assistant":
                self._agent_segment_done(item, now)
        self._tooling.response_done(response_id, response, now)

    def _agent_segment_done(self, item: dict[str, Any], now: float) -> None:
        item_id = item.get("id")
        if not isinstance(item_id, str):
            return
        seg = self.transcript.get(item_id)
        if seg is None:
            return
        if not seg.text:
            for part in item.get("content") or ():
                if isinstance(part, dict) and isinstance(part.get("transcript"), str):
                    self._agent_text(seg, part["transcript"])
        self._out.note(
            "transcript",
            now,
            {
                "speaker": "agent",
                "item_id": item_id,
                "text": seg.text,
                "heard_text": seg.heard_text,
                "cut": seg.cut,
                "start_ms": seg.start_ms,
            },
        )

    # -- tools ---------------------------------------------------------------------------------

    def tool_results(self, results: list[ToolResult], now: float) -> None:
        """Results of one RunTools batch: answer the model together, then carry out the effects."""
        self._tooling.tool_results(results, now, self._upstream_ready)

    # -- timers ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Run whatever timers are due at ``now``."""
        if self.ended:
            return
        self._last_tick = now
        if self._tooling.expire(now):
            return
        if self._retry_deadline is not None and now >= self._retry_deadline:
            self._retry_deadline = None
            if not self._upstream_ready:
                self._out.end("upstream_lost", now)
                return
        if self._ready_deadline is not None and now >= self._ready_deadline:
            self._out.note("error", now, {"source": "upstream", "detail": "no session.updated"})
            self._out.end("upstream_unavailable", now)
            return
        if now - self.started_at >= self.config.max_call_s * 1000:
            self._tooling.polite_end("max_duration", self.config.limit_goodbye, now, self._upstream_ready)
        elif now - self._last_activity >= self.config.idle_s * 1000 and not self.ledger.has_unheard(now):
            self._tooling.polite_end("idle_timeout", self.config.idle_goodbye, now, self._upstream_ready)
        self._tooling.release_hold(now, self._upstream_ready)
        if (
            self._renew_at is not None
            and now >= self._renew_at
            and self._upstream_ready
            and self._reconnecting is None
            and self._is_quiet(now)
        ):
            self._reconnecting = "renew"
            self._renew_at = None
            self._out.note("session", now, {"event": "renewing"})
            self._out.emit(ReconnectUpstream("renew"))

    def _is_quiet(self, now: float) -> bool:
        """A moment to swap upstream sessions without anyone noticing (or the last chance to)."""
        hard_deadline = self._session_opened_at + self.config.upstream_session_s * 1000 - 5000
        if now >= hard_deadline:
            return True
        return (
            not self._tooling.busy
            and not self._caller_speaking
            and not self._reply_due
            and not self.ledger.has_unheard(now)
        )


def _response_id(response: dict[str, Any]) -> str:
    value = response.get("id")
    return value if isinstance(value, str) else ""
