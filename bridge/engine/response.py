"""One model response: its events in order, paced, and cancellable mid-stream.

The order is PROTOCOLS A.5: ``response.created``, ``rate_limits.updated``, then per output item
``response.output_item.added``, the conversation echo, the content part, interleaved transcript
and audio deltas (each transcript delta is sent with the audio chunk its word starts in), the
done events, and finally ``response.done`` with usage. Audio chunk N is due ``N * delta_ms / pace``
after the response starts (all at once when pace is 0).

Every event is built when released (see ``outbox``), so the stream's state is exactly what the
client has been sent: a cancellation drops the events not yet due and closes the items in flight
with what they really carried.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bridge.engine.conversation import Conversation, Item
from bridge.engine.formats import AudioFormat
from bridge.engine.ids import IdMinter
from bridge.engine.outbox import Outbox
from bridge.engine.scenario import CallTool, Output
from bridge.engine.voice import Voice, WordTiming

__all__ = ["ResponseOptions", "ResponseStream", "TokenCount", "audio_tokens", "event_name", "text_tokens"]

_BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
_RATE_LIMIT = 40000
_ARGUMENT_DELTA_CHARS = 16

Event = dict[str, Any]
_Add = Callable[[float, Callable[[], Event | None]], None]


def event_name(ga_name: str, dialect: str) -> str:
    """The event's name in ``dialect`` (beta renamed the audio/text/item-added events)."""
    return _BETA_NAMES.get(ga_name, ga_name) if dialect == "beta" else ga_name


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A rough token count, split the way Realtime usage reports it."""

    text: int = 0
    audio: int = 0

    @property
    def total(self) -> int:
        return self.text + self.audio


def text_tokens(text: str) -> int:
    """About four characters a token."""
    return math.ceil(len(text) / 4)


def audio_tokens(ms: float) -> int:
    """Output audio costs about one token per 50 ms."""
    return math.ceil(ms / 50)


def _pieces(text: str) -> list[str]:
    """Word-sized deltas that concatenate back to ``text``."""
    words = text.split(" ")
    return [words[0]] + [" " + word for word in words[1:]]


@dataclass(frozen=True, slots=True)
class ResponseOptions:
    """Per-response settings: the session's, overridden by ``response.create``."""

    modalities: tuple[str, ...]
    format: AudioFormat
    voice: str | dict[str, Any]
    max_output_tokens: int | str
    temperature: float
    metadata: dict[str, str] | None = None
    in_conversation: bool = True


@dataclass(slots=True)
class _Output:
    """One output item: what it will carry, and what has been released of it."""

    item: Item
    index: int
    kind: str  # "audio", "text" or "call"
    text: str = ""
    audio: bytes = b""
    words: list[WordTiming] = field(default_factory=list)
    added: bool = False
    part_added: bool = False
    done: bool = False
    conversation_done: bool = False
    sent: str = ""  # transcript / text / arguments sent so far


class ResponseStream:
    """Plans, paces and finishes one response."""

    def __init__(
        self,
        *,
        response_id: str,
        dialect: str,
        conversation: Conversation,
        conversation_id: str,
        options: ResponseOptions,
        outputs: list[Output],
        voice: Voice,
        minter: IdMinter,
        now: float,
        input_tokens: TokenCount,
        on_finished: Callable[[ResponseStream], None],
    ) -> None:
        self.id = response_id
        self.dialect = dialect
        self.options = options
        self.status = "in_progress"
        self.reason: str | None = None
        self.finished = False
        self._conversation = conversation
        self._conversation_id = conversation_id if options.in_conversation else None
        self._minter = minter
        self._input_tokens = input_tokens
        self._on_finished = on_finished
        self._outputs = [self._plan(output, index, voice, now) for index, output in enumerate(outputs)]

    # ------------------------------------------------------------ planning
    def _plan(self, output: Output, index: int, voice: Voice, now: float) -> _Output:
        item_id = self._minter.mint("item", now)
        if isinstance(output, CallTool):
            item = Item(
                item_id,
                "function_call",
                status="in_progress",
                call_id=self._minter.mint("call", now),
                name=output.name,
                arguments="",
            )
            return _Output(item, index, "call", text=output.arguments)
        item = Item(item_id, "message", status="in_progress", role="assistant")
        if self.options.modalities != ("audio",):
            return _Output(item, index, "text", text=output.text)
        fmt = self.options.format
        pcm, words = voice.synthesize(output.text, fmt.rate)
        item.audio_format = fmt
        item.words = words
        return _Output(item, index, "audio", text=" ".join(w for w, _, _ in words), audio=fmt.encode(pcm), words=words)

    @property
    def in_conversation(self) -> bool:
        """False for an out-of-band response (``conversation: "none"``)."""
        return self.options.in_conversation

    @property
    def call_id(self) -> str | None:
        """The call_id of the response's last function call, if it makes one."""
        calls = [out.item.call_id for out in self._outputs if out.kind == "call"]
        return calls[-1] if calls else None

    @property
    def items(self) -> list[Item]:
        """The response's items the client has seen so far."""
        return [out.item for out in self._outputs if out.added]

    @property
    def audio_ms_sent(self) -> int:
        """Output audio sent so far, in ms (what the caller will hear)."""
        return sum(out.item.audio_ms for out in self._outputs)

    # ------------------------------------------------------------ scheduling
    def schedule(self, outbox: Outbox, start: float, *, delta_ms: int, pace: float) -> None:
        """Queue the whole response from ``start``."""
        step = delta_ms / 1000 / pace if pace else 0.0
        add = self._adder(outbox)
        add(start, self._created)
        add(start, self._rate_limits)
        at = end = start
        for out in self._outputs:
            add(at, partial(self._item_added, out))
            if self.options.in_conversation:
                add(at, partial(self._conversation_added, out))
            if out.kind == "call":
                self._schedule_call(add, at, out)
            elif out.kind == "text":
                add(at, partial(self._part_added, out))
                for piece in _pieces(out.text):
                    add(at, partial(self._text_delta, out, piece))
            else:
                add(at, partial(self._part_added, out))
                at = self._schedule_audio(add, at, out, delta_ms, step)
            self._schedule_item_done(add, at, out)
            end = at
            if out.kind == "audio":
                at += step  # the next item's audio follows this one's at the same pace
        add(end, partial(self._done, "completed", None))

    def cancel(self, outbox: Outbox, reason: str, now: float) -> None:
        """Stop: drop what is not due yet, close the items in flight, then ``response.done``."""
        outbox.drop_after(self.id, now)
        add = self._adder(outbox)
        for out in self._outputs:
            add(now, partial(self._close, out, "audio_done"))
            add(now, partial(self._close, out, "text_done"))
            add(now, partial(self._close, out, "part_done"))
            add(now, partial(self._close, out, "item_done"))
            if self.options.in_conversation:
                add(now, partial(self._close, out, "conversation_done"))
        add(now, partial(self._done, "cancelled", reason))

    def _adder(self, outbox: Outbox) -> _Add:
        def add(due: float, build: Callable[[], Event | None]) -> None:
            outbox.add(due, build, tag=self.id)

        return add

    def _schedule_call(self, add: _Add, at: float, out: _Output) -> None:
        for start in range(0, len(out.text), _ARGUMENT_DELTA_CHARS):
            piece = out.text[start : start + _ARGUMENT_DELTA_CHARS]
            add(at, partial(self._arguments_delta, out, piece))
        add(at, partial(self._arguments_done, out))

    def _schedule_audio(self, add: _Add, at: float, out: _Output, delta_ms: int, step: float) -> float:
        chunk = delta_ms * self.options.format.bytes_per_ms
        count = max(1, math.ceil(len(out.audio) / chunk))
        words: dict[int, list[str]] = {}  # chunk index -> transcript deltas of the words starting in it
        for position, (word, start_ms, _) in enumerate(out.words):
            words.setdefault(min(start_ms // delta_ms, count - 1), []).append(word if position == 0 else " " + word)
        for index in range(count):
            due = at + index * step
            for delta in words.get(index, []):
                add(due, partial(self._transcript_delta, out, delta))
            piece = out.audio[index * chunk : (index + 1) * chunk]
            add(due, partial(self._audio_delta, out, piece))
        return at + (count - 1) * step

    def _schedule_item_done(self, add: _Add, at: float, out: _Output) -> None:
        if out.kind == "audio":
            add(at, partial(self._close, out, "audio_done"))
        if out.kind != "call":
            add(at, partial(self._close, out, "text_done"))
            add(at, partial(self._close, out, "part_done"))
        add(at, partial(self._close, out, "item_done"))
        if self.options.in_conversation:
            add(at, partial(self._close, out, "conversation_done"))

    # ------------------------------------------------------------ event builders
    def _event(self, ga_name: str, **fields: Any) -> Event:
        return {"type": event_name(ga_name, self.dialect), **fields}

    def _content_ref(self, out: _Output) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": out.item.id, "output_index": out.index, "content_index": 0}

    def _created(self) -> Event:
        return self._event("response.created", response=self._render("in_progress", None, []))

    def _rate_limits(self) -> Event:
        planned = sum(
            text_tokens(out.text)
            + (audio_tokens(out.item.audio_format.ms(len(out.audio))) if out.item.audio_format else 0)
            for out in self._outputs
        )
        reserved = self._input_tokens.total + planned
        return self._event(
            "rate_limits.updated",
            rate_limits=[
                {
                    "name": "tokens",
                    "limit": _RATE_LIMIT,
                    "remaining": max(0, _RATE_LIMIT - reserved),
                    "reset_seconds": round(60 * reserved / _RATE_LIMIT, 3),
                }
            ],
        )

    def _item_added(self, out: _Output) -> Event:
        out.added = True
        return self._event(
            "response.output_item.added",
            response_id=self.id,
            output_index=out.index,
            item=out.item.render(self.dialect),
        )

    def _conversation_added(self, out: _Output) -> Event:
        previous = self._conversation.insert(out.item)
        return self._event("conversation.item.added", previous_item_id=previous, item=out.item.render(self.dialect))

    def _part_added(self, out: _Output) -> Event:
        out.part_added = True
        if out.kind == "audio":
            out.item.content = [{"type": "output_audio", "transcript": ""}]
            part: dict[str, Any] = {"type": "audio", "transcript": ""}
        else:
            out.item.content = [{"type": "output_text", "text": ""}]
            part = {"type": "text", "text": ""}
        return self._event("response.content_part.added", **self._content_ref(out), part=part)

    def _text_delta(self, out: _Output, piece: str) -> Event:
        out.sent += piece
        out.item.content[0]["text"] = out.sent
        return self._event("response.output_text.delta", **self._content_ref(out), delta=piece)

    def _transcript_delta(self, out: _Output, delta: str) -> Event:
        out.sent += delta
        out.item.content[0]["transcript"] = out.sent
        event = self._event("response.output_audio_transcript.delta", **self._content_ref(out), delta=delta)
        if self.dialect == "ga":
            # The GA server pads transcript deltas with a random "obfuscation" string (PROTOCOLS G.1).
            event["obfuscation"] = self._minter.token(max(4, 16 - len(delta)))
        return event

    def _audio_delta(self, out: _Output, piece: bytes) -> Event:
        out.item.audio += piece
        return self._event(
            "response.output_audio.delta", **self._content_ref(out), delta=base64.b64encode(piece).decode()
        )

    def _arguments_delta(self, out: _Output, piece: str) -> Event:
        out.sent += piece
        out.item.arguments = out.sent
        return self._event(
            "response.function_call_arguments.delta",
            response_id=self.id,
            item_id=out.item.id,
            output_index=out.index,
            call_id=out.item.call_id,
            delta=piece,
        )

    def _arguments_done(self, out: _Output) -> Event:
        event = self._event(
            "response.function_call_arguments.done",
            response_id=self.id,
            item_id=out.item.id,
            output_index=out.index,
            call_id=out.item.call_id,
        )
        if self.dialect == "ga":
            event["name"] = out.item.name  # beta's arguments.done had no name
        event["arguments"] = out.sent
        return event

    def _close(self, out: _Output, step: str) -> Event | None:
        """One of an item's closing events, or None if it does not apply (any more)."""
        if step == "conversation_done":
            # GA only, once, after output_item.done.
            if self.dialect == "beta" or not out.done or out.conversation_done:
                return None
            out.conversation_done = True
            previous = self._conversation.previous_id(out.item.id)
            return self._event("conversation.item.done", previous_item_id=previous, item=out.item.render(self.dialect))
        if not out.added or out.done:
            return None
        if step == "item_done":
            out.done = True
            out.item.status = "completed" if self._complete(out) else "incomplete"
            return self._event(
                "response.output_item.done",
                response_id=self.id,
                output_index=out.index,
                item=out.item.render(self.dialect),
            )
        if out.kind == "call" or not out.part_added:
            return None
        ref = self._content_ref(out)
        if step == "audio_done":
            return self._event("response.output_audio.done", **ref) if out.kind == "audio" else None
        if step == "text_done":
            if out.kind == "audio":
                return self._event("response.output_audio_transcript.done", **ref, transcript=out.sent)
            return self._event("response.output_text.done", **ref, text=out.sent)
        part = {"type": "audio", "transcript": out.sent} if out.kind == "audio" else {"type": "text", "text": out.sent}
        return self._event("response.content_part.done", **ref, part=part)

    @staticmethod
    def _complete(out: _Output) -> bool:
        return out.sent == out.text and len(out.item.audio) == len(out.audio)

    def _done(self, status: str, reason: str | None) -> Event | None:
        if self.finished:
            return None
        self.finished = True
        self.status = status
        self.reason = reason
        details = None if reason is None else {"type": status, "reason": reason}
        event = self._event("response.done", response=self._render(status, details, self.items, usage=True))
        self._on_finished(self)
        return event

    # ------------------------------------------------------------ the response object
    def _usage(self) -> dict[str, Any]:
        out_text = sum(text_tokens(out.sent) for out in self._outputs)
        out_audio = sum(audio_tokens(out.item.audio_ms) for out in self._outputs)
        inputs = self._input_tokens
        if self.dialect == "beta":
            input_details: dict[str, Any] = {
                "cached_tokens": 0,
                "text_tokens": inputs.text,
                "audio_tokens": inputs.audio,
            }
        else:
            input_details = {
                "text_tokens": inputs.text,
                "audio_tokens": inputs.audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            }
        return {
            "total_tokens": inputs.total + out_text + out_audio,
            "input_tokens": inputs.total,
            "output_tokens": out_text + out_audio,
            "input_token_details": input_details,
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }

    def _render(
        self, status: str, details: dict[str, Any] | None, items: list[Item], *, usage: bool = False
    ) -> dict[str, Any]:
        options = self.options
        response: dict[str, Any] = {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": [item.render(self.dialect) for item in items],
            "conversation_id": self._conversation_id,
        }
        if self.dialect == "beta":
            response["modalities"] = ["text", "audio"] if options.modalities == ("audio",) else ["text"]
            response["voice"] = options.voice
            response["output_audio_format"] = options.format.beta_name
            response["temperature"] = options.temperature
            response["max_output_tokens"] = options.max_output_tokens
        else:
            response["output_modalities"] = list(options.modalities)
            response["max_output_tokens"] = options.max_output_tokens
            response["audio"] = {"output": {"format": options.format.ga(), "voice": options.voice}}
        response["usage"] = self._usage() if usage else None
        response["metadata"] = options.metadata
        return response
