"""What the archive holds, as plain frozen dataclasses: calls, their timeline, transcript and tool calls, jobs.

These are the values the store returns and the rows it is given. Writes are expressed as operations
(:data:`WriteOp`) so that :class:`~bridge.archive.writer.ArchiveWriter` can queue them and the store can
apply a batch of them in one transaction.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "CALL_UPDATABLE_FIELDS",
    "ID_PATTERN",
    "AddEvents",
    "AddToolCalls",
    "AddTranscriptSegments",
    "Call",
    "CallEvent",
    "CreateCall",
    "FinishCall",
    "Job",
    "JobItem",
    "Source",
    "Speaker",
    "ToolCall",
    "ToolStatus",
    "TranscriptSegment",
    "UpdateCall",
    "WriteOp",
    "format_timestamp",
    "new_id",
]

Speaker = Literal["caller", "agent"]
Source = Literal["live", "post"]
ToolStatus = Literal["ok", "error", "timeout"]

# Ids are ours (see new_id) but any short URL-safe token is accepted, so tests and imports can pick their own.
ID_PATTERN = re.compile(r"[0-9A-Za-z_-]{1,64}")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(now: datetime | None = None) -> str:
    """A 26-character ULID-style id: 48-bit millisecond time then 80 random bits, Crockford base32.

    Ids made later sort after ids made earlier (to the millisecond), so they make good tie-breakers.
    """
    moment = now if now is not None else datetime.now(UTC)
    value = (int(moment.timestamp() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``: the one timestamp form the API emits."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


@dataclass(frozen=True, slots=True)
class Call:
    """One archived call. Times are timezone-aware UTC; counters start at zero."""

    id: str
    started_at: datetime
    call_sid: str | None = None
    stream_sid: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    dialplan: str | None = None
    model: str | None = None
    voice: str | None = None
    audio_mode: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    duration_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    barge_ins: int = 0
    upstream_errors: int = 0
    # Where the recorder wrote the stereo WAV: absolute, or relative to the bridge's working directory.
    recording_path: str | None = None
    recording_bytes: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The API form: everything except the server-side recording path."""
        return {
            "id": self.id,
            "call_sid": self.call_sid,
            "stream_sid": self.stream_sid,
            "from": self.from_number,
            "to": self.to_number,
            "dialplan": self.dialplan,
            "model": self.model,
            "voice": self.voice,
            "audio_mode": self.audio_mode,
            "started_at": format_timestamp(self.started_at),
            "answered_at": _ts(self.answered_at),
            "ended_at": _ts(self.ended_at),
            "end_reason": self.end_reason,
            "duration_s": self.duration_s,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "barge_ins": self.barge_ins,
            "upstream_errors": self.upstream_errors,
            "has_recording": self.recording_path is not None,
            "recording_bytes": self.recording_bytes,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One timeline entry; ``seq`` orders a call's events and makes rewrites idempotent."""

    seq: int
    at_ms: int  # call-relative milliseconds
    kind: str  # session, turn, barge_in, tool_call, error, ...
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at_ms": self.at_ms, "kind": self.kind, "data": dict(self.data)}


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    """One utterance. ``(source, seq)`` identifies it within its call; writing it again replaces it.

    For an agent segment cut by barge-in, ``text`` is what the model said, ``heard_text`` what the caller
    actually heard and ``cut`` is true; otherwise ``heard_text`` is None.
    """

    seq: int
    speaker: Speaker
    start_ms: int
    end_ms: int
    text: str
    source: Source = "live"
    heard_text: str | None = None
    cut: bool = False
    item_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "speaker": self.speaker,
            "source": self.source,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "text": self.text,
            "heard_text": self.heard_text,
            "cut": self.cut,
            "item_id": self.item_id,
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool invocation; ``call_id_model`` is the model's ``call_...`` id (unique within the call)."""

    call_id_model: str
    name: str
    arguments: Mapping[str, Any]
    status: ToolStatus
    started_at_ms: int  # call-relative milliseconds
    duration_ms: int | None = None
    output: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id_model": self.call_id_model,
            "name": self.name,
            "arguments": dict(self.arguments),
            "status": self.status,
            "started_at_ms": self.started_at_ms,
            "duration_ms": self.duration_ms,
            "output": self.output,
        }


@dataclass(frozen=True, slots=True)
class Job:
    """A post-call batch or transcription job; ``status`` and ``kind`` belong to the jobs module."""

    id: str
    kind: str
    status: str
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    prompt: str | None = None
    filter: Mapping[str, Any] = field(default_factory=dict)
    total: int = 0
    done: int = 0
    failed: int = 0
    remote_ids: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"input_file": "file-..", "batch": "batch_.."}
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobItem:
    """One call inside a job."""

    job_id: str
    call_id: str
    status: str
    result: Mapping[str, Any] | None = None
    error: str | None = None


# ---- write operations: what the live path queues and the store applies in batches ----

CALL_UPDATABLE_FIELDS = frozenset(
    {
        "call_sid",
        "stream_sid",
        "from_number",
        "to_number",
        "dialplan",
        "model",
        "voice",
        "audio_mode",
        "answered_at",
        "ended_at",
        "end_reason",
        "duration_s",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "barge_ins",
        "upstream_errors",
        "recording_path",
        "recording_bytes",
        "metadata",
    }
)


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - CALL_UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"not updatable call fields: {', '.join(sorted(unknown))}")


@dataclass(frozen=True, slots=True)
class CreateCall:
    """Insert a call (a no-op when the id exists, so a retried batch cannot duplicate it)."""

    id: str
    started_at: datetime
    call_sid: str | None = None
    stream_sid: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    dialplan: str | None = None
    model: str | None = None
    voice: str | None = None
    audio_mode: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpdateCall:
    """Set some of a call's fields (names from :data:`CALL_UPDATABLE_FIELDS`; ValueError otherwise)."""

    call_id: str
    fields: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_fields(self.fields)


@dataclass(frozen=True, slots=True)
class FinishCall:
    """Mark a call ended; ``duration_s`` is computed from ``started_at`` unless given in ``fields``."""

    call_id: str
    ended_at: datetime
    end_reason: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fields(self.fields)


@dataclass(frozen=True, slots=True)
class AddEvents:
    """Append timeline events (an existing ``seq`` is kept, so retries are harmless)."""

    call_id: str
    events: Sequence[CallEvent]


@dataclass(frozen=True, slots=True)
class AddTranscriptSegments:
    """Write transcript segments; one with an existing ``(source, seq)`` replaces the stored one."""

    call_id: str
    segments: Sequence[TranscriptSegment]


@dataclass(frozen=True, slots=True)
class AddToolCalls:
    """Write tool calls; one with an existing ``call_id_model`` replaces the stored one."""

    call_id: str
    tool_calls: Sequence[ToolCall]


WriteOp = CreateCall | UpdateCall | FinishCall | AddEvents | AddTranscriptSegments | AddToolCalls
