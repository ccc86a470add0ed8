"""An asyncio client for the OpenAI REST endpoints used after a call: Files, Uploads, Batches, transcriptions.

Wire shapes: shared PROTOCOLS.md section E. Every call retries 429, 5xx and transport failures (connect,
read, write timeouts, dropped connections) with exponential backoff and jitter, honouring ``retry-after-ms``
and ``Retry-After``; what still fails becomes :class:`~bridge.errors.UpstreamError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import mimetypes
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from bridge.errors import ProtocolError, UpstreamError
from bridge.openai_api.retry import Backoff, is_retryable_status, parse_retry_after
from bridge.openai_api.types import Batch, FileDeleted, FileObject, Page, Transcription, Upload, UploadPart

__all__ = ["DEFAULT_BASE_URL", "LARGE_FILE_BYTES", "MAX_PART_BYTES", "OpenAIClient", "TranscriptionFormat"]

log = logging.getLogger("bridge.openai_api")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Above this size ``upload_large`` goes through ``/v1/uploads`` instead of one ``/v1/files`` request.
LARGE_FILE_BYTES = 100 * 1024 * 1024
#: The largest part ``/v1/uploads/{id}/parts`` accepts (PROTOCOLS E.4).
MAX_PART_BYTES = 64 * 1024 * 1024

TranscriptionFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]

# Failures where the request may not have reached the server, or its answer was lost on the way back.
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class OpenAIClient:
    """OpenAI REST over one ``httpx.AsyncClient``.

    Args:
        api_key: sent as ``Authorization: Bearer``; never logged or shown in ``repr``.
        base_url: API root including ``/v1`` (the bundled engine: ``http://host:port/v1``).
        client: an ``httpx.AsyncClient`` to share (tests pass one over ``httpx.MockTransport``); it is
            not closed by :meth:`aclose`. By default the client owns a fresh one.
        max_retries: retries after the first attempt, for 429, 5xx and transport failures.
        timeout_s: per-request timeout (connect, read, write and pool).
        sleep: how to wait between attempts (tests pass a recorder).
        rng: the jitter source (seed it for reproducible delays).
        clock: Unix time, to resolve a ``Retry-After`` given as an HTTP date.
        backoff: the backoff policy (default: :class:`Backoff`'s defaults).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        client: httpx.AsyncClient | None = None,
        max_retries: int = 4,
        timeout_s: float = 60,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._owns_http = client is None
        self._http = httpx.AsyncClient() if client is None else client
        self._max_retries = max_retries
        self._timeout = httpx.Timeout(timeout_s)
        self._sleep = sleep
        self._rng = random.Random() if rng is None else rng
        self._clock = clock
        self._backoff = Backoff() if backoff is None else backoff

    def __repr__(self) -> str:
        return f"OpenAIClient(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> OpenAIClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- Files --------------------------------------------------------------------------------------

    async def upload_file(
        self, data: bytes, filename: str, purpose: str, *, expires_after_s: int | None = None
    ) -> FileObject:
        """``POST /v1/files`` (multipart); ``expires_after_s`` counts from creation (3600..2592000)."""
        fields = {"purpose": purpose}
        if expires_after_s is not None:
            fields["expires_after[anchor]"] = "created_at"
            fields["expires_after[seconds]"] = str(expires_after_s)
        files = {"file": (filename, data, _content_type(filename))}
        return FileObject.parse(await self._json("POST", "/files", data=fields, files=files))

    async def retrieve_file(self, file_id: str) -> FileObject:
        return FileObject.parse(await self._json("GET", f"/files/{_seg(file_id)}"))

    async def file_content(self, file_id: str) -> bytes:
        """The file's bytes (``GET /v1/files/{id}/content``)."""
        return (await self._request("GET", f"/files/{_seg(file_id)}/content")).content

    async def delete_file(self, file_id: str) -> FileDeleted:
        return FileDeleted.parse(await self._json("DELETE", f"/files/{_seg(file_id)}"))

    async def list_files(self, purpose: str | None = None) -> tuple[FileObject, ...]:
        """Every file (optionally of one purpose), newest first, following the cursor to the end."""
        found: list[FileObject] = []
        after: str | None = None
        while True:
            params = {key: value for key, value in (("purpose", purpose), ("after", after)) if value is not None}
            page = Page.parse(await self._json("GET", "/files", params=params), FileObject.parse)
            found.extend(page.data)
            if not page.has_more or page.last_id is None:
                return tuple(found)
            after = page.last_id

    async def upload_large(
        self,
        data: bytes | Path,
        filename: str,
        purpose: str,
        mime_type: str,
        *,
        part_size: int = MAX_PART_BYTES,
        threshold: int = LARGE_FILE_BYTES,
        concurrency: int = 3,
    ) -> FileObject:
        """Upload ``data`` (bytes or a file on disk) as one file, whatever its size.

        Up to ``threshold`` bytes this is one ``POST /v1/files``. Above it: create an Upload, send
        ``part_size`` parts with at most ``concurrency`` in flight (a file is read one part at a time, so
        memory stays near ``concurrency * part_size``), then complete it with the part ids in file order.
        If anything fails the Upload is cancelled (best effort) and the original error is raised.
        """
        if not 0 < part_size <= MAX_PART_BYTES:
            raise ValueError(f"part_size must be in 1..{MAX_PART_BYTES}, got {part_size}")
        size = len(data) if isinstance(data, bytes) else (await asyncio.to_thread(data.stat)).st_size
        if size <= threshold:
            content = data if isinstance(data, bytes) else await asyncio.to_thread(data.read_bytes)
            return await self.upload_file(content, filename, purpose)
        upload = await self.create_upload(size, filename, purpose, mime_type)
        gate = asyncio.Semaphore(concurrency)

        async def send(offset: int) -> str:
            async with gate:
                chunk = await _read_part(data, offset, part_size)
                return (await self.add_upload_part(upload.id, chunk)).id

        tasks = [asyncio.create_task(send(index * part_size)) for index in range(math.ceil(size / part_size))]
        try:
            part_ids = await asyncio.gather(*tasks)
            completed = await self.complete_upload(upload.id, part_ids)
        except Exception:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(UpstreamError, ProtocolError):
                await self.cancel_upload(upload.id)
            raise
        if completed.file is None:
            raise ProtocolError(f"completed upload {upload.id} carries no file", field="file")
        return completed.file

    # -- Uploads ------------------------------------------------------------------------------------

    async def create_upload(
        self, size: int, filename: str, purpose: str, mime_type: str, *, expires_after_s: int | None = None
    ) -> Upload:
        """``POST /v1/uploads`` for ``size`` bytes in total; the Upload expires an hour after creation."""
        body: dict[str, Any] = {"bytes": size, "filename": filename, "purpose": purpose, "mime_type": mime_type}
        if expires_after_s is not None:
            body["expires_after"] = {"anchor": "created_at", "seconds": expires_after_s}
        return Upload.parse(await self._json("POST", "/uploads", json=body))

    async def add_upload_part(self, upload_id: str, data: bytes) -> UploadPart:
        """``POST /v1/uploads/{id}/parts`` with multipart field ``data`` (at most 64 MB)."""
        files = {"data": ("blob", data, "application/octet-stream")}
        return UploadPart.parse(await self._json("POST", f"/uploads/{_seg(upload_id)}/parts", files=files))

    async def complete_upload(self, upload_id: str, part_ids: Sequence[str], *, md5: str | None = None) -> Upload:
        """Join the parts in the order given; the result's ``file`` is the new FileObject."""
        body: dict[str, Any] = {"part_ids": list(part_ids)}
        if md5 is not None:
            body["md5"] = md5
        return Upload.parse(await self._json("POST", f"/uploads/{_seg(upload_id)}/complete", json=body))

    async def cancel_upload(self, upload_id: str) -> Upload:
        return Upload.parse(await self._json("POST", f"/uploads/{_seg(upload_id)}/cancel"))

    # -- Batches ------------------------------------------------------------------------------------

    async def create_batch(
        self,
        input_file_id: str,
        endpoint: str = "/v1/responses",
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
    ) -> Batch:
        """``POST /v1/batches`` over an uploaded ``batch`` JSONL file."""
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
        }
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return Batch.parse(await self._json("POST", "/batches", json=body))

    async def retrieve_batch(self, batch_id: str) -> Batch:
        return Batch.parse(await self._json("GET", f"/batches/{_seg(batch_id)}"))

    async def cancel_batch(self, batch_id: str) -> Batch:
        """Ask to stop a batch: it goes ``cancelling`` and then ``cancelled``."""
        return Batch.parse(await self._json("POST", f"/batches/{_seg(batch_id)}/cancel"))

    async def list_batches(self, after: str | None = None, limit: int = 20) -> Page[Batch]:
        """One page of batches, newest first; pass the page's ``last_id`` as ``after`` for the next."""
        params: dict[str, str | int] = {"limit": limit}
        if after is not None:
            params["after"] = after
        return Page.parse(await self._json("GET", "/batches", params=params), Batch.parse)

    # -- Audio and Responses ------------------------------------------------------------------------

    async def transcribe(
        self,
        audio: bytes,
        filename: str = "audio.wav",
        model: str = "gpt-4o-mini-transcribe",
        *,
        language: str | None = None,
        prompt: str | None = None,
        response_format: TranscriptionFormat = "json",
    ) -> Transcription:
        """``POST /v1/audio/transcriptions`` (PROTOCOLS E.1); the filename's extension names the format."""
        fields = {"model": model, "response_format": response_format}
        if language is not None:
            fields["language"] = language
        if prompt is not None:
            fields["prompt"] = prompt
        files = {"file": (filename, audio, _content_type(filename))}
        response = await self._request("POST", "/audio/transcriptions", data=fields, files=files)
        if response_format in ("json", "verbose_json"):
            return Transcription.parse(_decode(response))
        return Transcription.from_text(response.text)

    async def create_response(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/responses``; ``body`` is also what a ``/v1/responses`` batch line carries."""
        return await self._json("POST", "/responses", json=dict(body))

    # -- Transport ----------------------------------------------------------------------------------

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        decoded = _decode(await self._request(method, path, **kwargs))
        if not isinstance(decoded, dict):
            raise ProtocolError(f"{method} {path}: expected a JSON object, got {type(decoded).__name__}")
        return decoded

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying what may succeed on another try; return a 2xx response."""
        url = self._base_url + path
        retry = 0
        while True:
            try:
                response = await self._http.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    files=files,
                    params=params,
                    headers=self._headers,
                    timeout=self._timeout,
                )
            except _RETRYABLE_TRANSPORT as exc:
                if retry >= self._max_retries:
                    raise UpstreamError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                reason, requested = type(exc).__name__, None
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            else:
                if response.is_success:
                    return response
                if not is_retryable_status(response.status_code) or retry >= self._max_retries:
                    raise _upstream_error(method, path, response)
                reason = f"HTTP {response.status_code}"
                requested = parse_retry_after(
                    response.headers.get("retry-after"), response.headers.get("retry-after-ms"), now=self._clock()
                )
            delay = self._backoff.delay(retry, requested, self._rng)
            retry += 1
            log.warning(
                "%s %s failed (%s); retry %d/%d in %.2f s", method, path, reason, retry, self._max_retries, delay
            )
            await self._sleep(delay)


def _upstream_error(method: str, path: str, response: httpx.Response) -> UpstreamError:
    """Map OpenAI's ``{"error": {"message", "type", "param", "code"}}`` body to UpstreamError.

    ``code`` is the error's ``code``, or its ``type`` when ``code`` is null (OpenAI leaves ``code`` null
    on many 400s and 5xx, where ``type`` still tells ``invalid_request_error`` from ``server_error``).
    """
    message, code = response.text[:500] or response.reason_phrase, None
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        message = str(error.get("message") or message)
        raw_code = error.get("code") or error.get("type")
        code = None if raw_code is None else str(raw_code)
    status = response.status_code
    return UpstreamError(f"{method} {path} -> {status}: {message}", status=status, code=code)


def _decode(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProtocolError(f"{response.request.method} {response.request.url.path}: body is not JSON") from exc


def _seg(identifier: str) -> str:
    """An id as one path segment: never let it add segments or a query."""
    return quote(identifier, safe="")


def _content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


async def _read_part(data: bytes | Path, offset: int, size: int) -> bytes:
    if isinstance(data, bytes):
        return data[offset : offset + size]
    return await asyncio.to_thread(_read_range, data, offset, size)


def _read_range(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(size)
