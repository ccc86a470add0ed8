"""The engine's ``/v1/uploads`` (PROTOCOLS E.4): a large file sent in parts, joined into one File.

An Upload is ``pending`` until completed or cancelled, and ``expired`` once an hour has passed while it
was pending. Parts are kept on disk until completion joins them, in the order of ``part_ids``.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.engine.rest_files import FileStore, StoredFile, check_purpose, expiry_policy
from bridge.engine.rest_http import ApiError, new_id

__all__ = ["MAX_UPLOAD_BYTES", "UPLOAD_TTL_S", "UploadStore"]

MAX_UPLOAD_BYTES = 8 * 1024**3
UPLOAD_TTL_S = 3600


@dataclass(slots=True)
class _Upload:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    mime_type: str
    file_expires_after_s: int | None
    folder: Path
    status: str = "pending"
    parts: dict[str, tuple[Path, int]] = field(default_factory=dict)
    file: StoredFile | None = None

    @property
    def expires_at(self) -> int:
        return self.created_at + UPLOAD_TTL_S

    def status_at(self, now: float) -> str:
        return "expired" if self.status == "pending" and now >= self.expires_at else self.status

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "upload",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status_at(now),
            "file": None if self.file is None else self.file.to_json(),
        }


class UploadStore:
    """Uploads by id, completing into ``files``; ``max_part_bytes`` bounds one part."""

    def __init__(self, root: Path, files: FileStore, *, max_part_bytes: int) -> None:
        self._root = root
        self._files = files
        self._max_part_bytes = max_part_bytes
        self._uploads: dict[str, _Upload] = {}

    def create(self, body: dict[str, Any], *, now: float) -> dict[str, Any]:
        """``POST /v1/uploads``."""
        for name in ("bytes", "filename", "mime_type", "purpose"):
            if body.get(name) is None:
                raise ApiError.missing(name)
        size = body["bytes"]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_UPLOAD_BYTES:
            raise ApiError.invalid("bytes", f"Invalid 'bytes': expected an integer in 1..{MAX_UPLOAD_BYTES}.")
        for name in ("filename", "mime_type"):
            if not isinstance(body[name], str) or not body[name]:
                raise ApiError.invalid(name, f"Invalid '{name}': expected a non-empty string.")
        purpose = check_purpose(body["purpose"])
        expires_after_s = expiry_policy(body.get("expires_after"), "expires_after")
        upload_id = new_id("upload_")
        upload = _Upload(
            id=upload_id,
            bytes=size,
            created_at=int(now),
            filename=body["filename"],
            purpose=purpose,
            mime_type=body["mime_type"],
            file_expires_after_s=expires_after_s,
            folder=self._root / upload_id,
        )
        upload.folder.mkdir(parents=True)
        self._uploads[upload_id] = upload
        return upload.to_json(now)

    async def add_part(self, upload_id: str, data: bytes, *, now: float) -> dict[str, Any]:
        """``POST /v1/uploads/{id}/parts``: store one part."""
        upload = self._pending(upload_id, now)
        if len(data) > self._max_part_bytes:
            raise ApiError.invalid("data", f"Invalid 'data': a part may hold at most {self._max_part_bytes} bytes.")
        part_id = new_id("part_")
        path = upload.folder / part_id
        await asyncio.to_thread(path.write_bytes, data)
        upload.parts[part_id] = (path, len(data))
        return {"id": part_id, "object": "upload.part", "created_at": int(now), "upload_id": upload_id}

    async def complete(self, upload_id: str, body: dict[str, Any], *, now: float) -> dict[str, Any]:
        """``POST /v1/uploads/{id}/complete``: join the listed parts, in order, into a new File."""
        upload = self._pending(upload_id, now)
        part_ids = body.get("part_ids")
        if part_ids is None:
            raise ApiError.missing("part_ids")
        if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
            raise ApiError.invalid("part_ids", "Invalid 'part_ids': expected an array of part ids.")
        unknown = [p for p in part_ids if p not in upload.parts]
        if unknown or len(set(part_ids)) != len(part_ids):
            wrong = unknown[0] if unknown else "a repeated id"
            raise ApiError.invalid("part_ids", f"Invalid 'part_ids': {wrong} is not a distinct part of {upload_id}.")
        paths = [upload.parts[p][0] for p in part_ids]
        total = sum(upload.parts[p][1] for p in part_ids)
        if total != upload.bytes:
            raise ApiError.invalid(
                "part_ids",
                f"The number of bytes uploaded ({total}) does not match the number of bytes expected "
                f"({upload.bytes}) for upload {upload_id}.",
            )
        md5 = body.get("md5")
        if md5 is not None and md5 != await asyncio.to_thread(_md5, paths):
            raise ApiError.invalid("md5", "The md5 checksum does not match the uploaded bytes.")
        upload.file = await self._files.add(
            paths, upload.filename, upload.purpose, now=now, expires_after_s=upload.file_expires_after_s
        )
        upload.status = "completed"
        await asyncio.to_thread(shutil.rmtree, upload.folder)
        return upload.to_json(now)

    async def cancel(self, upload_id: str, *, now: float) -> dict[str, Any]:
        """``POST /v1/uploads/{id}/cancel``: drop the parts; no more parts may be added."""
        upload = self._pending(upload_id, now)
        upload.status = "cancelled"
        await asyncio.to_thread(shutil.rmtree, upload.folder)
        return upload.to_json(now)

    def _pending(self, upload_id: str, now: float) -> _Upload:
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise ApiError.not_found("Upload", upload_id)
        status = upload.status_at(now)
        if status != "pending":
            raise ApiError(400, f"Upload {upload_id} is already {status}.", param="id")
        return upload


def _md5(paths: list[Path]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for path in paths:
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                digest.update(block)
    return digest.hexdigest()
