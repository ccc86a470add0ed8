"""CallSession: one phone call's decisions, sans-I/O.

Fed telephony events (the caller's leg), Realtime server events (the model's leg), tool results and
the time; drained of actions (``call/actions.py``). It owns the playback ledger and so barge-in,
the greeting, tool-call orchestration, timers (idle, max duration, session renewal), DTMF, and the
record of the call (timeline notes, transcript). It never reads a clock and never awaits: time is
an argument in milliseconds on the runner's monotonic clock.
"""

from __future__ import annotations

import audioop
from collections import deque
from dataclasses import replace
from typing import Any

from bridge.audio.dtmf import dtmf_ulaw
from bridge.audio.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from bridge.audio.resample import StreamResampler
from bridge.call.actions import Action, EndCall, Note, ReconnectUpstream, RunTools, SendToCaller, SendUpstream
from bridge.call.config import CallConfig
from bridge.call.playback import PlaybackLedger
from bridge.call.transcript import Transcript, heard_words
from bridge.realtime.events import (
    ConversationItemCreate,
    ConversationItemTruncate,
    ErrorEvent,
    InputAudioBufferAppend,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioTranscriptionCompleted,
    ResponseCancel,
    ResponseCreate,
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
    HangUp,
    MarkPlayed,
    PlayAudio,
    SetMark,
    TelephonyEvent,
    Transfer,
)
from bridge.tools.base import HangupEffect, SendDtmfEffect, ToolCall, ToolResult, TransferEffect, WaitEffect

__all__ = ["CallSession"]


_DTMF_ITEM = "~dtmf"  # playback that belongs to no model item: never truncated
_ULAW_BYTES_PER_MS = 8
# A timer that came due but waits on a condition (a quiet moment for renewal, audio still playing
# before an idle hang-up) is looked at again after this long, not in a busy loop.
_RECHECK_MS = 20.0


def say_exactly(text: str) -> ResponseCreate:
    """A response that speaks ``text`` verbatim (greetings, goodbyes, transfer announcements)."""
    quoted = text.replace('"', "'")
    return ResponseCreate(response={"instructions": f'Say exactly the following, and nothing else: "{quoted}"'})


class CallSession:
    """The state of one call. Feed it with the ``receive_*`` methods and ``tick``; drain ``actions()``."""

    def __init__(self, config: CallConfig, *, now: float, epoch_offset_ms: float | None = None) -> None:
        """``now`` is the call's start; ``epoch_offset_ms`` maps the runner's clock to Unix time (``now + offset``)
        so the upstream's ``expires_at`` can schedule renewal; without it the configured session length is used."""
        self.config = config
        self.started_at = now
        self.call: CallStarted | None = None
        self.ledger = PlaybackLedger(_ULAW_BYTES_PER_MS)
        self.transcript = Transcript()
        self.end_reason: str | None = None
        self._epoch_offset_ms = epoch_offset_ms
        self._actions: list[Action] = []
        pcm16 = config.session.audio_mode == "pcm16"
        self._upsampler = StreamResampler(8000, 24000) if pcm16 else None
        self._downsampler = StreamResampler(24000, 8000) if pcm16 else None
        # Upstream session state.
        self._upstream_ready = False
        self._upstream_sessions = 0
        self._session_opened_at = now
        self._renew_at: float | None = None
        self._renewing = False
        self._retries_left = config.upstream_retries
        self._retry_deadline: float | None = None
        self._held_input: deque[bytes] = deque()
        self._held_bytes = 0
        self._greeted = False
        # Responses and items.
        self._active_response: str | None = None
        self._response_wanted = False
        self._muted_items: set[str] = set()
        self._muted_response: str | None = None
        self._item_audio_ms: dict[str, float] = {}
        self._calls_by_response: dict[str, dict[str, ToolCall]] = {}
        self._tools_running = 0
        self._hold_until: float | None = None
        # Ending the call after something is heard.
        self._hangup_after_item: str | None = None
        self._pending_end: HangUp | Transfer | None = None
        self._end_deadline: float | None = None
        self._end_requested = False
        self._say_requested = False  # an announcement was asked for; its response has not started
        self._say_response: str | None = None  # the announcement's response, while it runs
        self._queued_say: str | None = None
        self._polite_reason: str | None = None
        # Timers and turn bookkeeping.
        self._last_activity = now
        self._caller_speaking = False
        self._input_ms = 0  # caller audio forwarded on this upstream session, in ms
        self._input_clock: deque[tuple[int, float]] = deque(maxlen=600)  # (input ms, time) for latency
        self._turn_end_at: float | None = None
        self._limit_warned = False
        self._dtmf_seq = 0
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
        out, self._actions = self._actions, []
        return out

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    def next_deadline(self) -> float | None:
        """The earliest time ``tick`` has something to do (None: nothing scheduled)."""
        if self.ended:
            return None
        candidates = [
            self.started_at + self.config.max_call_s * 1000,
            self._last_activity + self.config.idle_s * 1000,
        ]
        for t in (self._renew_at, self._retry_deadline, self._end_deadline, self._hold_until):
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
                self._maybe_finish_ending(now)
        elif isinstance(event, DtmfReceived):
            self._dtmf(event.digit, now)
        elif isinstance(event, CallStarted):
            self.call = event
            self._note("session", now, {"event": "call_started", "call_id": event.call_id, "stream": event.stream_id})
        elif isinstance(event, CallStopped):
            self._end(event.reason if event.reason != "stopped" else "caller_hangup", now)

    def _caller_audio(self, payload: bytes, now: float) -> None:
        self.frames_in += 1
        pcm = ulaw_to_pcm16(payload)
        if audioop.rms(pcm, 2) >= self.config.caller_energy_rms:
            self._last_activity = now
        if self._upsampler is not None:
            audio = self._upsampler.process(pcm)
            ms = len(audio) // 48
        else:
            audio = payload
            ms = len(audio) // _ULAW_BYTES_PER_MS
        if not self._upstream_ready:
            self._hold_input(audio)
            return
        self._forward_input(audio, ms, now)

    def _forward_input(self, audio: bytes, ms: int, now: float) -> None:
        self._input_ms += ms
        self._input_clock.append((self._input_ms, now))
        self._send(InputAudioBufferAppend(audio=audio))

    def _hold_input(self, audio: bytes) -> None:
        self._held_input.append(audio)
        self._held_bytes += len(audio)
        limit = self.config.max_buffered_input_ms * self._input_bytes_per_ms
        while self._held_bytes > limit:
            self._held_bytes -= len(self._held_input.popleft())

    @property
    def _input_bytes_per_ms(self) -> int:
        return 48 if self._upsampler is not None else _ULAW_BYTES_PER_MS

    def _dtmf(self, digit: str, now: float) -> None:
        self._last_activity = now
        self._note("dtmf", now, {"digit": digit})
        tool = self.config.dtmf_tools.get(digit)
        if tool is not None:
            self._dtmf_seq += 1
            self._tools_running += 1
            self._emit(RunTools((ToolCall(f"dtmf_{self._dtmf_seq}", tool, "{}", source="dtmf"),)))
            return
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": f"[caller pressed {digit}]"}],
        }
        self._send(ConversationItemCreate(item=item))
        self._request_response(now)

    # -- the model's leg -------------------------------------------------------------------------

    def upstream_opened(self, now: float) -> None:
        """A new upstream session is connected: configure it (renewals carry the conversation so far)."""
        self._upstream_sessions += 1
        self._session_opened_at = now
        self._upstream_ready = False
        self._active_response = None
        self._input_ms = 0
        self._input_clock.clear()
        self._retry_deadline = None
        self._renew_at = now + max(0.0, self.config.upstream_session_s - self.config.renew_margin_s) * 1000
        settings = self.config.session
        if self._upstream_sessions > 1:
            summary = self.transcript.summary()
            if summary:
                extra = (
                    "\n\nThis phone call is already in progress; do not greet the caller again. "
                    f"The conversation so far:\n{summary}"
                )
                settings = replace(settings, instructions=settings.instructions + extra)
        self._send(build_session_update(settings, self.config.dialect))
        self._note("session", now, {"event": "upstream_opened", "n": self._upstream_sessions})

    def upstream_closed(self, now: float, detail: str) -> None:
        """The upstream session went away. Renewals reconnect at once; drops are retried once, quickly."""
        if self.ended:
            return
        self._upstream_ready = False
        if self._renewing:
            self._renewing = False
            self._emit(ReconnectUpstream("renew"))
            return
        self._note("error", now, {"source": "upstream", "detail": detail})
        if self._retries_left > 0:
            self._retries_left -= 1
            self._retry_deadline = now + self.config.retry_window_s * 1000
            self._emit(ReconnectUpstream("retry"))
        else:
            self._end("upstream_lost", now)

    def upstream_failed(self, now: float, detail: str) -> None:
        """A (re)connection attempt failed: the call ends with the reason."""
        if not self.ended:
            self._note("error", now, {"source": "upstream", "detail": detail})
            self._end("upstream_unavailable", now)

    def receive_realtime(self, event: ServerEvent, now: float) -> None:
        if self.ended:
            return
        if isinstance(event, ResponseOutputAudioDelta):
            self._agent_audio(event, now)
        elif isinstance(event, InputAudioBufferSpeechStarted):
            self._speech_started(now)
        elif isinstance(event, InputAudioBufferSpeechStopped):
            self._caller_speaking = False
            self._turn_end_at = self._time_of_input_ms(event.audio_end_ms, now)
            self._note("turn", now, {"event": "speech_stopped", "audio_end_ms": event.audio_end_ms})
        elif isinstance(event, ResponseCreated):
            self._active_response = _response_id(event.response)
            if self._say_requested:
                self._say_requested = False
                self._say_response = self._active_response
        elif isinstance(event, ResponseDone):
            self._response_done(event.response, now)
        elif isinstance(event, ResponseFunctionCallArgumentsDone):
            if event.response_id is not None:
                name = event.name or ""
                calls = self._calls_by_response.setdefault(event.response_id, {})
                calls[event.call_id] = ToolCall(event.call_id, name, event.arguments)
        elif isinstance(event, ResponseOutputAudioTranscriptDone):
            seg = self.transcript.segment("agent", event.item_id, self._ms(now))
            seg.text = event.transcript
        elif isinstance(event, InputAudioTranscriptionCompleted):
            seg = self.transcript.segment("caller", event.item_id, self._ms(now))
            seg.text = event.transcript.strip()
            self._note("transcript", now, {"speaker": "caller", "item_id": event.item_id, "text": seg.text})
        elif isinstance(event, SessionCreated):
            self._session_created(event.session, now)
        elif isinstance(event, SessionUpdated):
            self._session_updated(now)
        elif isinstance(event, ErrorEvent):
            self._note(
                "error",
                now,
                {"source": "realtime", "code": event.code, "type": event.type, "message": event.message},
            )

    def _session_created(self, session: dict[str, Any], now: float) -> None:
        expires_at = session.get("expires_at")
        if self._epoch_offset_ms is not None and isinstance(expires_at, int | float) and expires_at > 0:
            expires_local = expires_at * 1000 - self._epoch_offset_ms
            self._renew_at = expires_local - self.config.renew_margin_s * 1000

    def _session_updated(self, now: float) -> None:
        if self._upstream_ready:
            return
        self._upstream_ready = True
        self._retries_left = self.config.upstream_retries
        while self._held_input:
            audio = self._held_input.popleft()
            self._forward_input(audio, len(audio) // self._input_bytes_per_ms, now)
        self._held_bytes = 0
        self._note("session", now, {"event": "ready", "n": self._upstream_sessions})
        if not self._greeted:
            self._greeted = True
            if self.config.greeting:
                self._send(say_exactly(self.config.greeting))
        elif self._response_wanted and self._active_response is None:
            self._response_wanted = False
            self._send(ResponseCreate())

    def _agent_audio(self, event: ResponseOutputAudioDelta, now: float) -> None:
        item_id = event.item_id
        if item_id in self._muted_items or (
            event.response_id is not None and event.response_id == self._muted_response
        ):
            return
        audio = event.delta
        if self._downsampler is not None:
            self._item_audio_ms[item_id] = self._item_audio_ms.get(item_id, 0.0) + len(audio) / 48
            audio = pcm16_to_ulaw(self._downsampler.process(audio))
        else:
            self._item_audio_ms[item_id] = self._item_audio_ms.get(item_id, 0.0) + len(audio) / _ULAW_BYTES_PER_MS
        if not audio:
            return
        if self._turn_end_at is not None:
            self._note("latency", now, {"ms": round(now - self._turn_end_at, 1)})
            self._turn_end_at = None
        seg = self.transcript.segment("agent", item_id, self._ms(now))
        seg.end_ms = self._ms(now)
        self._play(item_id, audio, now)

    def _play(self, item_id: str, audio: bytes, now: float) -> None:
        self.frames_out += 1
        self._last_activity = now
        mark = self.ledger.sent(item_id, len(audio), now)
        self._emit(SendToCaller(PlayAudio(audio)))
        self._emit(SendToCaller(SetMark(mark)))

    def _speech_started(self, now: float) -> None:
        self._caller_speaking = True
        self._last_activity = now
        self._hold_until = None
        self._note("turn", now, {"event": "speech_started"})
        if not self.config.barge_in or not self.ledger.has_unheard(now):
            return
        cut = self.ledger.cut(now)
        if cut is None:
            return
        self.barge_ins += 1
        self._emit(SendToCaller(ClearPlayback()))
        if self._downsampler is not None:
            self._downsampler.reset()
        truncated = []
        for item_id, end_ms in ((cut.item_id, cut.audio_end_ms), *((i, 0) for i in cut.unheard_items)):
            self._muted_items.add(item_id)
            if item_id.startswith("~"):
                continue
            self._send(ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=end_ms))
            self.truncations += 1
            truncated.append({"item_id": item_id, "audio_end_ms": end_ms})
            self._mark_cut(item_id, end_ms)
        if self._active_response is not None:
            self._muted_response = self._active_response
            self._send(ResponseCancel())
        if self._pending_end is not None and isinstance(self._pending_end, Transfer):
            if self._hangup_after_item in self._muted_items:
                # The caller talked over the transfer announcement: they did not agree to be moved.
                self._note("tool_call", now, {"event": "transfer_cancelled", "to": self._pending_end.to})
                self._pending_end = None
                self._hangup_after_item = None
                self._end_deadline = None
                self._end_requested = False
        self._note("barge_in", now, {"truncated": truncated})

    def _mark_cut(self, item_id: str, heard_ms: int) -> None:
        seg = self.transcript.get(item_id)
        if seg is None:
            return
        seg.cut = True
        seg.end_ms = seg.start_ms + heard_ms
        total = self._item_audio_ms.get(item_id, 0.0)
        seg.heard_text = heard_words(seg.text, heard_ms, int(total)) if seg.text else ""

    def _response_done(self, response: dict[str, Any], now: float) -> None:
        response_id = _response_id(response)
        if response_id == self._active_response:
            self._active_response = None
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
        self._note("response", now, {"id": response_id, "status": status, "reason": details.get("reason")})
        for item in response.get("output") or ():
            if not isinstance(item, dict):
                continue
            if item.get("type") == "message" and item.get("role") == "assistant":
                self._agent_segment_done(item, now)
            elif item.get("type") == "function_call" and isinstance(item.get("call_id"), str):
                # The item is the whole truth (beta's arguments.done carries no name).
                call_id = item["call_id"]
                calls = self._calls_by_response.setdefault(response_id, {})
                known = calls.get(call_id)
                calls[call_id] = ToolCall(
                    call_id,
                    str(item.get("name") or (known.name if known else "")),
                    str(item.get("arguments") or (known.arguments if known else "")),
                )
        if response_id == self._say_response and self._say_response:
            # Remember the announcement's item: a barge-in during it cancels a pending transfer.
            self._say_response = None
            self._hangup_after_item = next(
                (i["id"] for i in response.get("output") or () if isinstance(i, dict) and i.get("type") == "message"),
                self._last_agent_item(),
            )
        calls = self._calls_by_response.pop(response_id, {})
        if calls and status == "completed":
            self._tools_running += 1
            self._emit(RunTools(tuple(calls.values())))
        elif self._response_wanted:
            self._response_wanted = False
            self._send(ResponseCreate())
        self._maybe_finish_ending(now)

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
                    seg.text = part["transcript"]
        self._note(
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

    # -- tools -----------------------------------------------------------------------------------

    def tool_results(self, results: list[ToolResult], now: float) -> None:
        """Results of one RunTools batch: answer the model together, then carry out the effects."""
        self._tools_running = max(0, self._tools_running - 1)
        if self.ended:
            return
        answered = False
        hold_s = 0.0
        for result in results:
            self._note(
                "tool_call",
                now,
                {
                    "call_id": result.call_id,
                    "name": result.name,
                    "arguments": result.arguments,
                    "output": result.output,
                    "status": result.status,
                    "started_at_ms": result.started_at_ms,
                    "duration_ms": result.duration_ms,
                    "source": result.source,
                },
            )
            if result.source == "model":
                item = {"type": "function_call_output", "call_id": result.call_id, "output": result.output}
                self._send(ConversationItemCreate(item=item))
                answered = True
        ending = False
        for result in results:
            for effect in result.effects:
                if isinstance(effect, HangupEffect):
                    ending = True
                    self._end_after_speech(HangUp("agent_hangup"), effect.say, now)
                elif isinstance(effect, TransferEffect):
                    ending = True
                    self._end_after_speech(Transfer(effect.to), effect.say, now)
                elif isinstance(effect, SendDtmfEffect):
                    self._play(_DTMF_ITEM, dtmf_ulaw(effect.digits), now)
                elif isinstance(effect, WaitEffect):
                    hold_s = max(hold_s, effect.seconds)
        if ending or not answered:
            return
        if hold_s > 0:
            self._hold_until = now + hold_s * 1000
            return
        self._request_response(now)

    def _request_response(self, now: float) -> None:
        """Ask for a response now, or as soon as the active one is done (never two at once)."""
        if self._active_response is None and self._upstream_ready:
            self._send(ResponseCreate())
        else:
            self._response_wanted = True

    # -- ending ----------------------------------------------------------------------------------

    def _end_after_speech(self, command: HangUp | Transfer, say: str | None, now: float) -> None:
        """Hang up or transfer once the caller has heard ``say`` (if any) and everything before it."""
        self._pending_end = command
        self._end_requested = True
        self._end_deadline = now + self.config.goodbye_grace_s * 1000
        if say:
            self._hangup_after_item = None
            self._send_say_for_end(say)
        self._maybe_finish_ending(now)

    def _send_say_for_end(self, say: str) -> None:
        if self._active_response is None:
            self._say(say)
        else:
            # The current reply finishes first; the announcement follows it.
            self._response_wanted = False
            self._queued_say = say

    def _say(self, text: str) -> None:
        self._send(say_exactly(text))
        self._say_requested = True

    def _maybe_finish_ending(self, now: float) -> None:
        if self._pending_end is None or self.ended:
            return
        if self._queued_say is not None and self._active_response is None:
            say, self._queued_say = self._queued_say, None
            self._say(say)
            return
        if self._active_response is not None or self._say_requested or self._say_response is not None:
            return
        if not self.ledger.all_played:
            return
        command = self._pending_end
        self._pending_end = None
        self._emit(SendToCaller(command))
        self._end("transfer" if isinstance(command, Transfer) else command.reason, now)

    def _last_agent_item(self) -> str | None:
        for seg in reversed(self.transcript.segments):
            if seg.speaker == "agent":
                return seg.item_id
        return None

    def _polite_end(self, reason: str, goodbye: str, now: float) -> None:
        if self._end_requested:
            return
        self._polite_reason = reason
        self._end_after_speech(HangUp(reason), goodbye if self._upstream_ready else None, now)

    def _end(self, reason: str, now: float) -> None:
        if self.ended:
            return
        self.end_reason = reason
        self._note("end", now, {"reason": reason})
        self._emit(EndCall(reason))

    # -- timers ----------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Run whatever timers are due at ``now``."""
        if self.ended:
            return
        self._last_tick = now
        if self._end_deadline is not None and now >= self._end_deadline:
            command = self._pending_end or HangUp(self._polite_reason or "hangup")
            self._pending_end = None
            self._emit(SendToCaller(command))
            self._end("transfer" if isinstance(command, Transfer) else command.reason, now)
            return
        if self._retry_deadline is not None and now >= self._retry_deadline:
            self._retry_deadline = None
            if not self._upstream_ready:
                self._end("upstream_lost", now)
                return
        if now - self.started_at >= self.config.max_call_s * 1000:
            self._polite_end("max_duration", self.config.limit_goodbye, now)
        elif now - self._last_activity >= self.config.idle_s * 1000 and not self.ledger.has_unheard(now):
            self._polite_end("idle_timeout", self.config.idle_goodbye, now)
        if self._hold_until is not None and now >= self._hold_until:
            self._hold_until = None
            self._request_response(now)
        if (
            self._renew_at is not None
            and now >= self._renew_at
            and self._upstream_ready
            and not self._renewing
            and self._is_quiet(now)
        ):
            self._renewing = True
            self._renew_at = None
            self._note("session", now, {"event": "renewing"})
            self._emit(ReconnectUpstream("renew"))

    def _is_quiet(self, now: float) -> bool:
        """A moment to swap upstream sessions without anyone noticing (or the last chance to)."""
        hard_deadline = self._session_opened_at + self.config.upstream_session_s * 1000 - 5000
        if now >= hard_deadline:
            return True
        return (
            self._active_response is None
            and self._tools_running == 0
            and not self._caller_speaking
            and not self.ledger.has_unheard(now)
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _time_of_input_ms(self, audio_ms: int, now: float) -> float:
        """When the caller audio at ``audio_ms`` (upstream session time) was forwarded."""
        for input_ms, at in reversed(self._input_clock):
            if input_ms <= audio_ms:
                return at + (audio_ms - input_ms)
        return now

    def _ms(self, now: float) -> int:
        return int(now - self.started_at)

    def _send(self, event: Any) -> None:
        self._actions.append(SendUpstream(event))

    def _emit(self, action: Action) -> None:
        self._actions.append(action)

    def _note(self, kind: str, now: float, data: dict[str, Any]) -> None:
        self._actions.append(Note(kind, self._ms(now), data))


def _response_id(response: dict[str, Any]) -> str:
    value = response.get("id")
    return value if isinstance(value, str) else ""
