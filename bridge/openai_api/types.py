"""Typed, immutable views of OpenAI REST objects (shared PROTOCOLS.md section E).

Each class is built from the JSON body with ``parse()`` and keeps that body as ``raw``, so nothing the
server sent is lost and ``X.parse(body).raw == body``. Parsing reads the fields the bridge relies on and
raises :class:`~bridge.errors.ProtocolError` (naming the field) when one is missing or of the wrong type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bridge.errors import ProtocolError

__all__ = [
    "Batch",
    "BatchError",
    "BatchRequestCounts",
    "FileDeleted",
    "FileObject",
    "Page",
    "Transcription",
    "TranscriptionSegment",
    "Upload",
    "UploadPart",
]

T = TypeVar("T")
JSON = Mapping[str, Any]


def _get(body: JSON, key: str, kind: type[T], where: str) -> T:
    value = body.get(key)
    # bool is an int subclass: a boolean where a count belongs is still a wrong type.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"{where}: expected {kind.__name__} at {key!r}, got {value!r}", field=key)
    return value


def _opt(body: JSON, key: str, kind: type[T], where: str) -> T | None:
    return None if body.get(key) is None else _get(body, key, kind, where)


def _number(body: JSON, key: str, where: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"{where}: expected a number at {key!r}, got {value!r}", field=key)
    return float(value)


def _object(body: object, where: str) -> JSON:
    if not isinstance(body, Mapping):
        raise ProtocolError(f"{where}: expected a JSON object, got {type(body).__name__}")
    return body


@dataclass(frozen=True, slots=True)
class FileObject:
    """A stored file (``file-…``); ``purpose`` includes ``batch_output`` for batch results."""

    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str | None
    expires_at: int | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def parse(cls, body: object) -> FileObject:
        b = _object(body, "file")
        return cls(
            id=_get(b, "id", str, "file"),
            bytes=_get(b, "bytes", int, "file"),
            created_at=_get(b, "created_at", int, "file"),
            filename=_get(b, "filename", str, "file"),
            purpose=_get(b, "purpose", str, "file"),
            status=_opt(b, "status", str, "file"),
            expires_at=_opt(b, "expires_at", int, "file"),
            raw=b,
        )


@dataclass(frozen=True, slots=True)
class FileDeleted:
    """The answer to ``DELETE /v1/files/{id}``."""

    id: str
    deleted: bool
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def parse(cls, body: object) -> FileDeleted:
        b = _object(body, "file deletion")
        return cls(id=_get(b, "id", str, "file deletion"), deleted=_get(b, "deleted", bool, "file deletion"), raw=b)


@dataclass(frozen=True, slots=True)
class Upload:
    """A multi-part upload (``upload_…``); ``file`` is set once it is completed."""

    id: str
    bytes: int
    created_at: int
    expires_at: int
    filename: str
    purpose: str
    status: str
    file: FileObject | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def parse(cls, body: object) -> Upload:
        b = _object(body, "upload")
        nested = b.get("file")
        return cls(
            id=_get(b, "id", str, "upload"),
            bytes=_get(b, "bytes", int, "upload"),
            created_at=_get(b, "created_at", int, "upload"),
            expires_at=_get(b, "expires_at", int, "upload"),
            filename=_get(b, "filename", str, "upload"),
            purpose=_get(b, "purpose", str, "upload"),
            status=_get(b, "status", str, "upload"),
            file=None if nested is None else FileObject.parse(nested),
            raw=b,
        )


@dataclass(frozen=True, slots=True)
class UploadPart:
    """One part of an upload (``part_…``)."""

    id: str
    created_at: int
    upload_id: str
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def parse(cls, body: object) -> UploadPart:
        b = _object(body, "upload part")
        return cls(
            id=_get(b, "id", str, "upload part"),
            created_at=_get(b, "created_at", int, "upload part"),
            upload_id=_get(b, "upload_id", str, "upload part"),
            raw=b,
        )


@dataclass(frozen=True, slots=True)
class BatchRequestCounts:
    total: int
    completed: int
    failed: int


@dataclass(frozen=True, slots=True)
class BatchError:
    """One validation error of a batch's input file; ``line`` is 1-based when given."""

    code: str | None
    message: str | None
    param: str | None
    line: int | None


_BATCH_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch (``batch_…``). Terminal statuses: completed, failed, expired, cancelled."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    created_at: int
    output_file_id: str | None
    error_file_id: str | None
    errors: tuple[BatchError, ...]
    request_counts: BatchRequestCounts | None
    metadata: Mapping[str, str]
    in_progress_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    expires_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    raw: JSON = field(repr=False, compare=False)

    @property
    def done(self) -> bool:
        """True once the batch will not change status any more."""
        return self.status in _BATCH_TERMINAL

    @classmethod
    def parse(cls, body: object) -> Batch:
        b = _object(body, "batch")
        errors = b.get("errors") or {}
        error_rows = _object(errors, "batch.errors").get("data") or []
        counts = b.get("request_counts")
        stamps = {
            key: _opt(b, key, int, "batch")
            for key in (
                "in_progress_at",
                "finalizing_at",
                "completed_at",
                "failed_at",
                "expired_at",
                "expires_at",
                "cancelling_at",
                "cancelled_at",
            )
        }
        return cls(
            id=_get(b, "id", str, "batch"),
            endpoint=_get(b, "endpoint", str, "batch"),
            input_file_id=_get(b, "input_file_id", str, "batch"),
            completion_window=_get(b, "completion_window", str, "batch"),
            status=_get(b, "status", str, "batch"),
            created_at=_get(b, "created_at", int, "batch"),
            output_file_id=_opt(b, "output_file_id", str, "batch"),
            error_file_id=_opt(b, "error_file_id", str, "batch"),
            errors=tuple(_batch_error(row) for row in error_rows),
            request_counts=None if counts is None else _request_counts(counts),
            metadata=dict(b.get("metadata") or {}),
            raw=b,
            **stamps,
        )


def _batch_error(row: object) -> BatchError:
    r = _object(row, "batch error")
    return BatchError(
        code=_opt(r, "code", str, "batch error"),
        message=_opt(r, "message", str, "batch error"),
        param=_opt(r, "param", str, "batch error"),
        line=_opt(r, "line", int, "batch error"),
    )


def _request_counts(body: object) -> BatchRequestCounts:
    c = _object(body, "request_counts")
    where = "request_counts"
    return BatchRequestCounts(
        total=_get(c, "total", int, where),
        completed=_get(c, "completed", int, where),
        failed=_get(c, "failed", int, where),
    )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor list: pass ``last_id`` as ``after`` to get the next one."""

    data: tuple[T, ...]
    has_more: bool
    first_id: str | None
    last_id: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def parse(cls, body: object, item: Callable[[object], T]) -> Page[T]:
        b = _object(body, "list")
        rows = _get(b, "data", list, "list")
        return cls(
            data=tuple(item(row) for row in rows),
            has_more=bool(b.get("has_more", False)),
            first_id=_opt(b, "first_id", str, "list"),
            last_id=_opt(b, "last_id", str, "list"),
            raw=b,
        )


@dataclass(frozen=True, slots=True)
class TranscriptionSegment:
    id: int
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcription:
    """A transcription (PROTOCOLS E.1).

    For ``json`` and ``verbose_json`` the fields come from the JSON body and ``raw`` holds it; for
    ``text``, ``srt`` and ``vtt`` the server answers plain text: ``text`` is that body verbatim and
    ``raw`` is None. ``usage_seconds`` is the billed duration when the server reports duration usage.
    """

    text: str
    language: str | None
    duration: float | None
    segments: tuple[TranscriptionSegment, ...]
    usage_seconds: float | None
    raw: JSON | None = field(repr=False, compare=False)

    @classmethod
    def parse(cls, body: object) -> Transcription:
        b = _object(body, "transcription")
        usage = b.get("usage")
        seconds = None
        if isinstance(usage, Mapping) and usage.get("type") == "duration":
            seconds = _number(usage, "seconds", "transcription.usage")
        return cls(
            text=_get(b, "text", str, "transcription"),
            language=_opt(b, "language", str, "transcription"),
            duration=None if b.get("duration") is None else _number(b, "duration", "transcription"),
            segments=tuple(_segment(row) for row in b.get("segments") or []),
            usage_seconds=seconds,
            raw=b,
        )

    @classmethod
    def from_text(cls, body: str) -> Transcription:
        """A plain-text answer (``text``, ``srt``, ``vtt``)."""
        return cls(text=body, language=None, duration=None, segments=(), usage_seconds=None, raw=None)


def _segment(row: object) -> TranscriptionSegment:
    s = _object(row, "segment")
    return TranscriptionSegment(
        id=_get(s, "id", int, "segment"),
        start=_number(s, "start", "segment"),
        end=_number(s, "end", "segment"),
        text=_get(s, "text", str, "segment"),
    )
