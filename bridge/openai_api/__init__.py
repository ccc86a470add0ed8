"""An httpx client for OpenAI's REST endpoints used after a call (Files, Uploads, Batches, transcriptions)."""

from __future__ import annotations

from bridge.openai_api.client import (
    DEFAULT_BASE_URL,
    LARGE_FILE_BYTES,
    MAX_PART_BYTES,
    OpenAIClient,
    TranscriptionFormat,
)
from bridge.openai_api.retry import Backoff
from bridge.openai_api.types import (
    Batch,
    BatchError,
    BatchRequestCounts,
    FileDeleted,
    FileObject,
    Page,
    Transcription,
    TranscriptionSegment,
    Upload,
    UploadPart,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "LARGE_FILE_BYTES",
    "MAX_PART_BYTES",
    "Backoff",
    "Batch",
    "BatchError",
    "BatchRequestCounts",
    "FileDeleted",
    "FileObject",
    "OpenAIClient",
    "Page",
    "Transcription",
    "TranscriptionFormat",
    "TranscriptionSegment",
    "Upload",
    "UploadPart",
]
