"""Helpers for the post-call job tests: ended calls, recordings, and waiting on the worker's updates."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bridge.archive.jobs_api import submit_job
from bridge.archive.jobs_model import JobRequest
from bridge.archive.jobs_worker import JobWorker
from bridge.archive.records import Job
from bridge.archive.store import ArchiveStore
from bridge.audio.wav import interleave_stereo, write_wav
from tests.archive_fixtures import T0, Target, add_call, add_transcript
from tests.integration.engine_rest_peer import Peer


async def ended_call(
    store: ArchiveStore,
    minutes: float,
    lines: Sequence[str] = (),
    *,
    recording: Path | None = None,
    **fields: Any,
) -> str:
    """A finished call with live transcript ``lines`` (alternating caller, agent) and a recording path."""
    call_id = await add_call(store, minutes, **fields)
    if lines:
        await add_transcript(store, call_id, lines)
    extra = {} if recording is None else {"recording_path": str(recording)}
    await store.finish_call(call_id, ended_at=T0 + timedelta(minutes=minutes + 1), end_reason="caller_hangup", **extra)
    return call_id


def stereo_recording(path: Path, caller: bytes, agent: bytes, rate: int = 8000) -> Path:
    """A call recording as the recorder writes it: caller left, agent right."""
    write_wav(path, interleave_stereo(caller, agent), rate, channels=2)
    return path


class FlakyStore(ArchiveStore):
    """A store whose chosen methods fail, once per queued exception (None lets one call through)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures: dict[str, list[BaseException | None]] = {}

    def fail(self, method: str, *outcomes: BaseException | None) -> None:
        self.failures.setdefault(method, []).extend(outcomes)

    def _maybe_fail(self, method: str) -> None:
        queued = self.failures.get(method)
        if queued:
            exc = queued.pop(0)
            if exc is not None:
                raise exc

    async def claim_job(self, **kwargs: Any) -> Job | None:
        self._maybe_fail("claim_job")
        return await super().claim_job(**kwargs)

    async def get_transcript(self, call_id: str, source: Any = None) -> Any:
        self._maybe_fail("get_transcript")
        return await super().get_transcript(call_id, source)


async def open_flaky(target: Target) -> FlakyStore:
    store = await FlakyStore.open(target.url, schema=target.schema)
    assert isinstance(store, FlakyStore)
    return store


class Updates:
    """The worker's ``on_update`` hook as a queue, to wait for a job to reach a status without sleeping."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.seen: list[Job] = []

    def __call__(self, job: Job) -> None:
        self.queue.put_nowait(job)

    async def until(self, job_id: str, *statuses: str) -> Job:
        async with asyncio.timeout(20):  # a safety net: each wait ends as soon as the update arrives
            while True:
                job = await self.queue.get()
                self.seen.append(job)
                if job.id == job_id and job.status in statuses:
                    return job

    def statuses(self, job_id: str) -> list[str]:
        """The distinct statuses seen so far, in order."""
        found: list[str] = []
        for job in self.seen:
            if job.id == job_id and (not found or found[-1] != job.status):
                found.append(job.status)
        return found


def worker_for(store: ArchiveStore, peer: Peer, updates: Updates, **options: Any) -> JobWorker:
    """A worker on ``peer`` whose retry waits are recorded, not slept."""
    return JobWorker(store, peer.client, on_update=updates, **options)


async def submit(store: ArchiveStore, **body: Any) -> Job:
    return await submit_job(store, JobRequest.parse(body))
