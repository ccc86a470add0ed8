"""The engine's file store behind ``/v1/files`` (PROTOCOLS E.2): contents on disk, metadata in memory.

The store lives as long as its app: contents go under ``root`` (one file per id), the FileObjects stay in
memory. Expired files (``expires_at`` reached) disappear on the next access, as on the real API.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.engine.rest_http import ApiError, cursor_page, new_id

__all__ = [
    "BATCH_DEFAULT_EXPIRY_S",
    "EXPIRY_MAX_S",
    "EXPIRY_MIN_S",
    "FILE_PURPOSES",
    "FileStore",
    "StoredFile",
    "check_purpose",
    "expiry_policy",
    "expiry_seconds",
]

#: Purposes a client may upload with; ``batch_output`` is only ever made by the server.
FILE_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
EXPIRY_MIN_S = 3600
EXPIRY_MAX_S = 2_592_000
#: ``batch`` files expire after 30 days unless told otherwise (PROTOCOLS E.2).
BATCH_DEFAULT_EXPIRY_S = 30 * 86_400


def check_purpose(purpose: object) -> str:
    """``purpose`` when a client may upload with it, else 400."""
    if purpose not in FILE_PURPOSES:
        raise ApiError.invalid("purpose", f"Invalid 'purpose': expected one of {', '.join(sorted(FILE_PURPOSES))}.")
    return str(purpose)


def expiry_seconds(anchor: object, seconds: object, param: str) -> int:
    """Validate an ``expires_after`` policy (anchor ``created_at``, 3600..2592000 s); return the seconds."""
    if anchor != "created_at":
        raise ApiError.invalid(f"{param}.anchor", f"Invalid '{param}.anchor': expected 'created_at'.")
    try:
        value = int(str(seconds))
    except ValueError:
        value = 0
    if not EXPIRY_MIN_S <= value <= EXPIRY_MAX_S:
        raise ApiError.invalid(
            f"{param}.seconds",
            f"Invalid '{param}.seconds': expected an integer between {EXPIRY_MIN_S} and {EXPIRY_MAX_S}.",
        )
    return value


def expiry_policy(policy: object, param: str) -> int | None:
    """The seconds of a JSON ``{"anchor", "seconds"}`` policy named ``param``, None when absent; else 400."""
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise ApiError.invalid(param, f"Invalid '{param}': expected an object.")
    return expiry_seconds(policy.get("anchor"), policy.get("seconds"), param)


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    expires_at: int | None
    path: Path

    def to_json(self) -> dict[str, Any]:
        """The FileObject."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": self.expires_at,
            "status_details": None,
        }


class FileStore:
    """Files by id; ``now`` (Unix seconds) comes from the caller's clock on every call."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, StoredFile] = {}

    async def add(
        self, source: bytes | Sequence[Path], filename: str, purpose: str, *, now: float, expires_after_s: int | None
    ) -> StoredFile:
        """Store ``source`` (bytes, or files to join in order) as a new file."""
        file_id = new_id("file-")
        path = self._root / file_id
        size = await asyncio.to_thread(_write, path, source)
        created = int(now)
        if expires_after_s is None and purpose == "batch":
            expires_after_s = BATCH_DEFAULT_EXPIRY_S
        stored = StoredFile(
            id=file_id,
            bytes=size,
            created_at=created,
            filename=filename,
            purpose=purpose,
            expires_at=None if expires_after_s is None else created + expires_after_s,
            path=path,
        )
        self._files[file_id] = stored
        return stored

    def get(self, file_id: str, *, now: float) -> StoredFile:
        """The live file with this id, or 404."""
        stored = self._files.get(file_id)
        if stored is not None and stored.expires_at is not None and now >= stored.expires_at:
            self._remove(stored)
            stored = None
        if stored is None:
            raise ApiError.not_found("File", file_id)
        return stored

    async def content(self, file_id: str, *, now: float) -> bytes:
        return await asyncio.to_thread(self.get(file_id, now=now).path.read_bytes)

    def delete(self, file_id: str, *, now: float) -> dict[str, Any]:
        self._remove(self.get(file_id, now=now))
        return {"id": file_id, "object": "file", "deleted": True}

    def page(self, *, now: float, purpose: str | None, after: str | None, limit: int, order: str) -> dict[str, Any]:
        """One cursor page of live files, ``order`` ``desc`` (newest first) or ``asc``."""
        for stored in list(self._files.values()):
            if stored.expires_at is not None and now >= stored.expires_at:
                self._remove(stored)
        rows = [f.to_json() for f in self._files.values() if purpose is None or f.purpose == purpose]
        # The dict keeps creation order, which also orders files created within the same second.
        if order == "desc":
            rows.reverse()
        return cursor_page(rows, after, limit)

    def _remove(self, stored: StoredFile) -> None:
        del self._files[stored.id]
        stored.path.unlink(missing_ok=True)


def _write(path: Path, source: bytes | Sequence[Path]) -> int:
    if isinstance(source, bytes):
        path.write_bytes(source)
        return len(source)
    with path.open("wb") as out:
        for part in source:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 1024 * 1024)
        return out.tell()
