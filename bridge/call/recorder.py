"""CallRecorder: everything one call leaves in the archive, captured off the hot path.

The runner feeds it, as things happen, the call's start (Twilio's ``start``), every caller frame, every
agent chunk sent to the caller and every ``clear``, every :class:`~bridge.call.actions.Note` of the
session, and the end. Out come archive operations for the :class:`~bridge.archive.writer.ArchiveWriter`
(``CreateCall`` at the start, batches of timeline events, transcript segments and tool calls about once a
second, ``FinishCall`` at the end) and, when the dialplan records, a stereo WAV (``recording.py``).

Two layers:

* :class:`CallCapture`, sans-I/O: metadata and notes in, :data:`~bridge.archive.records.WriteOp` out.
* :class:`CallRecorder`, the thin async part. Its feed methods only append to buffers and, once a second
  of call time has passed, hand the writer what was captured and start the next WAV block: decoding,
  interleaving and the file write run in a worker thread (``asyncio.to_thread``), one block at a time.
  :meth:`CallRecorder.finish` writes the rest and closes the file, also when the caller is cancelled.

Times are call-relative milliseconds (the session's ``at_ms``); wall-clock times derive from
``started_at`` plus those, so the timeline, the transcript and the recording share one clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from bridge.archive.records import (
    AddEvents,
    AddToolCalls,
    AddTranscriptSegments,
    CallEvent,
    CreateCall,
    FinishCall,
    ToolCall,
    ToolStatus,
    TranscriptSegment,
    UpdateCall,
    WriteOp,
    new_id,
)
from bridge.audio.wav import StreamingWavWriter
from bridge.call.actions import Note
from bridge.call.config import CallConfig
from bridge.call.recording import StereoRecording, append_wav, close_wav, open_wav, wav_size
from bridge.call.transcript import Segment, Transcript
from bridge.telephony.events import (
    AudioReceived,
    CallStarted,
    ClearPlayback,
    PlayAudio,
    TelephonyCommand,
    TelephonyEvent,
)
from bridge.telephony.playout import BYTES_PER_MS

__all__ = ["ArchiveQueue", "CallCapture", "CallEnd", "CallProfile", "CallRecorder"]

log = logging.getLogger(__name__)

T = TypeVar("T")

FLUSH_INTERVAL_MS = 1000.0
"""Call time between two hand-overs of captured records and audio (about a second)."""


class ArchiveQueue(Protocol):
    """Where operations go without waiting (:class:`~bridge.archive.writer.ArchiveWriter` is one)."""

    def submit(self, op: WriteOp) -> bool: ...


@dataclass(frozen=True, slots=True)
class CallProfile:
    """What the call runs with, known before it starts (from its CallConfig)."""

    dialplan: str | None = None
    model: str | None = None
    voice: str | None = None
    audio_mode: str | None = None

    @classmethod
    def from_config(cls, config: CallConfig) -> CallProfile:
        session = config.session
        return cls(dialplan=config.dialplan, model=session.model, voice=session.voice, audio_mode=session.audio_mode)


@dataclass(frozen=True, slots=True)
class CallEnd:
    """How the call ended: the reason and the session's totals."""

    reason: str
    usage: Mapping[str, int] = field(default_factory=dict)  # input_tokens, output_tokens, total_tokens
    barge_ins: int = 0
    upstream_errors: int = 0


@dataclass(slots=True)
class _Turn:
    start_ms: int
    end_ms: int | None = None


class CallCapture:
    """One call's archive record, sans-I/O: fed metadata and notes, drained of write operations.

    Nothing is drained before :meth:`start` (or :meth:`finish`, for a call that never started), so the
    ``CreateCall`` always comes first; ``FinishCall`` comes last. Events keep the notes' order (``seq``),
    transcript segments get a ``seq`` per item (writing an item's segment again replaces it).

    Transcript segments are read from ``transcript``, the session's running transcript, when a
    ``transcript`` note says one is complete; a barge-in that cuts an agent item whose segment was
    already written (its reply had been fully generated before it was heard) writes it again, cut.
    Times: an agent segment starts with its first audio and ends when its audio finished playing (the
    playout end when the note came: the reply is complete by then) or, when cut, where the caller
    stopped hearing it. A caller segment spans the caller turn (``speech_started`` to ``speech_stopped``)
    it transcribes; transcriptions arrive in turn order, so turns are matched oldest first, and a
    transcription with no turn to match spans its own moment.
    """

    def __init__(self, call_id: str, started_at: datetime, transcript: Transcript | None = None) -> None:
        self.call_id = call_id
        self.started_at = started_at
        self.transcript = transcript if transcript is not None else Transcript()
        """The session's running transcript (the notes name its items)."""
        self.started = False
        self.finished = False
        self._ops: list[WriteOp] = []
        self._events: list[CallEvent] = []
        self._segments: dict[int, TranscriptSegment] = {}  # seq -> latest version, until drained
        self._tools: list[ToolCall] = []
        self._recording_path: str | None = None
        self._recording_bytes: int | None = None
        self._seq = 0
        self._segment_seqs: dict[tuple[str, Any], int] = {}  # (speaker, item id) -> seq
        self._turns: deque[_Turn] = deque(maxlen=64)
        self._playout_end_ms = 0.0  # when the agent audio sent so far will have finished playing
        self._answered_at_ms: int | None = None
        self._answered_written = False

    # -- feeding ---------------------------------------------------------------------------------

    def start(self, event: CallStarted | None, profile: CallProfile) -> None:
        """The media stream started (``event``; None when it never did and the call is being closed).

        ``profile`` is what the call runs with (known once ``start`` chose the dialplan).
        """
        if self.started:
            return
        self.started = True
        self._ops.append(
            CreateCall(
                id=self.call_id,
                started_at=self.started_at,
                call_sid=(event.call_id or None) if event else None,
                stream_sid=(event.stream_id or None) if event else None,
                from_number=(event.from_number or None) if event else None,
                to_number=(event.to_number or None) if event else None,
                dialplan=profile.dialplan,
                model=profile.model,
                voice=profile.voice,
                audio_mode=profile.audio_mode,
            )
        )
        self._recording_update()

    def recording(self, path: str) -> None:
        """The recording file exists at ``path`` (its final size comes with :meth:`finish`)."""
        self._recording_path = path
        self._recording_update()

    def _recording_update(self) -> None:
        if self._recording_path is None or not self.started:
            return
        fields: dict[str, Any] = {"recording_path": self._recording_path}
        if self.finished and self._recording_bytes is not None:
            fields["recording_bytes"] = self._recording_bytes  # the file opened after the call ended
        self._ops.append(UpdateCall(self.call_id, fields))

    def agent_audio(self, size: int, at_ms: float) -> None:
        """``size`` bytes of agent audio sent at ``at_ms`` (for playout times)."""
        self._playout_end_ms = max(self._playout_end_ms, at_ms) + size / BYTES_PER_MS

    def agent_clear(self, at_ms: float) -> None:
        """Agent audio not yet played by ``at_ms`` was dropped."""
        self._playout_end_ms = min(self._playout_end_ms, at_ms)

    def note(self, note: Note) -> None:
        """One session note: a timeline event, and a transcript segment or tool call when it is one."""
        if self.finished:
            return
        data = note.data
        self._events.append(CallEvent(seq=len(self._events) + self._seq, at_ms=note.at_ms, kind=note.kind, data=data))
        if note.kind == "turn":
            self._turn(data.get("event"), note.at_ms)
        elif note.kind == "barge_in":
            for item in data.get("truncated") or ():
                item_id = item.get("item_id") if isinstance(item, dict) else None
                if ("agent", item_id) in self._segment_seqs:
                    self._agent_segment(str(item_id))
        elif note.kind == "transcript":
            self._transcript(data, note.at_ms)
        elif note.kind == "tool_call" and isinstance(data.get("call_id"), str):
            self._tools.append(_tool_call(data))
        elif note.kind == "session" and data.get("event") == "ready" and self._answered_at_ms is None:
            # Answered: the agent's first session is configured and can hear and speak to the caller.
            self._answered_at_ms = note.at_ms

    def finish(self, end: CallEnd, at_ms: float, *, recording_bytes: int | None = None) -> None:
        """The call is over at ``at_ms``; after the last drain nothing more is recorded."""
        if self.finished:
            return
        self.start(None, CallProfile())
        self.finished = True
        usage = end.usage
        fields: dict[str, Any] = {
            "input_tokens": _int(usage.get("input_tokens")),
            "output_tokens": _int(usage.get("output_tokens")),
            "total_tokens": _int(usage.get("total_tokens")),
            "barge_ins": end.barge_ins,
            "upstream_errors": end.upstream_errors,
        }
        self._recording_bytes = recording_bytes
        if recording_bytes is not None and self._recording_path is not None:
            fields["recording_bytes"] = recording_bytes
        self._batch()
        ended_at = self.started_at + timedelta(milliseconds=max(0.0, at_ms))
        self._ops.append(FinishCall(self.call_id, ended_at, end.reason, fields))

    # -- draining --------------------------------------------------------------------------------

    def operations(self) -> list[WriteOp]:
        """What to write since the last call, in order (nothing before the call started)."""
        if not self.started:
            return []
        if not self.finished:
            self._batch()
        out, self._ops = self._ops, []
        return out

    def _batch(self) -> None:
        if self._answered_at_ms is not None and not self._answered_written:
            self._answered_written = True
            answered_at = self.started_at + timedelta(milliseconds=self._answered_at_ms)
            self._ops.append(UpdateCall(self.call_id, {"answered_at": answered_at}))
        if self._events:
            self._seq += len(self._events)
            self._ops.append(AddEvents(self.call_id, self._events))
            self._events = []
        if self._segments:
            self._ops.append(AddTranscriptSegments(self.call_id, list(self._segments.values())))
            self._segments = {}
        if self._tools:
            self._ops.append(AddToolCalls(self.call_id, self._tools))
            self._tools = []

    # -- notes -----------------------------------------------------------------------------------

    def _turn(self, event: Any, at_ms: int) -> None:
        if event == "speech_started":
            self._turns.append(_Turn(at_ms))
        elif event == "speech_stopped" and self._turns and self._turns[-1].end_ms is None:
            self._turns[-1].end_ms = at_ms

    def _transcript(self, data: Mapping[str, Any], at_ms: int) -> None:
        item_id = data.get("item_id")
        if not isinstance(item_id, str):
            return
        if data.get("speaker") != "caller":
            self._agent_segment(item_id)
            return
        seg = self.transcript.get(item_id)
        if seg is None:
            return
        start, end = at_ms, at_ms
        if self._turns and self._turns[0].end_ms is not None:
            turn = self._turns.popleft()
            start, end = turn.start_ms, turn.end_ms or at_ms
        self._write_segment(seg, start, end)

    def _agent_segment(self, item_id: str) -> None:
        seg = self.transcript.get(item_id)
        if seg is None or seg.speaker != "agent":
            return
        end = seg.end_ms if seg.cut else max(seg.start_ms, round(self._playout_end_ms))
        self._write_segment(seg, seg.start_ms, end)

    def _write_segment(self, seg: Segment, start: int, end: int) -> None:
        seq = self._segment_seqs.setdefault((seg.speaker, seg.item_id), len(self._segment_seqs))
        self._segments[seq] = TranscriptSegment(
            seq=seq,
            speaker=seg.speaker,
            start_ms=start,
            end_ms=end,
            text=seg.text,
            heard_text=seg.heard_text,
            cut=seg.cut,
            item_id=seg.item_id,
        )


def _int(value: Any) -> int:
    """A number from a note, rounded to whole milliseconds or tokens (0 when absent)."""
    return round(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _arguments(text: Any) -> Mapping[str, Any]:
    """The model's arguments as an object; text that is not a JSON object is kept under ``"_raw"``."""
    if not isinstance(text, str):
        return {}
    try:
        value = orjson.loads(text) if text.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def _tool_call(data: Mapping[str, Any]) -> ToolCall:
    status = data.get("status")
    output = data.get("output")
    return ToolCall(
        call_id_model=str(data["call_id"]),
        name=str(data.get("name") or ""),
        arguments=_arguments(data.get("arguments")),
        status=_status(status),
        started_at_ms=_int(data.get("started_at_ms")),
        duration_ms=_int(data.get("duration_ms")),
        output=output if isinstance(output, str) else None,
    )


def _status(value: Any) -> ToolStatus:
    if value == "ok":
        return "ok"
    if value == "timeout":
        return "timeout"
    return "error"


class RecordedSession(Protocol):
    """What the recorder reads of the call's session (:class:`~bridge.call.session.CallSession` is one)."""

    transcript: Transcript
    config: CallConfig


class CallRecorder:
    """Archives one call through ``writer`` and, when its dialplan records, records it to ``{call_id}.wav``.

    Create it in the event loop, call :meth:`start` with the call's session, feed it (the record is
    created when Twilio's ``start`` arrives and the session's configuration is known; the recording file
    is then opened in a worker thread), and ``await finish(...)`` once, whatever way the call ended. The
    feed methods never block and never raise for archive or disk trouble (that is logged; the call goes
    on).

    Args:
        writer: where the operations go (``submit`` only: it never waits).
        recordings_dir: where recordings go (for calls whose configuration says ``record``); None: never.
        started_at: the call's start (UTC); default now.
        flush_interval_ms: call time between two hand-overs to the writer and the file.
    """

    def __init__(
        self,
        writer: ArchiveQueue,
        *,
        recordings_dir: Path | None,
        started_at: datetime | None = None,
        flush_interval_ms: float = FLUSH_INTERVAL_MS,
    ) -> None:
        started = started_at if started_at is not None else datetime.now(UTC)
        self.call_id = new_id(started)
        self._writer = writer
        self._capture = CallCapture(self.call_id, started)
        self._session: RecordedSession | None = None
        self._recordings_dir = recordings_dir
        self._recording: StereoRecording | None = None
        self.path: Path | None = None
        """The recording's file (absolute) once recording, else None."""
        self._interval = flush_interval_ms
        self._next_flush = flush_interval_ms
        self._latest = 0.0
        self._wav: StreamingWavWriter | None = None
        self._broken = False  # a write failed: the file keeps what its last flush covered
        self._io: asyncio.Future[Any] | None = None  # the one file operation in flight
        self._final: asyncio.Future[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, session: RecordedSession) -> None:
        """The call begins: its notes name items of ``session``'s transcript, and its configuration is
        ``session``'s once Twilio's ``start`` arrived. Call once, before feeding."""
        self._session = session
        self._capture.transcript = session.transcript

    async def finish(self, end: CallEnd, at_ms: float) -> None:
        """End the record at ``at_ms``: write what is left, ``FinishCall``, close the file.

        Everything is handed over before the first await, and the file is closed by a task of its own
        that goes on if this coroutine is cancelled, so every exit path leaves a valid WAV.
        """
        if not self._capture.finished:
            at_ms = max(at_ms, self._latest)
            recording_bytes = None
            if self._recording is not None:
                caller, agent = self._recording.finish(at_ms)
                if self._io is not None:  # opened or opening
                    # After a failed write the file's size is whatever reached the disk: not known here.
                    recording_bytes = None if self._broken else wav_size(self._recording.samples)
                    self._final = asyncio.ensure_future(self._close(caller, agent))
            self._capture.finish(end, at_ms, recording_bytes=recording_bytes)
            self._submit()
        await self.wait_closed()

    async def idle(self) -> None:
        """Wait until no file operation is in flight (the open, or the last block written)."""
        if self._io is not None:
            await asyncio.wait({self._io})

    async def wait_closed(self) -> None:
        """Wait until the recording file is closed (after :meth:`finish`, even a cancelled one)."""
        if self._final is not None:
            await asyncio.wait({self._final})

    # -- feeding (hot path) ----------------------------------------------------------------------

    def receive_telephony(self, event: TelephonyEvent, at_ms: float) -> None:
        """An event of the caller's leg: the start and caller frames are kept, the rest is not needed."""
        if isinstance(event, AudioReceived):
            self.caller_audio(event.payload, at_ms, event.timestamp_ms)
        elif isinstance(event, CallStarted):
            self.call_started(event, at_ms)

    def sent_to_caller(self, command: TelephonyCommand, at_ms: float) -> None:
        """A command sent on the caller's leg: agent audio and ``clear`` are kept, the rest is not needed."""
        if isinstance(command, PlayAudio):
            self.agent_audio(command.payload, at_ms)
        elif isinstance(command, ClearPlayback):
            self.agent_clear(at_ms)

    def call_started(self, event: CallStarted, at_ms: float) -> None:
        """Twilio's ``start`` arrived and the session is configured: the record is created, recording starts."""
        if self._session is None or self._capture.started:
            return
        config = self._session.config
        self._capture.start(event, CallProfile.from_config(config))
        self._submit()
        if config.record and self._recordings_dir is not None:
            # The timeline is the call's from its start; nothing was played or heard before ``start``.
            self._recording = StereoRecording()
            self.path = self._recordings_dir.absolute() / f"{self.call_id}.wav"
            self._io = _in_thread(open_wav, self.path)
            self._io.add_done_callback(self._opened)
        self._tick(at_ms)

    def caller_audio(self, payload: bytes, at_ms: float, stream_ms: int | None = None) -> None:
        """A caller frame (mu-law) that arrived at ``at_ms`` (``stream_ms``: the provider's stream clock)."""
        if self._recording is not None:
            self._recording.caller_audio(payload, at_ms, stream_ms)
        self._tick(at_ms)

    def agent_audio(self, payload: bytes, at_ms: float) -> None:
        """Agent audio (mu-law) sent to the caller at ``at_ms``."""
        self._capture.agent_audio(len(payload), at_ms)
        if self._recording is not None:
            self._recording.agent_audio(payload, at_ms)
        self._tick(at_ms)

    def agent_clear(self, at_ms: float) -> None:
        """A ``clear`` sent to the caller at ``at_ms``."""
        self._capture.agent_clear(at_ms)
        if self._recording is not None:
            self._recording.agent_clear(at_ms)
        self._tick(at_ms)

    def observe(self, note: Note) -> None:
        """A session note (use as a :data:`~bridge.call.runner.NoteObserver`)."""
        self._capture.note(note)
        self._tick(float(note.at_ms))

    # -- internals -------------------------------------------------------------------------------

    def _tick(self, at_ms: float) -> None:
        if at_ms > self._latest:
            self._latest = at_ms
        if at_ms >= self._next_flush:
            self._next_flush = at_ms + self._interval
            self._flush()

    def _flush(self) -> None:
        self._submit()
        if self._recording is None or self._wav is None:
            return
        if self._broken:
            # The file stopped growing; the call's audio must not pile up in memory instead.
            self._recording.take(self._latest)
            return
        if self._io is not None and not self._io.done():
            return  # the disk is behind: this block joins the next one
        caller, agent = self._recording.take(self._latest)
        if caller:
            self._io = _in_thread(append_wav, self._wav, caller, agent)
            self._io.add_done_callback(self._written)

    def _submit(self) -> None:
        for op in self._capture.operations():
            self._writer.submit(op)

    def _opened(self, future: asyncio.Future[StreamingWavWriter]) -> None:
        error = _failure(future)
        if error is not None:
            log.error("call %s: cannot record to %s: %s", self.call_id, self.path, error)
            self._recording = None
            return
        self._wav = future.result()
        self._capture.recording(str(self.path))
        self._submit()

    def _written(self, future: asyncio.Future[None]) -> None:
        error = _failure(future)
        if error is not None:
            log.error("call %s: writing the recording %s failed, recording stopped: %s", self.call_id, self.path, error)
            self._broken = True

    async def _close(self, caller: bytes, agent: bytes) -> None:
        await self.idle()  # the open or the last block: one file operation at a time
        wav = self._wav
        if wav is None:
            return
        if self._broken:
            caller = agent = b""
        try:
            await _in_thread(close_wav, wav, caller, agent)
        except OSError as exc:
            log.error("call %s: closing the recording %s failed: %s", self.call_id, self.path, exc)


def _in_thread(func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    # A task of its own: cancelling whoever waits for it never abandons a write half done.
    return asyncio.ensure_future(asyncio.to_thread(func, *args))


def _failure(future: asyncio.Future[Any]) -> BaseException | None:
    if future.cancelled():
        return asyncio.CancelledError()
    return future.exception()
