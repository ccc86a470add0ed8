"""EngineSession: one Realtime session, sans-I/O.

Feed it what the client sends (``receive_text``, ``receive_binary``) and transcripts when they are
ready (``transcription_done`` / ``transcription_failed``), always with the current time; drain it
with ``poll(now)``, which returns the actions due by then (``Send`` an event, ``Transcribe``
audio in the background, ``Close`` the socket), and ask ``next_deadline()`` when to poll again.
It never reads a clock and never blocks.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.engine.config import EngineConfig
from bridge.engine.conversation import ROOT, Conversation, Item
from bridge.engine.formats import by_beta_name, by_ga_type
from bridge.engine.ids import IdMinter
from bridge.engine.listener import IdleTimeout, InputAudio, TurnEnded, TurnStarted
from bridge.engine.log import EventLog
from bridge.engine.outbox import Outbox
from bridge.engine.response import ResponseOptions, ResponseStream, TokenCount, event_name, text_tokens
from bridge.engine.scenario import Output, Scenario, ScenarioRunner, Speak
from bridge.engine.schema import ClientError
from bridge.engine.sessionconfig import SessionConfig
from bridge.engine.validate import Dialect, validate_event

__all__ = ["Action", "Close", "EngineSession", "Send", "Transcribe", "expiry_message"]

_MIN_COMMIT_MS = 100
# `Say exactly: "…"` in response instructions: the engine says the quoted text verbatim.
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”')
_BETA_CONTENT = {"text": "output_text", "audio": "output_audio"}


@dataclass(frozen=True, slots=True)
class Send:
    """Send this event (a JSON object) as a text frame."""

    event: dict[str, Any]

    def text(self) -> str:
        """The frame's text."""
        return orjson.dumps(self.event).decode()


@dataclass(frozen=True, slots=True)
class Transcribe:
    """Transcribe this PCM16 in the background, then call ``transcription_done``."""

    item_id: str
    pcm16: bytes
    rate: int


@dataclass(frozen=True, slots=True)
class Close:
    """Close the WebSocket with this code and reason; the session is over."""

    code: int
    reason: str


Action = Send | Transcribe | Close


def expiry_message(limit_s: float) -> str:
    """OpenAI's words for the session limit: whole minutes when it is some, else seconds."""
    if limit_s >= 60 and limit_s % 60 == 0:
        minutes = int(limit_s // 60)
        return f"Your session hit the maximum duration of {minutes} minute{'s' if minutes != 1 else ''}."
    return f"Your session hit the maximum duration of {limit_s:g} seconds."


class EngineSession:
    """The state machine of one Realtime session (see the module docstring)."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        dialect: Dialect,
        model: str | None,
        now: float,
        seed: int | str | None = None,
    ) -> None:
        self.config = config
        self.dialect: Dialect = dialect
        self.log = EventLog(config.keep_log)
        self.closed = False
        self.close_code: int | None = None
        self.started_at = now
        self._ids = IdMinter(seed)
        self.id = self._ids.mint("sess", now)
        self.conversation = Conversation()
        self.conversation_id = self._ids.mint("conv", now)
        self.settings = SessionConfig(model=model or "")
        self.active_response: ResponseStream | None = None
        self._deadline = now + config.session_limit_s
        self._outbox = Outbox()
        self._pending: list[Action] = []
        self._runner = ScenarioRunner(config.scenario or Scenario.default())
        self._input = InputAudio(self.settings.input_format, self.settings.turn_detection)
        self._speech_item: str | None = None
        self._scenario_call: str | None = None  # call_id of the scenario's latest function call
        self._handlers: dict[str, Callable[[dict[str, Any], float], None]] = {
            "session.update": self._on_session_update,
            "session.close": self._on_session_close,
            "input_audio_buffer.append": self._on_append,
            "session.input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.delete": self._on_delete,
            "conversation.item.retrieve": self._on_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }
        if not model:
            # The real server refuses a connection without ?model= with a fatal error (PROTOCOLS G.3).
            self._fatal("Missing required parameter: 'model'.", "missing_model", 4000, now)
            return
        self._emit(now, "session.created", session=self._render_session())
        wants_conversation = config.send_conversation_created
        if wants_conversation or (wants_conversation is None and dialect == "beta"):
            self._emit(
                now,
                "conversation.created",
                conversation={"id": self.conversation_id, "object": "realtime.conversation"},
            )

    @property
    def model(self) -> str:
        """The model named in the connection URL."""
        return self.settings.model

    # ------------------------------------------------------------ pump interface
    def receive_text(self, data: str | bytes, now: float) -> None:
        """A text frame from the client (ignored once the session has expired)."""
        if self.closed or now >= self._deadline:
            self.log.record("received", None, now, data)
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.log.record("received", None, now, data)
            self._error(
                ClientError(f"Invalid event: failed to parse JSON value. {exc}", code="invalid_json"), None, now
            )
            return
        is_object = isinstance(event, dict)
        self.log.record("received", event if is_object else None, now, None if is_object else data)
        event_id = event.get("event_id") if is_object else None
        try:
            validate_event(event, self.dialect)
            self._handlers[event["type"]](event, now)
        except ClientError as exc:
            self._error(exc, event_id if isinstance(event_id, str) else None, now)

    def receive_binary(self, data: bytes, now: float) -> None:
        """A binary frame from the client (always refused)."""
        self.log.record("received", None, now, data)
        if self.closed or now >= self._deadline:
            return
        message = "Expected a text WebSocket message; binary frames are not supported."
        self._error(ClientError(message, code="invalid_event"), None, now)

    def transcription_done(self, item_id: str, transcript: str, now: float) -> None:
        """The background transcription of ``item_id`` finished."""
        if self.closed:
            return
        item = self.conversation.get(item_id)
        audio_ms = 0
        if item is not None:
            item.content[0]["transcript"] = transcript
            audio_ms = item.audio_ms
        model = (self.settings.transcription or {}).get("model")
        usage: dict[str, Any]
        if model == "whisper-1":
            usage = {"type": "duration", "seconds": round(audio_ms / 1000, 3)}
        else:
            audio_tokens, out_tokens = math.ceil(audio_ms / 100), text_tokens(transcript)
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "output_tokens": out_tokens,
                "total_tokens": audio_tokens + out_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            }
        self._emit(
            now,
            "conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=0,
            transcript=transcript,
            usage=usage,
        )

    def transcription_failed(self, item_id: str, message: str, now: float) -> None:
        """The background transcription of ``item_id`` raised."""
        if self.closed:
            return
        self._emit(
            now,
            "conversation.item.input_audio_transcription.failed",
            item_id=item_id,
            content_index=0,
            error={"type": "transcription_error", "code": None, "message": message, "param": None},
        )

    def disconnected(self, now: float) -> None:
        """The client went away."""
        self.closed = True

    def poll(self, now: float) -> list[Action]:
        """The actions due by ``now``, in order (none once the session is closed)."""
        actions: list[Action] = []
        if self.closed:
            return actions
        self._drain(now, actions)
        if not self.closed and now >= self._deadline:
            message = expiry_message(self.config.session_limit_s)
            self._fatal(message, "session_expired", 1001, now, reason=message)
            self._drain(now, actions)
        actions.extend(self._pending)
        self._pending.clear()
        if any(isinstance(action, Close) for action in actions):
            self.closed = True
        return actions

    def _drain(self, now: float, actions: list[Action]) -> None:
        while (entry := self._outbox.pop_due(now)) is not None:
            built = entry.build()
            if built is not None:
                event = {"type": built["type"], "event_id": self._ids.mint("event", now)} | built
                self.log.record("sent", event, now)
                actions.append(Send(event))

    def next_deadline(self) -> float | None:
        """When ``poll`` has something to do next (None: only when the client sends something)."""
        if self.closed:
            return None
        due = self._outbox.next_due()
        return self._deadline if due is None else min(due, self._deadline)

    # ------------------------------------------------------------ output helpers
    def _emit(self, now: float, ga_type: str, **fields: Any) -> None:
        event = {"type": event_name(ga_type, self.dialect), **fields}
        self._outbox.add(now, lambda: event)

    def _error(self, exc: ClientError, event_id: str | None, now: float) -> None:
        error = {"type": exc.type, "code": exc.code, "message": exc.message, "param": exc.param, "event_id": event_id}
        self._emit(now, "error", error=error)

    def _fatal(self, message: str, code: str, close_code: int, now: float, *, reason: str | None = None) -> None:
        self._outbox = Outbox()  # nothing else goes out
        self._deadline = math.inf
        self._error(ClientError(message, code=code), None, now)
        self.close_code = close_code
        # The real server's close reason is "type.code" unless it is the expiry message (PROTOCOLS A.1, G.3).
        self._pending = [Close(close_code, reason or f"invalid_request_error.{code}")]

    def _render_session(self) -> dict[str, Any]:
        expires_at = int(self.started_at + self.config.session_limit_s)
        if self.dialect == "beta":
            return self.settings.render_beta(self.id, expires_at)
        return self.settings.render_ga(self.id, expires_at)

    def _echo_item(self, item: Item, previous: str | None, now: float) -> None:
        rendered = item.render(self.dialect)
        self._emit(now, "conversation.item.added", previous_item_id=previous, item=rendered)
        if self.dialect == "ga":
            self._emit(now, "conversation.item.done", previous_item_id=previous, item=rendered)

    # ------------------------------------------------------------ session
    def _on_session_update(self, event: dict[str, Any], now: float) -> None:
        session = event["session"]
        voice = (
            session.get("voice") if self.dialect == "beta" else session.get("audio", {}).get("output", {}).get("voice")
        )
        if voice is not None and voice != self.settings.voice and self._assistant_audio():
            raise ClientError(
                "Cannot update a conversation's voice if assistant audio is present.", code="cannot_update_voice"
            )
        if self.dialect == "beta":
            self.settings = self.settings.updated_beta(session)
        else:
            self.settings = self.settings.updated_ga(session)
        self._input.reconfigure(self.settings.input_format, self.settings.turn_detection)
        if not self._input.speaking:
            self._speech_item = None
        self._emit(now, "session.updated", session=self._render_session())

    def _on_session_close(self, event: dict[str, Any], now: float) -> None:
        self._outbox = Outbox()
        self.close_code = 1000
        self._pending.append(Close(1000, ""))

    def _assistant_audio(self) -> bool:
        return any(item.role == "assistant" and item.audio for item in self.conversation)

    # ------------------------------------------------------------ input audio
    def _on_append(self, event: dict[str, Any], now: float) -> None:
        try:
            data = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError):
            raise ClientError(
                "Invalid 'audio': expected base64-encoded audio data.", code="invalid_value", param="audio"
            ) from None
        for input_event in self._input.append(data):
            if isinstance(input_event, TurnStarted):
                self._turn_started(input_event, now)
            elif isinstance(input_event, TurnEnded):
                self._turn_ended(input_event, now)
            else:
                self._idle_timeout(input_event, now)

    def _turn_started(self, started: TurnStarted, now: float) -> None:
        self._speech_item = self._ids.mint("item", now)
        self._emit(
            now, "input_audio_buffer.speech_started", audio_start_ms=started.audio_start_ms, item_id=self._speech_item
        )
        detection = self.settings.turn_detection
        active = self.active_response
        if detection is not None and detection.interrupt_response and active is not None and active.in_conversation:
            self._cancel(active, "turn_detected", now)

    def _turn_ended(self, ended: TurnEnded, now: float) -> None:
        item_id = self._speech_item or self._ids.mint("item", now)
        self._speech_item = None
        self._emit(now, "input_audio_buffer.speech_stopped", audio_end_ms=ended.audio_end_ms, item_id=item_id)
        self._commit(item_id, ended.audio, now)
        detection = self.settings.turn_detection
        if detection is not None and detection.create_response and self.active_response is None:
            self._respond(self._scenario_outputs(), self._default_options(), now)

    def _idle_timeout(self, timeout: IdleTimeout, now: float) -> None:
        item_id = self._ids.mint("item", now)
        self._emit(
            now,
            "input_audio_buffer.timeout_triggered",
            audio_start_ms=timeout.audio_start_ms,
            audio_end_ms=timeout.audio_end_ms,
            item_id=item_id,
        )
        self._commit(item_id, timeout.audio, now)
        if self.active_response is None:
            self._respond(list(self._runner.idle_response()), self._default_options(), now)

    def _commit(self, item_id: str, audio: bytes, now: float) -> None:
        fmt = self._input.format
        previous = self.conversation.last_id()
        item = Item(
            item_id,
            "message",
            role="user",
            content=[{"type": "input_audio", "transcript": None}],
            audio=bytearray(audio),
            audio_format=fmt,
        )
        self.conversation.insert(item)
        self._emit(now, "input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        self._echo_item(item, previous, now)
        if self.settings.transcription is not None:
            self._pending.append(Transcribe(item_id, fmt.decode(audio), fmt.rate))

    def _on_commit(self, event: dict[str, Any], now: float) -> None:
        buffered = self._input.buffered_ms
        if buffered < _MIN_COMMIT_MS:
            raise ClientError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item or self._ids.mint("item", now)
        self._speech_item = None
        self._commit(item_id, self._input.take_all(), now)

    def _on_clear(self, event: dict[str, Any], now: float) -> None:
        self._input.clear()
        self._speech_item = None
        self._emit(now, "input_audio_buffer.cleared")

    # ------------------------------------------------------------ conversation items
    def _on_item_create(self, event: dict[str, Any], now: float) -> None:
        data = event["item"]
        item_id = data.get("id") or self._ids.mint("item", now)
        if self.conversation.get(item_id) is not None:
            raise ClientError(f"Item with id '{item_id}' already exists.", code="invalid_value", param="item.id")
        previous_id = event.get("previous_item_id") or None
        if previous_id not in (None, ROOT) and self.conversation.get(previous_id) is None:
            raise ClientError(
                f"Invalid 'previous_item_id': the item with id '{previous_id}' does not exist.",
                code="invalid_value",
                param="previous_item_id",
            )
        item = self._client_item(data, item_id, now)
        previous = self.conversation.insert(item, previous_id)
        self._echo_item(item, previous, now)

    def _client_item(self, data: dict[str, Any], item_id: str, now: float) -> Item:
        kind = data["type"]
        item = Item(item_id, kind, status=data.get("status", "completed"))
        if kind == "function_call":
            item.call_id = data.get("call_id") or self._ids.mint("call", now)
            item.name = data["name"]
            item.arguments = data["arguments"]
        elif kind == "function_call_output":
            item.call_id = data["call_id"]
            item.output = data["output"]
        else:
            item.role = data["role"]
            for part in data["content"]:
                part = dict(part)
                if self.dialect == "beta":
                    part["type"] = _BETA_CONTENT.get(part["type"], part["type"])
                audio = part.pop("audio", None)
                if audio is not None:
                    item.audio = bytearray(base64.b64decode(audio))
                    item.audio_format = (
                        self.settings.input_format if item.role == "user" else self.settings.output_format
                    )
                if part["type"] in ("input_audio", "output_audio"):
                    part.setdefault("transcript", None)
                item.content.append(part)
        return item

    def _on_truncate(self, event: dict[str, Any], now: float) -> None:
        item_id, end_ms = event["item_id"], event["audio_end_ms"]
        item = self.conversation.get(item_id)
        if item is None:
            raise ClientError(f"Item with item_id not found: {item_id}", code="item_truncate_invalid_item_id")
        if item.role != "assistant" or item.audio_format is None:
            raise ClientError("Only model output audio messages can be truncated", code="unsupported_content_type")
        if event["content_index"] != 0:
            raise ClientError(
                f"Invalid 'content_index': item '{item_id}' has one content part (0).",
                code="invalid_value",
                param="content_index",
            )
        sent_ms = item.audio_ms
        if end_ms > sent_ms:
            raise ClientError(f"Audio content of {sent_ms}ms is already shorter than {end_ms}ms", code="invalid_value")
        del item.audio[end_ms * item.audio_format.bytes_per_ms :]
        # What the caller heard: the words the voice finished before the cut.
        item.content[0]["transcript"] = " ".join(word for word, _, word_end in item.words if word_end <= end_ms)
        self._emit(now, "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=end_ms)

    def _on_delete(self, event: dict[str, Any], now: float) -> None:
        item_id = event["item_id"]
        if self.conversation.get(item_id) is None:
            raise ClientError(
                f"Error deleting item: the item with id '{item_id}' does not exist.", code="item_delete_invalid_item_id"
            )
        self.conversation.delete(item_id)
        self._emit(now, "conversation.item.deleted", item_id=item_id)

    def _on_retrieve(self, event: dict[str, Any], now: float) -> None:
        item = self.conversation.get(event["item_id"])
        if item is None:
            raise ClientError(
                f"Error retrieving item: the item with id '{event['item_id']}' does not exist.",
                code="item_retrieve_invalid_item_id",
            )
        self._emit(now, "conversation.item.retrieved", item=item.render(self.dialect, with_audio=True))

    # ------------------------------------------------------------ responses
    def _on_response_create(self, event: dict[str, Any], now: float) -> None:
        active = self.active_response
        if active is not None:
            if self.dialect == "beta":  # beta said less (PROTOCOLS G.3)
                raise ClientError("Conversation already has an active response", code=None)
            raise ClientError(
                f"Conversation already has an active response in progress: {active.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        params: dict[str, Any] = event.get("response", {})
        options = self._response_options(params)
        quoted = _QUOTED.search(params.get("instructions", ""))
        if quoted is not None:
            self._runner.skip_greeting()
            outputs: list[Output] = [Speak(" ".join((quoted.group(1) or quoted.group(2)).split()))]
        else:
            outputs = self._scenario_outputs()
        self._respond(outputs, options, now)

    def _on_response_cancel(self, event: dict[str, Any], now: float) -> None:
        active = self.active_response
        wanted = event.get("response_id")
        if active is None or (wanted is not None and wanted != active.id):
            raise ClientError("Cancellation failed: no active response found", code="response_cancel_not_active")
        self._cancel(active, "client_cancelled", now)

    def _cancel(self, stream: ResponseStream, reason: str, now: float) -> None:
        # Its closing events are queued ahead of anything that follows, so the conversation is
        # free at once: a turn that ends in the same append gets its answer.
        stream.cancel(self._outbox, reason, now)
        self.active_response = None

    def _scenario_outputs(self) -> list[Output]:
        tool_output = next(
            (
                item.output or ""
                for item in self.conversation
                if item.type == "function_call_output" and item.call_id == self._scenario_call
            ),
            "",
        )
        return self._runner.next_response(user_input=self.conversation.has_user_message(), tool_output=tool_output)

    def _default_options(self) -> ResponseOptions:
        settings = self.settings
        return ResponseOptions(
            modalities=settings.output_modalities,
            format=settings.output_format,
            voice=settings.voice,
            max_output_tokens=settings.max_output_tokens,
            temperature=settings.temperature,
        )

    def _response_options(self, params: dict[str, Any]) -> ResponseOptions:
        base = self._default_options()
        if self.dialect == "beta":
            modalities = params.get("modalities")
            fmt = by_beta_name(params["output_audio_format"]) if "output_audio_format" in params else base.format
            voice = params.get("voice", base.voice)
            max_tokens = params.get("max_response_output_tokens", base.max_output_tokens)
            normalized = None if modalities is None else (("audio",) if "audio" in modalities else ("text",))
        else:
            modalities = params.get("output_modalities")
            output = params.get("audio", {}).get("output", {})
            fmt = by_ga_type(output["format"]["type"]) if "format" in output else base.format
            voice = output.get("voice", base.voice)
            max_tokens = params.get("max_output_tokens", base.max_output_tokens)
            if modalities is not None and len(set(modalities)) != 1:
                raise ClientError(
                    "Invalid 'response.output_modalities': request exactly one of 'audio' or 'text'.",
                    code="invalid_value",
                    param="response.output_modalities",
                )
            normalized = None if modalities is None else (modalities[0],)
        return ResponseOptions(
            modalities=normalized or base.modalities,
            format=fmt,
            voice=voice,
            max_output_tokens=max_tokens,
            temperature=params.get("temperature", base.temperature),
            metadata=params.get("metadata"),
            in_conversation=params.get("conversation", "auto") != "none",
        )

    def _input_tokens(self) -> TokenCount:
        text = text_tokens(self.settings.instructions)
        audio = 0
        for item in self.conversation:
            text += text_tokens(item.arguments or "") + text_tokens(item.output or "")
            text += sum(text_tokens(str(part.get("text") or part.get("transcript") or "")) for part in item.content)
            audio += math.ceil(item.audio_ms / 100) if item.role == "user" else math.ceil(item.audio_ms / 50)
        return TokenCount(text=text, audio=audio)

    def _respond(self, outputs: list[Output], options: ResponseOptions, now: float) -> None:
        stream = ResponseStream(
            response_id=self._ids.mint("resp", now),
            dialect=self.dialect,
            conversation=self.conversation,
            conversation_id=self.conversation_id,
            options=options,
            outputs=outputs,
            voice=self.config.voice,
            minter=self._ids,
            now=now,
            input_tokens=self._input_tokens(),
            on_finished=self._response_finished,
        )
        self.active_response = stream
        self._scenario_call = stream.call_id or self._scenario_call
        stream.schedule(self._outbox, now, delta_ms=self.config.delta_ms, pace=self.config.pace)

    def _response_finished(self, stream: ResponseStream) -> None:
        if self.active_response is stream:
            self.active_response = None
        if self.active_response is None:  # a cancelled response must not time a newer one out
            self._input.arm_idle(stream.audio_ms_sent)
