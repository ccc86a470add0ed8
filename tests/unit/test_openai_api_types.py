from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ProtocolError
from bridge.openai_api import (
    Batch,
    BatchError,
    BatchRequestCounts,
    FileObject,
    Page,
    Transcription,
    TranscriptionSegment,
    Upload,
)

FILE = {
    "id": "file-abc123",
    "object": "file",
    "bytes": 120000,
    "created_at": 1677610602,
    "filename": "calls.jsonl",
    "purpose": "batch",
    "status": "processed",
    "expires_at": 1680202602,
    "status_details": None,
}

FAILED_BATCH = {
    "id": "batch_abc123",
    "object": "batch",
    "endpoint": "/v1/responses",
    "model": None,
    "errors": {
        "object": "list",
        "data": [{"code": "duplicate_custom_id", "message": "again", "param": "custom_id", "line": 2}],
    },
    "input_file_id": "file-abc123",
    "completion_window": "24h",
    "status": "failed",
    "output_file_id": None,
    "error_file_id": None,
    "created_at": 1711471533,
    "in_progress_at": None,
    "expires_at": 1711557933,
    "finalizing_at": None,
    "completed_at": None,
    "failed_at": 1711471534,
    "expired_at": None,
    "cancelling_at": None,
    "cancelled_at": None,
    "request_counts": {"total": 0, "completed": 0, "failed": 0},
    "metadata": {"call_id": "CA1"},
}


def test_file_object_keeps_its_body() -> None:
    parsed = FileObject.parse(FILE)
    assert (parsed.id, parsed.bytes, parsed.purpose, parsed.expires_at) == ("file-abc123", 120000, "batch", 1680202602)
    assert parsed.raw == FILE


def test_batch_reads_errors_counts_stamps_and_metadata() -> None:
    batch = Batch.parse(FAILED_BATCH)
    assert batch.status == "failed" and batch.done
    assert batch.errors == (BatchError("duplicate_custom_id", "again", "custom_id", 2),)
    assert batch.request_counts == BatchRequestCounts(total=0, completed=0, failed=0)
    assert (batch.failed_at, batch.completed_at, batch.expires_at) == (1711471534, None, 1711557933)
    assert batch.metadata == {"call_id": "CA1"}
    assert batch.raw == FAILED_BATCH


def test_batch_minimal_body_and_done() -> None:
    body: dict[str, Any] = {
        "id": "batch_1",
        "object": "batch",
        "endpoint": "/v1/responses",
        "input_file_id": "file-1",
        "completion_window": "24h",
        "status": "in_progress",
        "created_at": 1,
    }
    batch = Batch.parse(body)
    assert batch.errors == () and batch.request_counts is None and batch.metadata == {}
    assert not batch.done


def test_upload_with_nested_file() -> None:
    body = {
        "id": "upload_1",
        "object": "upload",
        "bytes": 120000,
        "created_at": 1,
        "expires_at": 3601,
        "filename": "calls.jsonl",
        "purpose": "batch",
        "status": "completed",
        "file": FILE,
    }
    upload = Upload.parse(body)
    assert upload.file == FileObject.parse(FILE)
    assert upload.raw == body


def test_page_parses_its_items() -> None:
    body = {"object": "list", "data": [FILE], "first_id": "file-abc123", "last_id": "file-abc123", "has_more": False}
    page = Page.parse(body, FileObject.parse)
    assert page.data == (FileObject.parse(FILE),) and not page.has_more and page.last_id == "file-abc123"


def test_verbose_transcription() -> None:
    body = {
        "task": "transcribe",
        "language": "english",
        "duration": 2.4,
        "text": "What are your opening hours?",
        "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 2.4, "text": "What are your opening hours?"}],
        "usage": {"type": "duration", "seconds": 3},
    }
    parsed = Transcription.parse(body)
    assert parsed.segments == (TranscriptionSegment(0, 0.0, 2.4, "What are your opening hours?"),)
    assert (parsed.language, parsed.duration, parsed.usage_seconds) == ("english", 2.4, 3.0)


def test_token_usage_has_no_seconds() -> None:
    body = {"text": "hi", "usage": {"type": "tokens", "input_tokens": 5, "output_tokens": 1, "total_tokens": 6}}
    assert Transcription.parse(body).usage_seconds is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**FILE, "bytes": "12"}, "bytes"),
        ({**FILE, "bytes": True}, "bytes"),
        ({k: v for k, v in FILE.items() if k != "id"}, "id"),
        ({**FILE, "expires_at": "soon"}, "expires_at"),
    ],
)
def test_wrong_fields_raise_protocol_error_naming_them(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        FileObject.parse(body)
    assert caught.value.field == field


def test_a_non_object_is_refused() -> None:
    with pytest.raises(ProtocolError, match="expected a JSON object"):
        Batch.parse([FAILED_BATCH])
