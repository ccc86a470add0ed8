"""The official openai SDK against the engine's REST peer: its requests are understood, and the raw
answers validate against the SDK's own generated models (wire truth nobody here wrote)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types import Batch, FileDeleted, FileObject, Upload
from openai.types.audio import Transcription, TranscriptionVerbose
from openai.types.responses import Response
from openai.types.uploads import UploadPart
from pydantic import BaseModel

from tests.integration.engine_rest_peer import KEY, Peer, running_peer

PACE = 5.0


@pytest.fixture
async def sdk(tmp_path: Path) -> AsyncIterator[tuple[Peer, openai.AsyncOpenAI]]:
    def recognizer(pcm16: bytes, rate: int) -> str:
        return "opening hours"

    async with running_peer(tmp_path, batch_pace_s=PACE, recognizer=recognizer) as peer:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=peer.base_url, max_retries=0)
        try:
            yield peer, client
        finally:
            await client.close()


def strict(model: type[BaseModel], raw: Any) -> Any:
    """Validate the raw JSON body with the SDK model (the SDK itself builds its objects leniently)."""
    body = raw.http_response.json()
    model.model_validate(body)
    return body


async def test_files_and_uploads(sdk: tuple[Peer, openai.AsyncOpenAI]) -> None:
    _, client = sdk
    created = strict(
        FileObject,
        await client.files.with_raw_response.create(
            file=("calls.jsonl", b'{"a": 1}\n', "application/jsonl"),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 3600},
        ),
    )
    assert created["expires_at"] == created["created_at"] + 3600
    strict(FileObject, await client.files.with_raw_response.retrieve(created["id"]))
    assert (await client.files.content(created["id"])).content == b'{"a": 1}\n'
    listed = [f.id async for f in client.files.list(purpose="batch")]
    assert listed == [created["id"]]
    strict(FileDeleted, await client.files.with_raw_response.delete(created["id"]))

    upload = strict(
        Upload,
        await client.uploads.with_raw_response.create(
            bytes=6, filename="a.jsonl", mime_type="application/jsonl", purpose="batch"
        ),
    )
    part_ids = [
        strict(UploadPart, await client.uploads.parts.with_raw_response.create(upload["id"], data=chunk))["id"]
        for chunk in (b"{}\n", b"[]\n")
    ]
    done = strict(Upload, await client.uploads.with_raw_response.complete(upload["id"], part_ids=part_ids))
    assert done["status"] == "completed" and done["file"]["bytes"] == 6
    cancelled_upload = await client.uploads.create(bytes=1, filename="b", mime_type="x", purpose="user_data")
    strict(Upload, await client.uploads.with_raw_response.cancel(cancelled_upload.id))


async def test_batches_and_responses(sdk: tuple[Peer, openai.AsyncOpenAI]) -> None:
    peer, client = sdk
    line = {
        "custom_id": "c1",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": "gpt-5-mini", "input": "Thanks, that is all. Goodbye.", "instructions": "Summarize."},
    }
    source = await client.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
    batch = strict(
        Batch,
        await client.batches.with_raw_response.create(
            input_file_id=source.id, endpoint="/v1/responses", completion_window="24h", metadata={"k": "v"}
        ),
    )
    for _ in range(3):
        peer.clock.advance(PACE)
    done = strict(Batch, await client.batches.with_raw_response.retrieve(batch["id"]))
    assert done["status"] == "completed"
    (row,) = (await client.files.content(done["output_file_id"])).text.splitlines()
    Response.model_validate(json.loads(row)["response"]["body"])
    assert [b.id async for b in client.batches.list(limit=5)] == [batch["id"]]

    other = await client.batches.create(input_file_id=source.id, endpoint="/v1/responses", completion_window="24h")
    cancelled = strict(Batch, await client.batches.with_raw_response.cancel(other.id))
    assert cancelled["status"] == "cancelling"

    response = strict(
        Response,
        await client.responses.with_raw_response.create(
            model="gpt-5-mini", input=[{"role": "user", "content": "Hello there."}]
        ),
    )
    assert response["output_text"] == "You said: Hello there."
    parsed = await client.responses.create(model="gpt-5-mini", input="Hi.")
    assert parsed.output_text == "You said: Hi."


async def test_transcriptions(sdk: tuple[Peer, openai.AsyncOpenAI], shared_audio: Path) -> None:
    _, client = sdk
    audio = (shared_audio / "caller-opening-hours.wav").read_bytes()
    plain = strict(
        Transcription,
        await client.audio.transcriptions.with_raw_response.create(
            file=("call.wav", audio, "audio/wav"), model="gpt-4o-mini-transcribe"
        ),
    )
    assert plain == {"text": "opening hours", "usage": {"type": "duration", "seconds": 3}}
    verbose = strict(
        TranscriptionVerbose,
        await client.audio.transcriptions.with_raw_response.create(
            file=("call.wav", audio, "audio/wav"), model="whisper-1", response_format="verbose_json"
        ),
    )
    assert verbose["duration"] == 2.401  # 19,205 samples at 8 kHz
    srt = await client.audio.transcriptions.create(
        file=("call.wav", audio, "audio/wav"), model="whisper-1", response_format="srt"
    )
    assert srt == "1\n00:00:00,000 --> 00:00:02,401\nopening hours\n\n"


async def test_errors_become_the_sdk_exceptions(sdk: tuple[Peer, openai.AsyncOpenAI]) -> None:
    peer, client = sdk
    with pytest.raises(openai.NotFoundError) as missing:
        await client.files.retrieve("file-nope")
    assert missing.value.body == {
        "message": "No such File object: file-nope",
        "type": "invalid_request_error",
        "param": "id",
        "code": None,
    }
    with pytest.raises(openai.BadRequestError) as bad:
        await client.responses.create(model="gpt-5-mini")
    assert bad.value.code == "missing_required_parameter" and bad.value.param == "input"
    peer.faults.fail("/v1/batches", 429, {"retry-after": "0"})
    with pytest.raises(openai.RateLimitError) as limited:
        await client.batches.list()
    assert limited.value.code == "rate_limit_exceeded"
    wrong = openai.AsyncOpenAI(api_key="sk-wrong", base_url=peer.base_url, max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError):
            await wrong.files.list()
    finally:
        await wrong.close()
