"""OpenAIClient against the engine's REST peer over loopback: the flows post-call jobs rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.engine.rest import RestLimits
from bridge.errors import UpstreamError
from tests.integration.engine_rest_peer import running_peer


async def test_upload_large_goes_through_uploads_and_reads_a_path(tmp_path: Path) -> None:
    source = tmp_path / "recording.jsonl"
    data = b"".join(json.dumps({"n": i}).encode() + b"\n" for i in range(400))
    source.write_bytes(data)
    async with running_peer(tmp_path / "peer") as peer, peer.client() as client:
        stored = await client.upload_large(
            source, "recording.jsonl", "batch", "application/jsonl", part_size=1000, threshold=2000
        )
        assert stored.bytes == len(data) and stored.purpose == "batch"
        assert await client.file_content(stored.id) == data
        small = await client.upload_large(b"tiny", "tiny.txt", "user_data", "text/plain", threshold=2000)
        assert await client.file_content(small.id) == b"tiny"
        assert not any((peer.data_dir / "uploads").iterdir())  # completed uploads leave no parts behind


async def test_upload_large_cancels_when_the_peer_refuses_a_part(tmp_path: Path) -> None:
    async with running_peer(tmp_path, limits=RestLimits(part_bytes=500)) as peer, peer.client() as client:
        with pytest.raises(UpstreamError, match="at most 500 bytes") as caught:
            await client.upload_large(b"z" * 3000, "a.bin", "user_data", "x/y", part_size=1000, threshold=100)
        assert caught.value.status == 400
        assert not any((peer.data_dir / "uploads").iterdir())  # cancelled: parts dropped
        assert await client.list_files() == ()


async def test_a_summary_batch_from_upload_to_results(tmp_path: Path) -> None:
    transcript = "Caller: Hi, I would like to check the status of my order please. Agent: Sure, it ships Monday."
    line = {
        "custom_id": "call-CA123-summary",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": "gpt-5-mini", "instructions": "Summarize this phone call.", "input": transcript},
    }
    async with running_peer(tmp_path, batch_pace_s=60) as peer, peer.client() as client:
        source = await client.upload_file(json.dumps(line).encode() + b"\n", "batch.jsonl", "batch")
        batch = await client.create_batch(source.id, metadata={"call_sid": "CA123"})
        while not batch.done:
            peer.clock.advance(60)
            batch = await client.retrieve_batch(batch.id)
        assert batch.status == "completed" and batch.output_file_id is not None
        (row,) = [json.loads(raw) for raw in (await client.file_content(batch.output_file_id)).splitlines()]
    assert row["custom_id"] == "call-CA123-summary"
    assert row["response"]["body"]["output_text"] == (
        "Caller: Hi, I would like to check the status of my order please. Agent: Sure, it ships Monday."
    )


async def test_transcribing_a_real_recording(tmp_path: Path, shared_audio: Path) -> None:
    audio = (shared_audio / "caller-opening-hours.wav").read_bytes()
    async with running_peer(tmp_path) as peer, peer.client() as client:
        result = await client.transcribe(audio, "caller-opening-hours.wav")
    # "What are your opening hours on Saturday?": the bundled English model hears the start reliably
    # (it currently returns "what are your opening your law for big").
    assert {"what", "opening"} <= set(result.text.split())
    assert result.usage_seconds == 3  # 2.4 s, billed by the started second
