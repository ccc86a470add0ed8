"""JobWorker: runs post-call jobs in the background of a bridge process, on SQLite or PostgreSQL.

Each pass (:meth:`JobWorker.run_once`, every ``poll_interval_s`` or when woken):

1. **Heartbeat** the jobs this worker runs: their ``updated_at`` is their lease.
2. **Recover** abandoned jobs, whose owner stopped refreshing them for ``lease_s``: ``running`` goes
   back to ``pending``, ``creating`` (a submission that died half-way) to ``failed``, ``cancelling``
   without a batch to ``cancelled``.
3. **Claim** ``pending`` jobs with ``claim_job`` (atomic; SKIP LOCKED on PostgreSQL), so two processes
   never run one job, and run each in a task: a transcription job transcribes its calls (at most
   ``transcribe_concurrency`` at once); a summarize or classify job writes one JSONL of ``/v1/responses``
   requests, uploads it (through Uploads above 100 MB) and creates a batch, persisting each remote id
   as soon as it exists, then becomes ``submitted``.
4. **Poll** the batches of ``submitted`` and ``cancelling`` jobs: record progress, send the cancel a
   cancelling job asks for, and when the batch is over download its output and error files, store
   each call's outcome in its item and give the job the batch's final status.

Polling needs no ownership: it only reads the batch, and every write it makes is idempotent or a
compare-and-set on the job's status, so a restarted (or a second) bridge simply carries on. A worker
that stalls longer than the lease may see its job run twice; the results are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from bridge.archive.database import ArchiveUnavailable
from bridge.archive.jobs_audio import DEFAULT_CHUNK_MS
from bridge.archive.jobs_batch import BATCH_ENDPOINT, Outcome, parse_results, request_line, transcript_text
from bridge.archive.jobs_model import job_channels, parse_labels
from bridge.archive.jobs_transcribe import ItemError, transcribe_call
from bridge.archive.records import Job
from bridge.archive.store import ArchiveStore
from bridge.errors import ArchiveError, ProtocolError, UpstreamError
from bridge.openai_api import LARGE_FILE_BYTES, Batch, OpenAIClient

__all__ = ["BATCH_INPUT_BYTES", "JobWorker"]

log = logging.getLogger("bridge.archive.jobs")

#: The Batch API's input file limit (PROTOCOLS E.2).
BATCH_INPUT_BYTES = 200 * 1024 * 1024
_PAGE = 200
_RECENT_BATCHES = 100
# A status the owner of a cancelling job writes instead of the one it meant.
_WHEN_CANCELLING = {"submitted": "cancelling", "pending": "cancelled", "failed": "cancelled"}
# What becomes of a call sent in a batch that produced no line for it, by the batch's final status.
_NO_RESULT = {
    "completed": "the batch returned no result for this call",
    "expired": "the batch expired before this call was processed",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Lost(Exception):
    """The job changed hands (or finished) under its runner: stop working on it. ``job`` is what it is now."""

    def __init__(self, job_id: str, job: Job | None) -> None:
        super().__init__(f"job {job_id} is {'gone' if job is None else job.status} now")
        self.job = job


@dataclass(eq=False)
class _Held:
    """A job this worker runs; ``status`` is what its row should say (running, or cancelling once asked)."""

    job: Job
    status: str = "running"
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None


class JobWorker:
    """Runs the archive's post-call jobs; one per bridge process (several processes may share a database).

    Args:
        store: the archive.
        client_factory: makes the OpenAI REST client (called once, on first use; closed by :meth:`close`).
        poll_interval_s: seconds between passes (batches take minutes to hours: 30 s is plenty).
        lease_s: a running job whose owner has not refreshed it for this long is taken over (more than
            twice ``poll_interval_s``: a pass refreshes the jobs it runs).
        max_active_jobs: jobs this worker runs at once (batch jobs only while preparing their batch).
        transcribe_concurrency: transcriptions in flight per transcription job.
        chunk_ms: longest audio sent in one transcription request.
        upload_threshold: batch input files above this many bytes go through Uploads.
        max_input_bytes: a batch input file may hold this many bytes (the Batch API's limit).
        clock: the time (UTC, aware), for leases and ``updated_at``.
        sleep: waits between passes (tests pass one that returns at once or never).
        on_update: called with the job after every change this worker makes to it, and when a job it runs
            turns out to have been changed by someone else (and so is no longer its to run).
    """

    def __init__(
        self,
        store: ArchiveStore,
        client_factory: Callable[[], OpenAIClient],
        *,
        poll_interval_s: float = 30.0,
        lease_s: float = 300.0,
        max_active_jobs: int = 2,
        transcribe_concurrency: int = 4,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        upload_threshold: int = LARGE_FILE_BYTES,
        max_input_bytes: int = BATCH_INPUT_BYTES,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_update: Callable[[Job], None] | None = None,
    ) -> None:
        if max_active_jobs < 1 or transcribe_concurrency < 1:
            raise ValueError("max_active_jobs and transcribe_concurrency must be at least 1")
        if lease_s <= 2 * poll_interval_s:
            # Running jobs are refreshed once a pass: a shorter lease would let others take them over.
            raise ValueError("lease_s must be more than twice poll_interval_s")
        self._store = store
        self._client_factory = client_factory
        self._client_instance: OpenAIClient | None = None
        self._poll_interval_s = poll_interval_s
        self._lease = timedelta(seconds=lease_s)
        self._max_active = max_active_jobs
        self._concurrency = transcribe_concurrency
        self._chunk_ms = chunk_ms
        self._upload_threshold = upload_threshold
        self._max_input_bytes = max_input_bytes
        self._clock = clock
        self._sleep = sleep
        self._on_update: Callable[[Job], None] = on_update or (lambda job: None)
        self._held: dict[str, _Held] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    # ---- lifecycle ----

    async def start(self) -> None:
        """Start the background loop (a first pass runs at once)."""
        if self._loop_task is not None:
            raise RuntimeError("the job worker is already started")
        self._loop_task = asyncio.create_task(self._loop(), name="bridge-jobs")

    def wake(self) -> None:
        """Run a pass now instead of at the next interval (e.g. a job was just submitted or cancelled)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop the loop and the jobs being run, handing them back (``pending``) for the next worker."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = [held.task for held in self._held.values() if held.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client_instance is not None:
            await self._client_instance.aclose()
            self._client_instance = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except ArchiveError as exc:
                log.warning("jobs: the archive failed, trying again in %.0f s: %s", self._poll_interval_s, exc)
            except Exception:
                log.exception("jobs: pass failed")
            await self._pause()

    async def _pause(self) -> None:
        if not self._wake.is_set():
            waiters = [asyncio.create_task(self._wake.wait()), asyncio.create_task(self._nap())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
        self._wake.clear()

    async def _nap(self) -> None:
        await self._sleep(self._poll_interval_s)

    def _client(self) -> OpenAIClient:
        if self._client_instance is None:
            self._client_instance = self._client_factory()
        return self._client_instance

    # ---- one pass ----

    async def run_once(self) -> None:
        """One pass: heartbeat, recover abandoned jobs, claim pending ones (run in tasks), poll batches."""
        for held in list(self._held.values()):
            with contextlib.suppress(_Lost):
                await self._write(held)
        await self._recover()
        while len(self._held) < self._max_active:
            job = await self._store.claim_job(status="pending", to_status="running", now=self._clock())
            if job is None:
                break
            log.info("job %s (%s): started", job.id, job.kind)
            self._notify(job)
            self._start(job)
        for status in ("submitted", "cancelling"):
            for job in await self._jobs_in(status):
                if job.id not in self._held and "batch" in job.remote_ids:
                    await self._poll_guarded(job)

    async def _jobs_in(self, status: str) -> list[Job]:
        found: list[Job] = []
        cursor = None
        while True:
            page, cursor = await self._store.list_jobs(status=status, cursor=cursor, limit=_PAGE)
            found.extend(page)
            if cursor is None:
                return found

    async def _recover(self) -> None:
        stale_before = self._clock() - self._lease
        moves = (("creating", "failed"), ("running", "pending"), ("cancelling", "cancelled"))
        for status, to_status in moves:
            for job in await self._jobs_in(status):
                if job.id in self._held or job.updated_at >= stale_before:
                    continue
                if status == "cancelling" and "batch" in job.remote_ids:
                    continue  # the pollers see that batch through
                error = "abandoned while being created" if to_status == "failed" else job.error
                moved = await self._store.update_job(
                    job.id, expect_status=status, now=self._clock(), status=to_status, error=error
                )
                if moved is not None:
                    log.warning("job %s: abandoned while %s; now %s", job.id, status, to_status)
                    self._notify(moved)

    def _notify(self, job: Job) -> None:
        try:
            self._on_update(job)
        except Exception:
            log.exception("job update observer failed")

    async def _write(self, held: _Held, status: str | None = None, **fields: Any) -> Job:
        """Update the job while it is still ours (touching ``updated_at``, the lease).

        A job asked to cancel meanwhile is followed into ``cancelling`` (setting ``held.cancel``), and
        then ``status`` is what a cancelling job becomes instead. Raises :class:`_Lost` when the job left
        our hands.
        """
        async with held.lock:
            while True:
                values = dict(fields)
                if status is not None:
                    values["status"] = _WHEN_CANCELLING.get(status, status) if held.status == "cancelling" else status
                job = await self._store.update_job(held.job.id, expect_status=held.status, now=self._clock(), **values)
                if job is not None:
                    held.job = job
                    self._notify(job)
                    return job
                current = await self._store.get_job(held.job.id)
                if current is not None and current.status == "cancelling" and held.status == "running":
                    log.info("job %s: cancelling", held.job.id)
                    held.status = "cancelling"
                    held.cancel.set()
                    continue
                held.cancel.set()
                raise _Lost(held.job.id, current)

    # ---- running a claimed job ----

    def _start(self, job: Job) -> None:
        held = _Held(job)
        self._held[job.id] = held
        held.task = asyncio.create_task(self._run_job(held), name=f"bridge-job-{job.id}")

    async def _run_job(self, held: _Held) -> None:
        job_id = held.job.id
        try:
            if held.job.kind == "transcribe":
                await self._transcribe(held)
            else:
                await self._prepare_batch(held)
        except asyncio.CancelledError:
            # The worker is closing: hand the job back so the next worker need not wait for the lease.
            with contextlib.suppress(_Lost, ArchiveError):
                await self._write(held, status="pending")
            raise
        except _Lost as exc:
            log.warning("job %s: stopped: %s", job_id, exc)
            if exc.job is not None:
                self._notify(exc.job)
        except ArchiveUnavailable as exc:
            # Most likely a passing outage: hand it back for the next pass (if the archive answers that).
            log.warning("job %s: the archive is unavailable, handing the job back: %s", job_id, exc)
            with contextlib.suppress(_Lost, ArchiveError):
                await self._write(held, status="pending")
        except (UpstreamError, ProtocolError, ArchiveError) as exc:
            log.warning("job %s: failed: %s", job_id, exc)
            with contextlib.suppress(_Lost, ArchiveError):
                await self._write(held, status="failed", error=str(exc))
        except Exception:
            log.exception("job %s: crashed", job_id)
            with contextlib.suppress(_Lost, ArchiveError):
                await self._write(held, status="failed", error="internal error; see the server log")
        finally:
            self._held.pop(job_id, None)

    async def _transcribe(self, held: _Held) -> None:
        job = held.job
        channels = job_channels(job)
        items = await self._store.list_job_items(job.id)
        done = sum(item.status == "done" for item in items)
        failed = sum(item.status == "failed" for item in items)
        gate = asyncio.Semaphore(self._concurrency)
        progress = asyncio.Lock()  # counts are written in order, so progress never goes backwards
        broken = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        async def one(call_id: str) -> None:
            nonlocal done, failed
            try:
                result: dict[str, Any] | None = None
                error: str | None = None
                try:
                    result = await transcribe_call(
                        self._store,
                        self._client(),
                        call_id,
                        channels=channels,
                        model=job.model or "",
                        prompt=job.prompt,
                        chunk_ms=self._chunk_ms,
                    )
                except (ItemError, UpstreamError, ProtocolError) as exc:
                    error = str(exc)
                await self._store.update_job_item(
                    job.id, call_id, status="failed" if error else "done", result=result, error=error
                )
                async with progress:
                    if error:
                        failed += 1
                    else:
                        done += 1
                    await self._write(held, done=done, failed=failed)
            except BaseException:
                broken.set()
                raise
            finally:
                gate.release()

        try:
            for item in items:
                if item.status != "pending":
                    continue
                await gate.acquire()
                if held.cancel.is_set() or broken.is_set():
                    gate.release()
                    break
                tasks.append(asyncio.create_task(one(item.call_id)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        left = len(items) - done - failed
        await self._write(held, status="cancelled" if left else "completed", done=done, failed=failed)
        log.info("job %s: transcribed %d calls, %d failed, %d left", job.id, done, failed, left)

    async def _prepare_batch(self, held: _Held) -> None:
        job = held.job
        client = self._client()
        remote = dict(job.remote_ids)
        existing: Batch | None = None
        if "input_file" in remote:
            existing = await self._find_batch(job, remote["input_file"])
        else:
            with tempfile.TemporaryDirectory(prefix="bridge-job-") as folder:
                path = Path(folder) / f"{job.id}.jsonl"
                sent, failed = await self._write_requests(held, path)
                if sent == 0:
                    await self._write(held, status="failed", failed=failed, error="no call has a live transcript")
                    return
                size = (await anyio.Path(path).stat()).st_size
                if size > self._max_input_bytes:
                    error = f"the requests take {size} bytes, over the Batch API's limit of {self._max_input_bytes}"
                    await self._write(held, status="failed", failed=failed, error=error)
                    return
                uploaded = await client.upload_large(
                    path, f"bridge-job-{job.id}.jsonl", "batch", "text/jsonl", threshold=self._upload_threshold
                )
            remote["input_file"] = uploaded.id
            await self._write(held, failed=failed, remote_ids=remote)
            log.info("job %s: %d requests uploaded as %s", job.id, sent, uploaded.id)
        if held.cancel.is_set() and existing is None:
            await self._write(held, status="cancelled")
            return
        batch = existing or await client.create_batch(
            remote["input_file"], BATCH_ENDPOINT, "24h", metadata={"bridge_job_id": job.id}
        )
        remote["batch"] = batch.id
        # While cancelling this stays cancelling: the pollers cancel the batch.
        await self._write(held, status="submitted", remote_ids=remote)
        log.info("job %s: batch %s created", job.id, batch.id)

    async def _write_requests(self, held: _Held, path: Path) -> tuple[int, int]:
        """Write a request line per pending call with a live transcript; fail the others. (sent, failed)."""
        job = held.job
        labels = parse_labels(job.prompt or "") if job.kind == "classify" else []
        items = await self._store.list_job_items(job.id)
        failed = sum(item.status == "failed" for item in items)
        sent = 0
        async with await anyio.open_file(path, "wb") as out:
            for item in items:
                if item.status != "pending":
                    continue
                segments = await self._store.get_transcript(item.call_id, "live")
                text = transcript_text(segments or [])
                if not text:
                    await self._store.update_job_item(
                        job.id, item.call_id, status="failed", error="the call has no live transcript"
                    )
                    failed += 1
                    continue
                await out.write(
                    request_line(
                        item.call_id, kind=job.kind, model=job.model or "", prompt=job.prompt, labels=labels, text=text
                    )
                )
                sent += 1
        return sent, failed

    async def _find_batch(self, job: Job, input_file: str) -> Batch | None:
        """The batch an earlier run created from ``input_file`` but did not live to record, if any.

        Only the newest batches are looked at: that run created it moments before it stopped.
        """
        page = await self._client().list_batches(limit=_RECENT_BATCHES)
        for batch in page.data:
            if batch.input_file_id == input_file:
                log.info("job %s: found its batch %s", job.id, batch.id)
                return batch
        return None

    # ---- polling batches ----

    async def _poll_guarded(self, job: Job) -> None:
        try:
            await self._poll(job)
        except (UpstreamError, ProtocolError) as exc:
            if not isinstance(exc, UpstreamError) or exc.status != 404:
                log.warning("job %s: polling failed, trying again later: %s", job.id, exc)
                return
            moved = await self._store.update_job(
                job.id, expect_status=job.status, now=self._clock(), status="failed", error=str(exc)
            )
            if moved is not None:
                self._notify(moved)

    async def _poll(self, job: Job) -> None:
        client = self._client()
        batch = await client.retrieve_batch(job.remote_ids["batch"])
        if job.status == "cancelling" and batch.status in ("validating", "in_progress"):
            batch = await client.cancel_batch(batch.id)
            log.info("job %s: batch %s is %s", job.id, batch.id, batch.status)
        if batch.done:
            await self._finish_batch(job, batch)
            return
        counts = batch.request_counts
        if counts is None or counts.total == 0:
            return
        # Calls without a transcript never reached the batch; they are failed already.
        done, failed = counts.completed, job.total - counts.total + counts.failed
        if (done, failed) != (job.done, job.failed):
            moved = await self._store.update_job(
                job.id, expect_status=job.status, now=self._clock(), done=done, failed=failed
            )
            if moved is not None:
                self._notify(moved)

    async def _finish_batch(self, job: Job, batch: Batch) -> None:
        client = self._client()
        labels = parse_labels(job.prompt or "") if job.kind == "classify" else []
        remote = dict(job.remote_ids)
        outcomes: dict[str, Outcome] = {}
        for key, file_id in (("output_file", batch.output_file_id), ("error_file", batch.error_file_id)):
            if file_id is not None:
                remote[key] = file_id
                outcomes.update(parse_results(await client.file_content(file_id), kind=job.kind, labels=labels))
        error = _batch_error(batch) if batch.status == "failed" else None
        no_result = error if error is not None else _NO_RESULT.get(batch.status)
        done = failed = 0
        for item in await self._store.list_job_items(job.id):
            outcome = outcomes.get(item.call_id)
            if outcome is not None:
                status = "done" if outcome.result is not None else "failed"
                if (item.status, item.result, item.error) != (status, outcome.result, outcome.error):
                    await self._store.update_job_item(
                        job.id, item.call_id, status=status, result=outcome.result, error=outcome.error
                    )
            elif item.status == "pending" and no_result is not None:
                await self._store.update_job_item(job.id, item.call_id, status="failed", error=no_result)
                status = "failed"
            else:
                status = item.status  # failed before the batch (no transcript), or left pending by a cancel
            done += status == "done"
            failed += status == "failed"
        finished = await self._store.update_job(
            job.id,
            expect_status=job.status,
            now=self._clock(),
            status=batch.status,
            done=done,
            failed=failed,
            remote_ids=remote,
            error=error,
        )
        if finished is not None:
            log.info("job %s: batch %s %s: %d done, %d failed", job.id, batch.id, batch.status, done, failed)
            self._notify(finished)


def _batch_error(batch: Batch) -> str:
    """Why a batch failed, from its validation errors."""
    problems = [
        (f"line {e.line}: " if e.line is not None else "") + f"{e.code or 'error'}: {e.message or ''}".strip()
        for e in batch.errors[:3]
    ]
    more = f" (and {len(batch.errors) - 3} more)" if len(batch.errors) > 3 else ""
    return "the batch failed: " + ("; ".join(problems) or "no reason given") + more
