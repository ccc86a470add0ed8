from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.types import Message

from bridge.engine.rest_http import ApiError, Form, FormPart, multipart_body


def encoded(data: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A body and content type exactly as httpx (the client's library) encodes them."""
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.read(), request.headers["content-type"]


async def parse(body: bytes, content_type: str, limit: int = 1 << 20, chunk: int = 7) -> Form:
    """``multipart_body`` over an in-memory request whose body arrives in ``chunk``-byte pieces."""
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages: list[Message] = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1} for i, piece in enumerate(pieces)
    ]
    delivered: list[Message] = []

    async def receive() -> Message:
        message = messages.pop(0)
        delivered.append(message)
        return message

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", content_type.encode())]}
    try:
        return await multipart_body(Request(scope, receive), limit)
    finally:
        assert not messages, "the whole body is read, also when it is refused"


async def test_parses_what_httpx_sends() -> None:
    payload = b"\r\n--not-the-boundary\r\n\x00\xff" * 100
    body, content_type = encoded({"purpose": "batch", "model": "whisper-1"}, {"file": ("in.jsonl", payload, "x/y")})
    form = await parse(body, content_type)
    assert form.get("file") == FormPart("file", payload, "in.jsonl")
    assert form.text("purpose") == "batch" and form.text("model") == "whisper-1"
    assert form.get("missing") is None and form.text("missing") is None


async def test_a_repeated_field_keeps_the_last_value_and_order() -> None:
    body = (
        b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
        b'--B\r\nContent-Disposition: form-data; name="a"\r\n\r\n2\r\n--B--\r\n'
    )
    form = await parse(body, 'multipart/form-data; boundary="B"')
    assert [p.text for p in form.parts] == ["1", "2"] and form.text("a") == "2"


async def test_utf8_names_and_filenames_are_decoded() -> None:
    body, content_type = encoded({"note": "café"}, {"file": ("café.wav", b"RIFF", "audio/wav")})
    form = await parse(body, content_type)
    assert form.get("file") == FormPart("file", b"RIFF", "café.wav")
    assert form.text("note") == "café"


async def test_an_empty_form() -> None:
    assert (await parse(b"--B--\r\n", "multipart/form-data; boundary=B")).parts == ()


async def test_a_field_may_fill_the_whole_limit() -> None:
    # Starlette's default refuses a non-file field over 1 MiB; the engine's limits are the only bound.
    value = "x" * (2 << 20)
    body, content_type = encoded({"big": value}, {"file": ("a.bin", b"\x00", "x/y")})
    form = await parse(body, content_type, limit=len(body), chunk=1 << 16)
    assert form.text("big") == value


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"--B--", "application/json", "expected multipart/form-data with a boundary"),
        (b"--B--", "multipart/form-data", "expected multipart/form-data with a boundary"),
        (b"--B--", "multipart/form-data; boundary=", "expected multipart/form-data with a boundary"),
        (b"nothing here", "multipart/form-data; boundary=B", "Invalid multipart data."),
        (b"", "multipart/form-data; boundary=B", "the body is not closed by its boundary"),
        (b"--Bxx", "multipart/form-data; boundary=B", "Invalid multipart data."),
        (
            b"--B\r\nContent-Disposition: form-data; name=a\r\n",
            "multipart/form-data; boundary=B",
            "the body is not closed by its boundary",
        ),
        (
            b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1",
            "multipart/form-data; boundary=B",
            "the body is not closed by its boundary",
        ),
        (
            b"--B\r\nContent-Type: text/plain\r\n\r\n1\r\n--B--",
            "multipart/form-data; boundary=B",
            'The Content-Disposition header field "name" must be provided.',
        ),
    ],
)
async def test_malformed_bodies_are_openai_style_400s(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(ApiError) as caught:
        await parse(body, content_type)
    error = caught.value
    assert (error.status, error.message) == (400, f"Invalid multipart/form-data body: {reason}")
    assert error.body()["error"]["type"] == "invalid_request_error"


async def test_an_oversize_body_is_413_even_when_malformed() -> None:
    body, content_type = encoded({"purpose": "batch"}, {"file": ("in.jsonl", b"x" * 100, "x/y")})
    with pytest.raises(ApiError) as caught:
        await parse(body, content_type, limit=len(body) - 1)
    assert (caught.value.status, caught.value.message) == (
        413,
        f"Maximum content size limit ({len(body) - 1}) exceeded ({len(body)} bytes read)",
    )
    with pytest.raises(ApiError) as caught:
        await parse(b"garbage" * 10, "application/json", limit=20)
    assert caught.value.status == 413
