from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import UpstreamError
from bridge.openai_api import Batch, OpenAIClient
from tests.integration.engine_rest_peer import START, Peer, running_peer

PACE = 10.0
LABELS = "Classify the caller's intent. labels: billing, order_status, opening_hours, other"


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    async with running_peer(tmp_path, batch_pace_s=PACE) as running:
        yield running


def request_line(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/responses", "body": body}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


async def input_file(client: OpenAIClient, rows: list[dict[str, Any]]) -> str:
    return (await client.upload_file(jsonl(rows), "calls.jsonl", "batch")).id


def by_custom_id(content: bytes) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in content.decode().splitlines()]
    return {row["custom_id"]: row for row in rows}


async def test_a_batch_runs_its_lines_and_splits_results_by_custom_id(peer: Peer) -> None:
    rows = [
        request_line(
            "call-1-intent",
            {
                "model": "gpt-5-mini",
                "instructions": LABELS,
                "input": "Hi, I would like to check the status of my order please.",
            },
        ),
        request_line(
            "call-2-summary",
            {
                "model": "gpt-5-mini",
                "instructions": "Summarize the call.",
                "input": "What are your opening hours on Saturday? I need to come by.",
            },
        ),
        request_line("call-3-broken", {"model": "gpt-5-mini"}),
    ]
    async with peer.client() as client:
        created = await client.create_batch(await input_file(client, rows), metadata={"job": "nightly"})
        assert created.id.startswith("batch_") and created.status == "validating"
        assert created.request_counts is not None and created.request_counts.total == 3
        assert (created.created_at, created.expires_at, created.metadata) == (
            int(START),
            int(START) + 86400,
            {"job": "nightly"},
        )
        assert created.raw["model"] == "gpt-5-mini"

        seen: list[Batch] = []
        for _ in range(3):
            peer.clock.advance(PACE)
            seen.append(await client.retrieve_batch(created.id))
        assert [b.status for b in seen] == ["in_progress", "finalizing", "completed"]
        done = seen[-1]
        assert (done.in_progress_at, done.finalizing_at, done.completed_at) == (
            int(START + PACE),
            int(START + 2 * PACE),
            int(START + 3 * PACE),
        )
        assert seen[0].output_file_id is None and seen[1].output_file_id is None
        assert done.request_counts is not None
        assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
        assert done.raw["usage"]["total_tokens"] > 0 and done.done

        assert done.output_file_id is not None and done.error_file_id is not None
        output_file = await client.retrieve_file(done.output_file_id)
        assert (output_file.purpose, output_file.filename) == ("batch_output", f"{done.id}_output.jsonl")
        output = by_custom_id(await client.file_content(done.output_file_id))
        errors = by_custom_id(await client.file_content(done.error_file_id))

    assert set(output) == {"call-1-intent", "call-2-summary"} and set(errors) == {"call-3-broken"}
    intent = output["call-1-intent"]
    assert intent["id"].startswith("batch_req_") and intent["error"] is None
    assert intent["response"]["status_code"] == 200
    assert intent["response"]["body"]["output_text"] == "order_status"
    summary = output["call-2-summary"]["response"]["body"]["output"][0]["content"][0]["text"]
    assert summary == "What are your opening hours on Saturday? I need to come by."
    broken = errors["call-3-broken"]
    assert broken["error"] == {"code": "missing_required_parameter", "message": "Missing required parameter: 'input'."}
    assert broken["response"]["status_code"] == 400
    assert broken["response"]["body"]["error"]["param"] == "input"


async def test_results_appear_in_the_file_list_without_reading_the_batch(peer: Peer) -> None:
    async with peer.client() as client:
        await client.create_batch(await input_file(client, [request_line("a", {"model": "m", "input": "hi"})]))
        peer.clock.advance(3 * PACE)
        outputs = await client.list_files("batch_output")
    assert len(outputs) == 1 and outputs[0].created_at == int(START + 2 * PACE)


async def test_an_invalid_input_file_fails_the_batch_after_validation(peer: Peer) -> None:
    rows = [request_line("a", {"model": "m", "input": "x"}), request_line("a", {"model": "m", "input": "y"})]
    rows.append({**request_line("c", {"model": "m"}), "url": "/v1/chat/completions"})
    async with peer.client() as client:
        created = await client.create_batch(await input_file(client, rows))
        assert created.status == "validating" and created.errors == ()
        peer.clock.advance(PACE)
        failed = await client.retrieve_batch(created.id)
    assert failed.status == "failed" and failed.failed_at == int(START + PACE) and failed.done
    assert [(e.code, e.line, e.param) for e in failed.errors] == [
        ("duplicate_custom_id", 2, "custom_id"),
        ("mismatched_url", 3, "url"),
    ]
    assert failed.output_file_id is None and failed.error_file_id is None
    assert failed.request_counts is not None and failed.request_counts.total == 0


async def test_cancel_moves_through_cancelling_to_cancelled(peer: Peer) -> None:
    async with peer.client() as client:
        created = await client.create_batch(await input_file(client, [request_line("a", {"model": "m", "input": "x"})]))
        peer.clock.advance(PACE)
        cancelling = await client.cancel_batch(created.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at == int(START + PACE)
        assert (await client.cancel_batch(created.id)).status == "cancelling"  # asking twice is harmless
        peer.clock.advance(PACE)
        cancelled = await client.retrieve_batch(created.id)
        assert cancelled.status == "cancelled" and cancelled.cancelled_at == int(START + 2 * PACE)
        assert cancelled.in_progress_at == int(START + PACE) and cancelled.finalizing_at is None
        assert cancelled.output_file_id is None
        peer.clock.advance(10 * PACE)
        assert (await client.retrieve_batch(created.id)).status == "cancelled"
        assert await client.list_files("batch_output") == ()


async def test_a_finished_batch_cannot_be_cancelled(peer: Peer) -> None:
    async with peer.client() as client:
        created = await client.create_batch(await input_file(client, [request_line("a", {"model": "m", "input": "x"})]))
        peer.clock.advance(3 * PACE)
        with pytest.raises(UpstreamError, match="Cannot cancel a batch with status 'completed'") as caught:
            await client.cancel_batch(created.id)
    assert caught.value.status == 409


async def test_list_batches_newest_first_with_a_cursor(peer: Peer) -> None:
    async with peer.client() as client:
        file_id = await input_file(client, [request_line("a", {"model": "m", "input": "x"})])
        ids = [(await client.create_batch(file_id)).id for _ in range(3)]
        first = await client.list_batches(limit=2)
        assert [b.id for b in first.data] == [ids[2], ids[1]] and first.has_more
        second = await client.list_batches(after=first.last_id, limit=2)
        assert [b.id for b in second.data] == [ids[0]] and not second.has_more


async def test_create_validation(peer: Peer) -> None:
    async with peer.client() as client:
        good = await input_file(client, [request_line("a", {"model": "m", "input": "x"})])
        not_batch = (await client.upload_file(b"{}", "a.jsonl", "user_data")).id
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"endpoint": "/v1/responses", "completion_window": "24h"}, 400, "input_file_id"),
        ({"input_file_id": "file-missing", "endpoint": "/v1/responses", "completion_window": "24h"}, 404, "id"),
        ({"input_file_id": not_batch, "endpoint": "/v1/responses", "completion_window": "24h"}, 400, "input_file_id"),
        ({"input_file_id": good, "endpoint": "/v1/audio/transcriptions", "completion_window": "24h"}, 400, "endpoint"),
        ({"input_file_id": good, "endpoint": "/v1/embeddings", "completion_window": "24h"}, 400, "endpoint"),
        ({"input_file_id": good, "endpoint": "/v1/responses", "completion_window": "48h"}, 400, "completion_window"),
        (
            {
                "input_file_id": good,
                "endpoint": "/v1/responses",
                "completion_window": "24h",
                "metadata": {str(i): "v" for i in range(17)},
            },
            400,
            "metadata",
        ),
        (
            {
                "input_file_id": good,
                "endpoint": "/v1/responses",
                "completion_window": "24h",
                "output_expires_after": {"anchor": "created_at", "seconds": 5},
            },
            400,
            "output_expires_after.seconds",
        ),
    ]
    async with peer.http() as http:
        for body, status, param in cases:
            response = await http.post("/batches", json=body)
            assert (response.status_code, response.json()["error"]["param"]) == (status, param), body
        assert (await http.get("/batches/batch_missing")).status_code == 404
        assert (await http.post("/batches/batch_missing/cancel")).status_code == 404
        assert (await http.get("/batches", params={"limit": 101})).status_code == 400


async def test_output_expiry_policy_applies_to_result_files(peer: Peer) -> None:
    async with peer.http() as http, peer.client() as client:
        file_id = await input_file(client, [request_line("a", {"model": "m", "input": "x"})])
        response = await http.post(
            "/batches",
            json={
                "input_file_id": file_id,
                "endpoint": "/v1/responses",
                "completion_window": "24h",
                "output_expires_after": {"anchor": "created_at", "seconds": 7200},
            },
        )
        peer.clock.advance(3 * PACE)
        done = await client.retrieve_batch(response.json()["id"])
        assert done.output_file_id is not None
        output = await client.retrieve_file(done.output_file_id)
    assert output.expires_at == int(START + 2 * PACE) + 7200
