"""The engine's offline OpenAI REST peer: Files, Uploads, Batches, Responses and audio transcriptions.

It speaks the wire format of shared PROTOCOLS.md section E over real HTTP, validates what it is sent and
answers errors in OpenAI's ``{"error": {...}}`` shape (401 missing or wrong bearer, 404 unknown id, 400
invalid request, 413 oversize body), so :class:`bridge.openai_api.OpenAIClient` (or the official SDK)
works against it unchanged with ``base_url=<server>/v1``.

- ``/v1/files``: :mod:`bridge.engine.rest_files` (contents under ``data_dir/files``).
- ``/v1/uploads``: :mod:`bridge.engine.rest_uploads`.
- ``/v1/batches``: :mod:`bridge.engine.rest_batches` (progress computed from ``clock``, ``batch_pace_s``
  seconds per status; lines run against ``/v1/responses``).
- ``/v1/responses``: :mod:`bridge.engine.rest_responses`, answered by :mod:`bridge.engine.brain`.
- ``/v1/audio/transcriptions``: :mod:`bridge.engine.rest_audio` and a recognizer (default
  :func:`bridge.engine.recognizer.transcribe`).

State lives as long as the app. ``rest_routes`` returns the routes (all under ``/v1/``) for mounting beside
the Realtime engine; ``create_rest_app`` serves them alone. ``faults`` (a :class:`FaultPlan`) is a test
hook that makes chosen requests fail, e.g. with 429 and ``Retry-After``, to exercise client retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.engine import rest_audio
from bridge.engine.config import Recognizer
from bridge.engine.recognizer import transcribe
from bridge.engine.rest_batches import BatchStore
from bridge.engine.rest_files import FileStore, check_purpose, expiry_seconds
from bridge.engine.rest_http import (
    ApiError,
    FaultPlan,
    endpoint,
    int_param,
    json_body,
    json_response,
    multipart_body,
)
from bridge.engine.rest_responses import create_response
from bridge.engine.rest_uploads import UploadStore

__all__ = ["FaultPlan", "RestLimits", "create_rest_app", "rest_routes"]

# Room for the multipart envelope (boundaries, part headers, small fields) around a file's bytes.
_ENVELOPE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RestLimits:
    """Size limits in bytes (PROTOCOLS E); tests shrink them to exercise the 400/413 paths cheaply."""

    file_bytes: int = 512 * 1024 * 1024
    batch_input_bytes: int = 200 * 1024 * 1024
    part_bytes: int = 64 * 1024 * 1024
    audio_bytes: int = rest_audio.MAX_AUDIO_BYTES
    json_bytes: int = 16 * 1024 * 1024


class _RestApi:
    def __init__(
        self,
        data_dir: Path,
        *,
        batch_pace_s: float,
        clock: Callable[[], float],
        recognizer: Recognizer,
        limits: RestLimits,
    ) -> None:
        self._clock = clock
        self._limits = limits
        self._recognizer = recognizer
        self.files = FileStore(data_dir / "files")
        self.uploads = UploadStore(data_dir / "uploads", self.files, max_part_bytes=limits.part_bytes)
        self.batches = BatchStore(self.files, lambda body, now: create_response(body, now=now), pace_s=batch_pace_s)

    async def _now(self) -> float:
        """The time of this request, with every batch brought up to it (so its files exist)."""
        now = self._clock()
        await self.batches.settle(now)
        return now

    # -- Files --

    async def create_file(self, request: Request) -> Response:
        form = await multipart_body(request, self._limits.file_bytes + _ENVELOPE_BYTES)
        now = await self._now()
        part = form.get("file")
        if part is None or part.filename is None:
            raise ApiError.missing("file")
        raw_purpose = form.text("purpose")
        if raw_purpose is None:
            raise ApiError.missing("purpose")
        purpose = check_purpose(raw_purpose)
        if len(part.data) > self._limits.file_bytes:
            raise ApiError.too_large(self._limits.file_bytes, len(part.data))
        anchor, seconds = form.text("expires_after[anchor]"), form.text("expires_after[seconds]")
        expires_after_s = None
        if anchor is not None or seconds is not None:
            expires_after_s = expiry_seconds(anchor, seconds, "expires_after")
        if purpose == "batch":
            if not part.filename.endswith(".jsonl"):
                raise ApiError.invalid("file", "Invalid file format for Batch API. Must be .jsonl")
            if len(part.data) > self._limits.batch_input_bytes:
                limit = self._limits.batch_input_bytes
                raise ApiError.invalid("file", f"Batch input files may be at most {limit} bytes.")
        stored = await self.files.add(part.data, part.filename, purpose, now=now, expires_after_s=expires_after_s)
        return json_response(stored.to_json())

    async def list_files(self, request: Request) -> Response:
        now = await self._now()
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError.invalid("order", "Invalid 'order': expected 'asc' or 'desc'.")
        page = self.files.page(
            now=now,
            purpose=request.query_params.get("purpose"),
            after=request.query_params.get("after"),
            limit=int_param(request, "limit", 10_000, 1, 10_000),
            order=order,
        )
        return json_response(page)

    async def retrieve_file(self, request: Request) -> Response:
        now = await self._now()
        return json_response(self.files.get(request.path_params["file_id"], now=now).to_json())

    async def delete_file(self, request: Request) -> Response:
        now = await self._now()
        return json_response(self.files.delete(request.path_params["file_id"], now=now))

    async def file_content(self, request: Request) -> Response:
        now = await self._now()
        content = await self.files.content(request.path_params["file_id"], now=now)
        return Response(content, media_type="application/octet-stream")

    # -- Uploads --

    async def create_upload(self, request: Request) -> Response:
        body = await json_body(request, self._limits.json_bytes)
        return json_response(self.uploads.create(body, now=await self._now()))

    async def add_upload_part(self, request: Request) -> Response:
        form = await multipart_body(request, self._limits.part_bytes + _ENVELOPE_BYTES)
        part = form.get("data")
        if part is None:
            raise ApiError.missing("data")
        upload_id = request.path_params["upload_id"]
        return json_response(await self.uploads.add_part(upload_id, part.data, now=await self._now()))

    async def complete_upload(self, request: Request) -> Response:
        body = await json_body(request, self._limits.json_bytes)
        upload_id = request.path_params["upload_id"]
        return json_response(await self.uploads.complete(upload_id, body, now=await self._now()))

    async def cancel_upload(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        return json_response(await self.uploads.cancel(upload_id, now=await self._now()))

    # -- Batches --

    async def create_batch(self, request: Request) -> Response:
        body = await json_body(request, self._limits.json_bytes)
        return json_response(await self.batches.create(body, now=await self._now()))

    async def retrieve_batch(self, request: Request) -> Response:
        now = await self._now()
        return json_response(self.batches.get(request.path_params["batch_id"], now=now))

    async def cancel_batch(self, request: Request) -> Response:
        now = await self._now()
        return json_response(self.batches.cancel(request.path_params["batch_id"], now=now))

    async def list_batches(self, request: Request) -> Response:
        now = await self._now()
        after = request.query_params.get("after")
        limit = int_param(request, "limit", 20, 1, 100)
        return json_response(self.batches.page(now=now, after=after, limit=limit))

    # -- Responses and audio --

    async def responses(self, request: Request) -> Response:
        body = await json_body(request, self._limits.json_bytes)
        return json_response(create_response(body, now=await self._now()))

    async def transcriptions(self, request: Request) -> Response:
        form = await multipart_body(request, self._limits.audio_bytes)
        part = form.get("file")
        if part is None:
            raise ApiError.missing("file")
        response_format = form.text("response_format") or "json"
        rest_audio.check_request(part.filename or "", form.text("model"), response_format)
        pcm, rate = await asyncio.to_thread(rest_audio.load_audio, part.data)
        text = await asyncio.to_thread(self._recognizer, pcm, rate)
        body, media_type = rest_audio.render(text, len(pcm) / 2 / rate, response_format)
        if isinstance(body, str):
            return Response(body, media_type=media_type)
        return json_response(body)

    def routes(self, *, api_key: str | None, faults: FaultPlan | None) -> list[BaseRoute]:
        wrap = partial(endpoint, api_key=api_key, faults=faults)
        table = [
            ("/v1/files", "POST", self.create_file),
            ("/v1/files", "GET", self.list_files),
            ("/v1/files/{file_id}", "GET", self.retrieve_file),
            ("/v1/files/{file_id}", "DELETE", self.delete_file),
            ("/v1/files/{file_id}/content", "GET", self.file_content),
            ("/v1/uploads", "POST", self.create_upload),
            ("/v1/uploads/{upload_id}/parts", "POST", self.add_upload_part),
            ("/v1/uploads/{upload_id}/complete", "POST", self.complete_upload),
            ("/v1/uploads/{upload_id}/cancel", "POST", self.cancel_upload),
            ("/v1/batches", "POST", self.create_batch),
            ("/v1/batches", "GET", self.list_batches),
            ("/v1/batches/{batch_id}", "GET", self.retrieve_batch),
            ("/v1/batches/{batch_id}/cancel", "POST", self.cancel_batch),
            ("/v1/responses", "POST", self.responses),
            ("/v1/audio/transcriptions", "POST", self.transcriptions),
        ]
        return [Route(path, wrap(handler), methods=[method]) for path, method, handler in table]


def rest_routes(
    data_dir: Path,
    *,
    api_key: str | None = None,
    batch_pace_s: float = 1.0,
    clock: Callable[[], float] = time.time,
    faults: FaultPlan | None = None,
    recognizer: Recognizer = transcribe,
    limits: RestLimits | None = None,
) -> list[BaseRoute]:
    """The REST routes (paths ``/v1/...``) over one shared state, for mounting in another Starlette app.

    Args:
        data_dir: where file contents and upload parts are kept (created if missing).
        api_key: the one bearer token accepted; None accepts any non-empty token (a bearer is still
            required, as on the real API).
        batch_pace_s: seconds a batch spends in each status; 0 finishes it at creation.
        clock: Unix time in seconds (tests pass a fake they advance).
        faults: test hook, see :class:`FaultPlan`.
        recognizer: ``(pcm16_mono, rate) -> text``, run in a worker thread; default: the bundled
            PocketSphinx English model (:func:`bridge.engine.recognizer.transcribe`).
        limits: size limits (default: the real API's).
    """
    api = _RestApi(
        data_dir,
        batch_pace_s=batch_pace_s,
        clock=clock,
        recognizer=recognizer,
        limits=RestLimits() if limits is None else limits,
    )
    return api.routes(api_key=api_key, faults=faults)


def create_rest_app(
    data_dir: Path,
    *,
    api_key: str | None = None,
    batch_pace_s: float = 1.0,
    clock: Callable[[], float] = time.time,
    faults: FaultPlan | None = None,
    recognizer: Recognizer = transcribe,
    limits: RestLimits | None = None,
) -> Starlette:
    """A Starlette app serving :func:`rest_routes` alone; unknown URLs get OpenAI's 404 body."""
    routes = rest_routes(
        data_dir,
        api_key=api_key,
        batch_pace_s=batch_pace_s,
        clock=clock,
        faults=faults,
        recognizer=recognizer,
        limits=limits,
    )
    return Starlette(routes=routes, exception_handlers={404: _invalid_url, 405: _invalid_url})


async def _invalid_url(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return ApiError(status, f"Invalid URL ({request.method} {request.url.path})").response()
