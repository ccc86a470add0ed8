"""Summarize and classify jobs against the engine's REST peer over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.archive.database import ArchiveUnavailable
from bridge.archive.jobs_api import cancel_job
from bridge.archive.jobs_batch import request_line
from bridge.archive.jobs_worker import JobWorker
from bridge.archive.records import JobItem
from bridge.archive.store import ArchiveStore
from bridge.errors import ProtocolError
from bridge.openai_api import Batch, FileObject, OpenAIClient
from tests.archive_fixtures import Target, archive_target_fixture, store_fixture  # noqa: F401
from tests.integration.engine_rest_peer import KEY, Peer, running_peer
from tests.integration.jobs_support import Updates, ended_call, open_flaky, submit, worker_for

BILLING = [
    "I have a billing problem: I was charged twice this month.",
    "I see the double charge. I will refund it today.",
]
SALES = ["I want to talk to sales about the premium plan.", "Great, sales can set up the premium plan now."]
PACE = 10.0  # seconds the peer's batches spend in each status; 3 * PACE to complete


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    async with running_peer(tmp_path / "peer", batch_pace_s=PACE) as running:
        yield running


@pytest.fixture
def updates() -> Updates:
    return Updates()


def by_call(items: list[JobItem]) -> dict[str, tuple[str, Any, str | None]]:
    return {
        item.call_id: (item.status, None if item.result is None else dict(item.result), item.error) for item in items
    }


async def test_summarize_job_runs_as_one_batch(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    sales = await ended_call(store, 1, SALES)
    silent = await ended_call(store, 2)
    job = await submit(store, kind="summarize", filter={"since": "2024-05-01"})
    assert (job.status, job.total) == ("pending", 3)
    worker = worker_for(store, peer, updates)
    try:
        await worker.run_once()
        submitted = await updates.until(job.id, "submitted")
        assert set(submitted.remote_ids) == {"input_file", "batch"}  # persisted before polling starts
        assert (submitted.done, submitted.failed) == (0, 1)
        async with peer.client() as client:
            batch = await client.retrieve_batch(submitted.remote_ids["batch"])
            lines = (await client.file_content(batch.input_file_id)).splitlines()
        assert batch.metadata == {"bridge_job_id": job.id}
        assert (batch.endpoint, batch.completion_window) == ("/v1/responses", "24h")
        assert [orjson.loads(line)["custom_id"] for line in lines] == [billing, sales]
        assert orjson.loads(lines[0])["body"]["input"] == f"Caller: {BILLING[0]}\nAgent: {BILLING[1]}"

        await worker.run_once()  # still validating: nothing changes
        peer.clock.advance(3 * PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "completed")
    finally:
        await worker.close()
    assert (finished.total, finished.done, finished.failed, finished.error) == (3, 2, 1, None)
    assert finished.remote_ids["output_file"].startswith("file-") and "error_file" not in finished.remote_ids
    assert by_call(await store.list_job_items(job.id)) == {
        billing: ("done", {"summary": f"Caller: {BILLING[0]} Agent: {BILLING[1]}"}, None),
        sales: ("done", {"summary": f"Caller: {SALES[0]} Agent: {SALES[1]}"}, None),
        silent: ("failed", None, "the call has no live transcript"),
    }
    assert updates.statuses(job.id) == ["running", "submitted", "completed"]


async def test_classify_job_labels_each_call(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    sales = await ended_call(store, 1, SALES)
    job = await submit(
        store,
        kind="classify",
        calls=[billing, sales],
        model="gpt-test",
        prompt="Which team?\nlabels: billing, support, sales",
    )
    worker = worker_for(store, peer, updates)
    try:
        await worker.run_once()
        await updates.until(job.id, "submitted")
        peer.clock.advance(3 * PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "completed")
    finally:
        await worker.close()
    assert (finished.done, finished.failed) == (2, 0)
    assert by_call(await store.list_job_items(job.id)) == {
        billing: ("done", {"label": "billing"}, None),
        sales: ("done", {"label": "sales"}, None),
    }


class RewritingClient(OpenAIClient):
    """Sends the worker's batch input with one call's request edited, as a bug or a bad call would."""

    def __init__(self, peer: Peer, call_id: str, edit: str) -> None:
        super().__init__(KEY, peer.base_url)
        self.call_id = call_id
        self.edit = edit

    async def upload_large(
        self, data: bytes | Path, filename: str, purpose: str, mime_type: str, **kw: Any
    ) -> FileObject:
        assert isinstance(data, Path)
        lines = []
        for raw in (await asyncio.to_thread(data.read_bytes)).splitlines():
            line = orjson.loads(raw)
            if line["custom_id"] == self.call_id:
                if self.edit == "drop model":
                    del line["body"]["model"]
                else:
                    lines.append(b"{not json")
                    continue
            lines.append(orjson.dumps(line))
        return await super().upload_large(b"\n".join(lines) + b"\n", filename, purpose, mime_type, **kw)


async def test_a_rejected_line_fails_only_its_call(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    sales = await ended_call(store, 1, SALES)
    job = await submit(store, kind="summarize", calls=[billing, sales])
    worker = JobWorker(store, lambda: RewritingClient(peer, sales, "drop model"), on_update=updates)
    try:
        await worker.run_once()
        await updates.until(job.id, "submitted")
        peer.clock.advance(3 * PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "completed")
    finally:
        await worker.close()
    assert (finished.done, finished.failed) == (1, 1)
    assert set(finished.remote_ids) == {"input_file", "batch", "output_file", "error_file"}
    assert by_call(await store.list_job_items(job.id)) == {
        billing: ("done", {"summary": f"Caller: {BILLING[0]} Agent: {BILLING[1]}"}, None),
        sales: ("failed", None, "HTTP 400 missing_required_parameter: Missing required parameter: 'model'."),
    }


async def test_an_invalid_input_file_fails_the_job(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    sales = await ended_call(store, 1, SALES)
    job = await submit(store, kind="summarize", calls=[billing, sales])
    worker = JobWorker(store, lambda: RewritingClient(peer, sales, "corrupt"), on_update=updates)
    try:
        await worker.run_once()
        await updates.until(job.id, "submitted")
        peer.clock.advance(PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "failed")
    finally:
        await worker.close()
    error = "the batch failed: line 2: invalid_json_line: This line is not a JSON object."
    assert (finished.done, finished.failed, finished.error) == (0, 2, error)
    assert by_call(await store.list_job_items(job.id)) == {
        billing: ("failed", None, error),
        sales: ("failed", None, error),
    }


async def test_a_job_without_transcripts_fails_without_a_batch(
    store: ArchiveStore, peer: Peer, updates: Updates
) -> None:
    silent = await ended_call(store, 0)
    job = await submit(store, kind="summarize", calls=[silent])
    worker = worker_for(store, peer, updates)
    try:
        await worker.run_once()
        finished = await updates.until(job.id, "failed")
    finally:
        await worker.close()
    assert (finished.failed, finished.error, dict(finished.remote_ids)) == (1, "no call has a live transcript", {})


async def test_an_expired_batch_fails_the_calls_it_left(store: ArchiveStore, tmp_path: Path, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])
    async with running_peer(tmp_path / "slow", batch_pace_s=40_000) as slow:
        worker = worker_for(store, slow, updates)
        try:
            await worker.run_once()
            await updates.until(job.id, "submitted")
            slow.clock.advance(86_400)
            await worker.run_once()
            finished = await updates.until(job.id, "expired")
        finally:
            await worker.close()
    assert (finished.done, finished.failed) == (0, 1)
    assert by_call(await store.list_job_items(job.id)) == {
        billing: ("failed", None, "the batch expired before this call was processed")
    }


async def test_restarted_worker_resumes_polling(archive_target: Target, peer: Peer, updates: Updates) -> None:
    first = await archive_target.open()
    try:
        billing = await ended_call(first, 0, BILLING)
        job = await submit(first, kind="summarize", calls=[billing])
        worker = worker_for(first, peer, updates)
        await worker.run_once()
        submitted = await updates.until(job.id, "submitted")
        await worker.close()
    finally:
        await first.close()

    peer.clock.advance(3 * PACE)
    second = await archive_target.open()  # a new process: a new store, a new worker
    worker = worker_for(second, peer, updates)
    try:
        await worker.run_once()
        finished = await updates.until(job.id, "completed")
        items = await second.list_job_items(job.id)
    finally:
        await worker.close()
        await second.close()
    assert finished.remote_ids["batch"] == submitted.remote_ids["batch"]
    assert by_call(items) == {billing: ("done", {"summary": f"Caller: {BILLING[0]} Agent: {BILLING[1]}"}, None)}
    async with peer.client() as client:
        assert len((await client.list_batches()).data) == 1


async def test_a_job_abandoned_after_creating_its_batch_finds_that_batch(
    store: ArchiveStore, peer: Peer, updates: Updates
) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])
    first = worker_for(store, peer, updates)
    try:
        await first.run_once()
        submitted = await updates.until(job.id, "submitted")
    finally:
        await first.close()
    # As if the process died after creating the batch, before recording it: running, input file only.
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await store.update_job(
        job.id, now=long_ago, status="running", remote_ids={"input_file": submitted.remote_ids["input_file"]}
    )

    second = worker_for(store, peer, updates, lease_s=600)
    try:
        await second.run_once()  # recovers it (pending), claims it, finds the batch
        resumed = await updates.until(job.id, "submitted")
        peer.clock.advance(3 * PACE)
        await second.run_once()
        await updates.until(job.id, "completed")
    finally:
        await second.close()
    assert resumed.remote_ids == submitted.remote_ids
    assert updates.statuses(job.id)[-4:] == ["pending", "running", "submitted", "completed"]
    async with peer.client() as client:
        assert len((await client.list_batches()).data) == 1


async def test_a_job_abandoned_before_creating_its_batch_creates_one(
    store: ArchiveStore, peer: Peer, updates: Updates
) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])
    first = worker_for(store, peer, updates)
    try:
        await first.run_once()
        submitted = await updates.until(job.id, "submitted")
    finally:
        await first.close()
    # As if another job's run had died after uploading its file: the only batch is someone else's.
    async with peer.client() as client:
        content = await client.file_content(submitted.remote_ids["input_file"])
        uploaded = await client.upload_file(content, "again.jsonl", "batch")
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await store.update_job(job.id, now=long_ago, status="running", remote_ids={"input_file": uploaded.id})
    second = worker_for(store, peer, updates, lease_s=600)
    try:
        await second.run_once()
        resumed = await updates.until(job.id, "submitted")
    finally:
        await second.close()
    assert resumed.remote_ids["input_file"] == uploaded.id
    assert resumed.remote_ids["batch"] != submitted.remote_ids["batch"]
    async with peer.client() as client:
        assert (await client.retrieve_batch(resumed.remote_ids["batch"])).input_file_id == uploaded.id


class ProgressClient(OpenAIClient):
    """Reports batch progress as the real API does while a batch runs (the peer jumps from 0 to all)."""

    counts: dict[str, int] | None = None
    malformed = False

    async def retrieve_batch(self, batch_id: str) -> Batch:
        if self.malformed:
            self.malformed = False
            raise ProtocolError("batch: expected str at 'status', got None", field="status")
        batch = await super().retrieve_batch(batch_id)
        if self.counts is None:
            return batch
        return Batch.parse({**batch.raw, "request_counts": self.counts})


async def test_polling_records_progress_and_rides_out_failures(
    store: ArchiveStore, peer: Peer, updates: Updates
) -> None:
    calls = [await ended_call(store, 0), await ended_call(store, 1, BILLING), await ended_call(store, 2, SALES)]
    job = await submit(store, kind="summarize", calls=calls)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client = ProgressClient(KEY, peer.base_url, sleep=record)
    worker = JobWorker(store, lambda: client, on_update=updates)
    try:
        await worker.run_once()
        submitted = await updates.until(job.id, "submitted")
        assert (submitted.done, submitted.failed) == (0, 1)
        client.counts = {"total": 0, "completed": 0, "failed": 0}  # validating: nothing counted yet
        await worker.run_once()
        client.counts = {"total": 2, "completed": 1, "failed": 1}
        await worker.run_once()
        progress = await updates.until(job.id, "submitted")
        assert (progress.done, progress.failed) == (1, 2)
        await worker.run_once()  # no change, no write
        client.malformed = True
        await worker.run_once()  # a bad answer: tried again next time
        batch_path = f"/v1/batches/{submitted.remote_ids['batch']}"
        peer.faults.fail(batch_path, 503, {"retry-after": "0"}, times=5)
        await worker.run_once()  # still failing after the client's retries: tried again next time
        client.counts = None
        peer.clock.advance(3 * PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "completed")
    finally:
        await worker.close()
    assert (finished.done, finished.failed) == (2, 1)
    assert (peer.faults.hits, waits) == ({batch_path: 5}, [0.0] * 4)
    statuses = [update.status for update in updates.seen if update.id == job.id]
    assert statuses.count("submitted") == 2  # created, then one progress write


async def test_abandoned_jobs_are_recovered_and_live_ones_left_alone(
    store: ArchiveStore, peer: Peer, updates: Updates
) -> None:
    billing = await ended_call(store, 0, BILLING)
    live = await submit(store, kind="summarize", calls=[billing])
    await store.update_job(live.id, status="running")  # another worker's, refreshed just now
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    creating = await store.create_job("summarize", status="creating", now=long_ago)
    cancelling = await store.create_job("transcribe", status="cancelling", now=long_ago)
    # A cancelling job with a batch belongs to the pollers however old it is: they send the cancel.
    async with peer.client() as client:
        line = request_line(billing, kind="summarize", model="m", prompt=None, labels=[], text="Caller: hi")
        uploaded = await client.upload_file(line, "in.jsonl", "batch")
        batch = await client.create_batch(uploaded.id)
    with_batch = await store.create_job("summarize", status="cancelling", total=1, now=long_ago)
    await store.update_job(with_batch.id, now=long_ago, remote_ids={"input_file": uploaded.id, "batch": batch.id})
    worker = worker_for(store, peer, updates, lease_s=600)
    try:
        await worker.run_once()
        abandoned = await updates.until(creating.id, "failed")
        await updates.until(cancelling.id, "cancelled")
    finally:
        await worker.close()
    assert abandoned.error == "abandoned while being created"
    still = [await store.get_job(j.id) for j in (live, with_batch)]
    assert [j.status if j else None for j in still] == ["running", "cancelling"]
    async with peer.client() as client:
        assert (await client.retrieve_batch(batch.id)).status == "cancelling"


async def test_failures_while_preparing_a_batch(archive_target: Target, peer: Peer, updates: Updates) -> None:
    store = await open_flaky(archive_target)
    worker = worker_for(store, peer, updates, max_input_bytes=500)
    try:
        silent = await ended_call(store, 0)
        small = await ended_call(store, 1, ["hi"])
        large = await ended_call(store, 2, ["blah " * 100])
        store.fail("get_transcript", None, ArchiveUnavailable("archive down"))
        outage = await submit(store, kind="summarize", calls=[silent, small])
        await worker.run_once()
        await updates.until(outage.id, "pending")  # not failed: the archive may come back
        assert [item.status for item in await store.list_job_items(outage.id)] == ["failed", "pending"]
        store.fail("get_transcript", RuntimeError("a bug"))
        await worker.run_once()
        crashed = await updates.until(outage.id, "failed")
        assert crashed.error == "internal error; see the server log"

        refused = await submit(store, kind="summarize", calls=[small])
        peer.faults.fail("/v1/files", 400)
        await worker.run_once()
        upstream = await updates.until(refused.id, "failed")
        assert (
            upstream.error
            == "POST /files -> 400: The server had an error while processing your request. Sorry about that!"
        )

        too_big = await submit(store, kind="summarize", calls=[large])
        await worker.run_once()
        oversize = await updates.until(too_big.id, "failed")
        assert oversize.error is not None
        assert re.fullmatch(r"the requests take \d+ bytes, over the Batch API's limit of 500", oversize.error)
    finally:
        await worker.close()
        await store.close()


def test_worker_options_are_checked(store: ArchiveStore, peer: Peer) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        JobWorker(store, peer.client, max_active_jobs=0)
    with pytest.raises(ValueError, match="at least 1"):
        JobWorker(store, peer.client, transcribe_concurrency=0)
    with pytest.raises(ValueError, match="more than twice"):
        JobWorker(store, peer.client, poll_interval_s=60, lease_s=120)


async def test_cancel_a_submitted_batch(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])
    worker = worker_for(store, peer, updates)
    try:
        await worker.run_once()
        submitted = await updates.until(job.id, "submitted")
        cancelling = await cancel_job(store, job.id)
        assert cancelling is not None and cancelling.status == "cancelling"
        await worker.run_once()  # sends the cancel
        async with peer.client() as client:
            assert (await client.retrieve_batch(submitted.remote_ids["batch"])).status == "cancelling"
        peer.clock.advance(PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "cancelled")
    finally:
        await worker.close()
    assert (finished.done, finished.failed) == (0, 0)
    assert by_call(await store.list_job_items(job.id)) == {billing: ("pending", None, None)}


async def test_cancel_while_the_batch_is_being_prepared(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])

    class CancelOnUpload(OpenAIClient):
        async def upload_large(self, *args: Any, **kwargs: Any) -> FileObject:
            await cancel_job(store, job.id)  # the operator cancels while the file uploads
            return await super().upload_large(*args, **kwargs)

    worker = JobWorker(store, lambda: CancelOnUpload(KEY, peer.base_url), on_update=updates)
    try:
        await worker.run_once()
        finished = await updates.until(job.id, "cancelled")
    finally:
        await worker.close()
    assert set(finished.remote_ids) == {"input_file"}  # no batch was created
    async with peer.client() as client:
        assert (await client.list_batches()).data == ()


async def test_rate_limits_are_retried(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])
    peer.faults.fail("/v1/uploads", 429, {"retry-after": "2"})
    peer.faults.fail("/v1/batches", 429, {"retry-after-ms": "1500"}, times=2)
    worker = worker_for(store, peer, updates, upload_threshold=10)  # through /v1/uploads
    try:
        await worker.run_once()
        submitted = await updates.until(job.id, "submitted")
        batch_path = f"/v1/batches/{submitted.remote_ids['batch']}"
        peer.faults.fail(batch_path, 503, {"retry-after": "0"})
        peer.clock.advance(3 * PACE)
        await worker.run_once()
        finished = await updates.until(job.id, "completed")
    finally:
        await worker.close()
    assert finished.done == 1
    assert peer.faults.hits == {"/v1/uploads": 1, "/v1/batches": 2, batch_path: 1}
    assert peer.sleeps == [2.0, 1.5, 1.5, 0.0]


async def test_a_batch_the_api_does_not_know_fails_the_job(store: ArchiveStore, peer: Peer, updates: Updates) -> None:
    billing = await ended_call(store, 0, BILLING)
    job = await submit(store, kind="summarize", calls=[billing])
    await store.update_job(job.id, status="submitted", remote_ids={"input_file": "file-x", "batch": "batch_nope"})
    worker = worker_for(store, peer, updates)
    try:
        await worker.run_once()
        finished = await updates.until(job.id, "failed")
    finally:
        await worker.close()
    assert finished.error == "GET /batches/batch_nope -> 404: No such Batch object: batch_nope"
