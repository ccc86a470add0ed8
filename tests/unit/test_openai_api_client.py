from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.errors import UpstreamError
from bridge.openai_api import Backoff, OpenAIClient

KEY = "sk-test-secret-key-1234"
BASE = "https://api.example.test/v1"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@dataclass
class Field:
    data: bytes
    filename: str | None
    content_type: str


def form_fields(request: httpx.Request) -> dict[str, Field]:
    """The multipart fields of a request, parsed by the stdlib (independent of the engine's parser)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    assert message.is_multipart()
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        fields[name] = Field(payload, part.get_filename(), part.get_content_type())
    return fields


def file_json(file_id: str = "file-abc", purpose: str = "user_data", size: int = 5) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": 1700000000,
        "filename": "a.txt",
        "purpose": purpose,
        "status": "processed",
        "expires_at": None,
    }


def upload_json(status: str = "pending", file: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "upload_1",
        "object": "upload",
        "bytes": 10,
        "created_at": 1700000000,
        "expires_at": 1700003600,
        "filename": "big.bin",
        "purpose": "batch",
        "status": status,
        "file": file,
    }


def batch_json(batch_id: str = "batch_1", status: str = "validating") -> dict[str, Any]:
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/responses",
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": status,
        "created_at": 1700000000,
        "request_counts": {"total": 2, "completed": 0, "failed": 0},
        "metadata": {"call": "c1"},
    }


class Recorder:
    """A MockTransport handler answering from a script, recording every request and every sleep."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, **kwargs: Any) -> OpenAIClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return OpenAIClient(KEY, BASE, client=http, sleep=self.sleep, **kwargs)


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def error(status: int, code: str | None, type_: str = "invalid_request_error", **headers: str) -> httpx.Response:
    body = {"error": {"message": f"failure {status}", "type": type_, "param": None, "code": code}}
    return httpx.Response(status, json=body, headers=headers)


async def test_upload_file_sends_multipart_with_bearer_and_expiry() -> None:
    rec = Recorder(ok(file_json(purpose="batch")))
    result = await rec.client().upload_file(b"line\n", "in.jsonl", "batch", expires_after_s=7200)
    (request,) = rec.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/files"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    fields = form_fields(request)
    assert set(fields) == {"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"}
    assert fields["file"].data == b"line\n"
    assert fields["file"].filename == "in.jsonl"
    assert fields["purpose"].data == b"batch"
    assert fields["expires_after[anchor]"].data == b"created_at"
    assert fields["expires_after[seconds]"].data == b"7200"
    assert result.id == "file-abc" and result.purpose == "batch"
    assert result.raw == file_json(purpose="batch")


async def test_upload_file_without_expiry_sends_only_file_and_purpose() -> None:
    rec = Recorder(ok(file_json()))
    await rec.client().upload_file(b"hello", "a.txt", "user_data")
    fields = form_fields(rec.requests[0])
    assert set(fields) == {"file", "purpose"}
    assert fields["file"].content_type == "text/plain"


async def test_file_retrieve_content_delete_use_their_paths() -> None:
    rec = Recorder(
        ok(file_json()),
        httpx.Response(200, content=b"\x00raw bytes"),
        ok({"id": "file-abc", "object": "file", "deleted": True}),
    )
    client = rec.client()
    assert (await client.retrieve_file("file-abc")).bytes == 5
    assert await client.file_content("file-abc") == b"\x00raw bytes"
    deleted = await client.delete_file("file-abc")
    assert deleted.deleted and deleted.id == "file-abc"
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("GET", "/v1/files/file-abc"),
        ("GET", "/v1/files/file-abc/content"),
        ("DELETE", "/v1/files/file-abc"),
    ]


async def test_ids_cannot_escape_their_path_segment() -> None:
    rec = Recorder(ok(file_json()))
    await rec.client().retrieve_file("../batches?x=1")
    assert rec.requests[0].url.raw_path == b"/v1/files/..%2Fbatches%3Fx%3D1"


async def test_list_files_follows_the_cursor() -> None:
    page1 = {
        "object": "list",
        "data": [file_json("file-1"), file_json("file-2")],
        "has_more": True,
        "first_id": "file-1",
        "last_id": "file-2",
    }
    page2 = {
        "object": "list",
        "data": [file_json("file-3")],
        "has_more": False,
        "first_id": "file-3",
        "last_id": "file-3",
    }
    rec = Recorder(ok(page1), ok(page2))
    files = await rec.client().list_files(purpose="batch")
    assert [f.id for f in files] == ["file-1", "file-2", "file-3"]
    assert [dict(r.url.params) for r in rec.requests] == [{"purpose": "batch"}, {"purpose": "batch", "after": "file-2"}]


async def test_upload_endpoints_send_their_bodies() -> None:
    part = {"id": "part_1", "object": "upload.part", "created_at": 1700000000, "upload_id": "upload_1"}
    done = upload_json("completed", file_json(size=10))
    rec = Recorder(ok(upload_json()), ok(part), ok(done), ok(upload_json("cancelled")))
    client = rec.client()
    created = await client.create_upload(10, "big.bin", "batch", "application/jsonl", expires_after_s=3600)
    added = await client.add_upload_part("upload_1", b"0123456789")
    completed = await client.complete_upload("upload_1", ["part_1"], md5="abc")
    cancelled = await client.cancel_upload("upload_1")
    create, add, complete, cancel = rec.requests
    assert json.loads(create.content) == {
        "bytes": 10,
        "filename": "big.bin",
        "purpose": "batch",
        "mime_type": "application/jsonl",
        "expires_after": {"anchor": "created_at", "seconds": 3600},
    }
    assert add.url.path == "/v1/uploads/upload_1/parts"
    assert form_fields(add)["data"].data == b"0123456789"
    assert json.loads(complete.content) == {"part_ids": ["part_1"], "md5": "abc"}
    assert (cancel.method, cancel.url.path) == ("POST", "/v1/uploads/upload_1/cancel")
    assert created.status == "pending" and added.id == "part_1" and added.upload_id == "upload_1"
    assert completed.file is not None and completed.file.bytes == 10
    assert cancelled.status == "cancelled"


class UploadServer:
    """A scripted /v1/uploads peer for upload_large: records parts, can fail one, tracks concurrency.

    With ``hold`` and ``release`` set, parts wait until three are in flight, and the part carrying
    ``hold`` is answered only after the part carrying ``release``.
    """

    def __init__(self, fail_part: int | None = None, hold: bytes | None = None, release: bytes | None = None) -> None:
        self.fail_part = fail_part
        self.hold = hold
        self.release = release
        self.parts: dict[str, bytes] = {}
        self.answered: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[str] = []
        self.completed_with: list[str] = []
        self.three_in_flight = asyncio.Event()
        self.released = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(path)
        if path == "/v1/uploads":
            return ok(upload_json())
        if path.endswith("/parts"):
            return await self.part(form_fields(request)["data"].data)
        if path.endswith("/complete"):
            self.completed_with = json.loads(request.content)["part_ids"]
            joined = b"".join(self.parts[p] for p in self.completed_with)
            return ok(upload_json("completed", file_json(size=len(joined))))
        if path.endswith("/cancel"):
            return ok(upload_json("cancelled"))
        return ok(file_json(size=len(form_fields(request)["file"].data)))

    async def part(self, data: bytes) -> httpx.Response:
        index = len(self.parts)  # arrival order
        part_id = f"part_{index}"
        self.parts[part_id] = data
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.hold is not None:
            if self.in_flight == 3:
                self.three_in_flight.set()
            await self.three_in_flight.wait()
            if data == self.hold:
                await self.released.wait()
        self.in_flight -= 1
        self.answered.append(part_id)
        if data == self.release:
            self.released.set()
        if index == self.fail_part:
            return error(500, None, "server_error")
        return ok({"id": part_id, "object": "upload.part", "created_at": 1, "upload_id": "upload_1"})


def upload_client(server: UploadServer) -> OpenAIClient:
    async def no_sleep(seconds: float) -> None:
        return None

    http = httpx.AsyncClient(transport=httpx.MockTransport(server.handle))
    return OpenAIClient(KEY, BASE, client=http, sleep=no_sleep, max_retries=0)


async def test_upload_large_small_data_goes_to_files() -> None:
    server = UploadServer()
    result = await upload_client(server).upload_large(b"x" * 10, "a.bin", "user_data", "application/octet-stream")
    assert server.calls == ["/v1/files"] and result.bytes == 10


async def test_upload_large_sends_bounded_concurrent_parts_and_completes_in_file_order() -> None:
    chunks = [b"a" * 300, b"b" * 300, b"c" * 300, b"d" * 100]
    server = UploadServer(hold=chunks[0], release=chunks[3])
    data = b"".join(chunks)
    async with asyncio.timeout(5):  # safety net: a wrong concurrency bound would leave the parts waiting
        result = await upload_client(server).upload_large(
            data, "big.bin", "batch", "application/jsonl", part_size=300, threshold=100, concurrency=3
        )
    assert server.calls[0] == "/v1/uploads" and server.calls[-1] == "/v1/uploads/upload_1/complete"
    answered = [server.parts[p] for p in server.answered]
    assert answered.index(chunks[0]) > answered.index(chunks[3])  # the first chunk was answered after the last...
    assert [server.parts[p] for p in server.completed_with] == chunks  # ...and still completes first
    assert server.max_in_flight == 3
    assert result.bytes == 1000


async def test_upload_large_reads_a_path_part_by_part(tmp_path: Path) -> None:
    server = UploadServer()
    path = tmp_path / "recording.bin"
    data = bytes(range(256)) * 5
    path.write_bytes(data)
    await upload_client(server).upload_large(path, "rec.bin", "user_data", "audio/wav", part_size=500, threshold=1000)
    assert b"".join(server.parts[p] for p in server.completed_with) == data


async def test_upload_large_cancels_the_upload_when_a_part_fails() -> None:
    server = UploadServer(fail_part=1)
    with pytest.raises(UpstreamError) as caught:
        await upload_client(server).upload_large(
            b"y" * 900, "big.bin", "batch", "application/jsonl", part_size=300, threshold=100
        )
    assert caught.value.status == 500
    assert server.calls[-1] == "/v1/uploads/upload_1/cancel"
    assert "/v1/uploads/upload_1/complete" not in server.calls


async def test_upload_large_refuses_parts_over_64_mb() -> None:
    with pytest.raises(ValueError, match="part_size"):
        await Recorder().client().upload_large(b"x", "a", "batch", "x", part_size=64 * 1024 * 1024 + 1)


async def test_batch_calls() -> None:
    listing = {
        "object": "list",
        "data": [batch_json("batch_2"), batch_json("batch_1")],
        "has_more": True,
        "first_id": "batch_2",
        "last_id": "batch_1",
    }
    rec = Recorder(
        ok(batch_json()), ok(batch_json(status="in_progress")), ok(batch_json(status="cancelling")), ok(listing)
    )
    client = rec.client()
    created = await client.create_batch("file-in", metadata={"call": "c1"})
    retrieved = await client.retrieve_batch("batch_1")
    cancelled = await client.cancel_batch("batch_1")
    page = await client.list_batches(after="batch_9", limit=2)
    create, get, cancel, listed = rec.requests
    assert json.loads(create.content) == {
        "input_file_id": "file-in",
        "endpoint": "/v1/responses",
        "completion_window": "24h",
        "metadata": {"call": "c1"},
    }
    assert (get.method, get.url.path) == ("GET", "/v1/batches/batch_1")
    assert (cancel.method, cancel.url.path) == ("POST", "/v1/batches/batch_1/cancel")
    assert (listed.url.path, dict(listed.url.params)) == ("/v1/batches", {"limit": "2", "after": "batch_9"})
    assert created.metadata == {"call": "c1"} and created.request_counts is not None
    assert retrieved.status == "in_progress" and not retrieved.done
    assert cancelled.status == "cancelling"
    assert [b.id for b in page.data] == ["batch_2", "batch_1"] and page.has_more and page.last_id == "batch_1"


async def test_transcribe_sends_the_e1_fields() -> None:
    body = {"text": "What are your opening hours?", "usage": {"type": "duration", "seconds": 3}}
    rec = Recorder(ok(body))
    result = await rec.client().transcribe(b"RIFFdata", "call.wav", language="en", prompt="Acme")
    fields = form_fields(rec.requests[0])
    assert rec.requests[0].url.path == "/v1/audio/transcriptions"
    assert set(fields) == {"file", "model", "response_format", "language", "prompt"}
    assert fields["file"].filename == "call.wav" and fields["file"].content_type in ("audio/wav", "audio/x-wav")
    assert fields["file"].data == b"RIFFdata"
    assert fields["model"].data == b"gpt-4o-mini-transcribe"
    assert fields["response_format"].data == b"json"
    assert (fields["language"].data, fields["prompt"].data) == (b"en", b"Acme")
    assert result.text == "What are your opening hours?" and result.usage_seconds == 3.0
    assert result.raw == body


async def test_transcribe_plain_text_formats_return_the_body_verbatim() -> None:
    srt = "1\n00:00:00,000 --> 00:00:02,400\nhello\n\n"
    rec = Recorder(httpx.Response(200, text=srt))
    result = await rec.client().transcribe(b"RIFF", model="whisper-1", response_format="srt")
    assert form_fields(rec.requests[0])["response_format"].data == b"srt"
    assert result.text == srt and result.raw is None


async def test_create_response_posts_json() -> None:
    rec = Recorder(ok({"id": "resp_1", "object": "response"}))
    result = await rec.client().create_response({"model": "gpt-5-mini", "input": "hi"})
    assert json.loads(rec.requests[0].content) == {"model": "gpt-5-mini", "input": "hi"}
    assert rec.requests[0].url.path == "/v1/responses"
    assert result == {"id": "resp_1", "object": "response"}


async def test_429_with_retry_after_seconds_waits_as_told() -> None:
    rec = Recorder(error(429, "rate_limit_exceeded", "requests", **{"retry-after": "3"}), ok(file_json()))
    result = await rec.client().retrieve_file("file-abc")
    assert rec.sleeps == [3.0] and len(rec.requests) == 2 and result.id == "file-abc"


async def test_retry_after_ms_wins_over_retry_after() -> None:
    rec = Recorder(error(429, "rate_limit_exceeded", **{"retry-after": "3", "retry-after-ms": "250"}), ok(file_json()))
    await rec.client().retrieve_file("file-abc")
    assert rec.sleeps == [0.25]


async def test_retry_after_http_date_is_measured_against_the_clock() -> None:
    rec = Recorder(error(503, None, **{"retry-after": "Wed, 21 Oct 2015 07:28:05 GMT"}), ok(file_json()))
    await rec.client(clock=lambda: 1445412480.0).retrieve_file("file-abc")  # 07:28:00 GMT
    assert rec.sleeps == [5.0]


async def test_500_then_200_backs_off_with_jitter_from_the_injected_rng() -> None:
    rec = Recorder(error(500, None, "server_error"), ok(file_json()))
    await rec.client(rng=random.Random(7)).retrieve_file("file-abc")
    assert rec.sleeps == [Backoff().delay(0, None, random.Random(7))]
    assert 0.375 <= rec.sleeps[0] <= 0.5


async def test_exhausted_retries_raise_the_last_error_with_growing_delays() -> None:
    rec = Recorder(*[error(503, None, "server_error") for _ in range(5)])
    with pytest.raises(UpstreamError) as caught:
        await rec.client(max_retries=4, backoff=Backoff(jitter=0.0)).retrieve_file("file-abc")
    assert len(rec.requests) == 5
    assert rec.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert caught.value.status == 503 and caught.value.code == "server_error"
    assert "failure 503" in str(caught.value)


async def test_backoff_is_capped() -> None:
    rec = Recorder(*[error(502, None, "server_error") for _ in range(7)])
    with pytest.raises(UpstreamError):
        await rec.client(max_retries=6, backoff=Backoff(jitter=0.0, max_s=3.0)).retrieve_file("f")
    assert rec.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


async def test_client_errors_are_not_retried_and_map_the_openai_body() -> None:
    rec = Recorder(error(404, None), ok(file_json()))
    with pytest.raises(UpstreamError) as caught:
        await rec.client().retrieve_file("file-missing")
    assert len(rec.requests) == 1 and rec.sleeps == []
    assert caught.value.status == 404
    assert caught.value.code == "invalid_request_error"  # code is null: the type stands in
    assert str(caught.value) == "GET /files/file-missing -> 404: failure 404"


async def test_error_code_is_taken_from_the_body() -> None:
    rec = Recorder(error(401, "invalid_api_key"))
    with pytest.raises(UpstreamError) as caught:
        await rec.client().list_batches()
    assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


async def test_a_non_json_error_body_still_maps() -> None:
    rec = Recorder(httpx.Response(400, text="<html>bad gateway</html>"))
    with pytest.raises(UpstreamError) as caught:
        await rec.client().retrieve_batch("batch_1")
    assert caught.value.status == 400 and caught.value.code is None
    assert "<html>bad gateway</html>" in str(caught.value)


async def test_transport_errors_are_retried_then_raised_with_no_status() -> None:
    rec = Recorder(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
    )
    with pytest.raises(UpstreamError) as caught:
        await rec.client(max_retries=2).retrieve_file("file-abc")
    assert caught.value.status is None and caught.value.code is None
    assert len(rec.requests) == 3 and len(rec.sleeps) == 2
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_a_read_timeout_then_success_returns_the_result() -> None:
    rec = Recorder(httpx.ReadTimeout("slow"), ok(file_json()))
    assert (await rec.client().retrieve_file("file-abc")).id == "file-abc"
    assert len(rec.sleeps) == 1


async def test_the_key_is_never_logged_nor_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder(error(429, "rate_limit_exceeded"), httpx.ConnectError("refused"), ok(file_json()))
    client = rec.client()
    await client.retrieve_file("file-abc")
    ours = [record.getMessage() for record in caplog.records if record.name == "bridge.openai_api"]
    assert ours == [
        "GET /files/file-abc failed (HTTP 429); retry 1/4 in " + ours[0].rsplit(" in ", 1)[1],
        "GET /files/file-abc failed (ConnectError); retry 2/4 in " + ours[1].rsplit(" in ", 1)[1],
    ]
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert KEY not in repr(client)


async def test_owned_http_client_is_closed_and_shared_one_is_not() -> None:
    shared = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok({})))
    async with OpenAIClient(KEY, client=shared):
        pass
    assert not shared.is_closed
    await shared.aclose()
    owned = OpenAIClient(KEY)
    await owned.aclose()
    assert owned._http.is_closed
