"""Transcription jobs against the engine's REST peer over loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from bridge.archive.database import ArchiveUnavailable
from bridge.archive.jobs_api import cancel_job
from bridge.archive.jobs_transcribe import ItemError, transcribe_call
from bridge.archive.jobs_worker import JobWorker
from bridge.archive.records import Job, TranscriptSegment
from bridge.archive.store import ArchiveStore
from bridge.audio.wav import read_wav, write_wav
from bridge.openai_api import OpenAIClient
from tests.archive_fixtures import Target, archive_target_fixture, store_fixture  # noqa: F401
from tests.integration.engine_rest_peer import running_peer
from tests.integration.jobs_support import Updates, ended_call, open_flaky, stereo_recording, submit, worker_for


def tone(seconds: float, rate: int = 8000) -> bytes:
    return (np.sin(np.arange(int(seconds * rate)) / 5) * 8000).astype("<i2").tobytes()


class CountingRecognizer:
    """Answers how many samples it got, so each chunk's text shows which audio it was."""

    def __init__(self) -> None:
        self.rates: list[int] = []

    def __call__(self, pcm16: bytes, rate: int) -> str:
        self.rates.append(rate)
        return f"heard {len(pcm16) // 2} samples"


class GateRecognizer:
    """Holds each transcription until the test lets it through, and reports each one as it starts."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.started: asyncio.Queue[int] = asyncio.Queue()
        self.permits = threading.Semaphore(0)
        self.calls = 0

    def __call__(self, pcm16: bytes, rate: int) -> str:
        self.calls += 1
        self.loop.call_soon_threadsafe(self.started.put_nowait, self.calls)
        if not self.permits.acquire(timeout=20):
            raise RuntimeError("the test never let the recognizer through")
        return "hello there"

    def let_one_through(self) -> None:
        self.permits.release()

    def open(self) -> None:
        self.permits.release(100)


@pytest.fixture
def updates() -> Updates:
    return Updates()


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


async def test_caller_channel_transcribed_by_pocketsphinx(
    store: ArchiveStore, tmp_path: Path, recordings: Path, shared_audio: Path, updates: Updates
) -> None:
    caller = read_wav(shared_audio / "caller-opening-hours.wav").pcm
    agent = read_wav(shared_audio / "agent-greeting.wav").pcm
    wav = stereo_recording(recordings / "call.wav", caller, agent)
    call_id = await ended_call(store, 0, ["what are your opening hours", "we open at nine"], recording=wav)
    no_recording = await ended_call(store, 1, ["hello"])
    job = await submit(store, kind="transcribe", calls=[call_id, no_recording])
    async with running_peer(tmp_path / "peer") as peer:
        worker = worker_for(store, peer, updates)
        try:
            await worker.run_once()
            finished = await updates.until(job.id, "completed")
        finally:
            await worker.close()
    assert (finished.done, finished.failed) == (1, 1)
    (segment,) = await store.get_transcript(call_id, "post") or []
    assert (segment.seq, segment.speaker, segment.source, segment.start_ms) == (0, "caller", "post", 0)
    assert segment.end_ms == len(agent) * 1000 // 2 // 8000  # the agent side is longer: silence pads the caller
    assert "opening" in segment.text.split()
    assert len(await store.get_transcript(call_id, "live") or []) == 2  # the live transcript is untouched
    items = {item.call_id: item for item in await store.list_job_items(job.id)}
    assert (items[call_id].status, items[call_id].result) == ("done", {"caller": segment.text})
    assert (items[no_recording].status, items[no_recording].error) == ("failed", "the call has no recording")


async def test_channels_in_chunks_and_every_kind_of_bad_recording(
    store: ArchiveStore, tmp_path: Path, recordings: Path, updates: Updates
) -> None:
    # 2.5 s of caller; the agent speaks in the first and last second only.
    stereo = stereo_recording(recordings / "stereo.wav", tone(2.5), tone(1) + bytes(16000) + tone(0.5))
    mono = recordings / "mono.wav"
    write_wav(mono, tone(0.5), 8000)
    junk = recordings / "junk.wav"
    junk.write_bytes(b"not a wav file")
    calls = {
        "stereo": await ended_call(store, 0, recording=stereo),
        "mono": await ended_call(store, 1, recording=mono),
        "missing": await ended_call(store, 2, recording=recordings / "gone.wav"),
        "junk": await ended_call(store, 3, recording=junk),
    }
    recognizer = CountingRecognizer()
    async with running_peer(tmp_path / "peer", recognizer=recognizer) as peer:
        for _ in range(2):  # a second run replaces the post segments instead of adding to them
            job = await submit(store, kind="transcribe", calls=list(calls.values()), channels=["agent", "caller"])
            worker = worker_for(store, peer, updates, chunk_ms=1000, transcribe_concurrency=2)
            try:
                await worker.run_once()
                finished = await updates.until(job.id, "completed")
            finally:
                await worker.close()
    assert (finished.done, finished.failed) == (1, 3)
    assert set(recognizer.rates) == {8000}  # sent at the recording's own rate
    assert await store.get_transcript(calls["stereo"], "post") == [
        TranscriptSegment(0, "caller", 0, 1000, "heard 8000 samples", source="post"),
        TranscriptSegment(1, "agent", 0, 1000, "heard 8000 samples", source="post"),
        TranscriptSegment(2, "caller", 1000, 2000, "heard 8000 samples", source="post"),
        TranscriptSegment(4, "caller", 2000, 2500, "heard 4000 samples", source="post"),
        TranscriptSegment(5, "agent", 2000, 2500, "heard 4000 samples", source="post"),
    ]
    items = {item.call_id: item for item in await store.list_job_items(finished.id)}
    assert items[calls["stereo"]].result == {
        "caller": "heard 8000 samples heard 8000 samples heard 4000 samples",
        "agent": "heard 8000 samples heard 4000 samples",
    }
    assert {name: items[call_id].error for name, call_id in calls.items()} == {
        "stereo": None,
        "mono": "the recording has 1 channel(s): no agent channel",
        "missing": "cannot read the recording: No such file or directory",
        "junk": "the recording is not a readable WAV file: not a RIFF/WAVE file",
    }


async def test_a_model_the_api_refuses_fails_each_call(
    store: ArchiveStore, tmp_path: Path, recordings: Path, updates: Updates
) -> None:
    wav = stereo_recording(recordings / "call.wav", tone(0.5), b"")
    call_id = await ended_call(store, 0, recording=wav)
    job = await submit(store, kind="transcribe", calls=[call_id], model="no-such-model")
    async with running_peer(tmp_path / "peer", recognizer=CountingRecognizer()) as peer:
        worker = worker_for(store, peer, updates)
        try:
            await worker.run_once()
            finished = await updates.until(job.id, "completed")
        finally:
            await worker.close()
    assert (finished.done, finished.failed) == (0, 1)
    (item,) = await store.list_job_items(job.id)
    assert item.error is not None and item.error.startswith("POST /audio/transcriptions -> 400: Invalid 'model'")


async def test_cancel_stops_scheduling_new_calls(
    store: ArchiveStore, tmp_path: Path, recordings: Path, updates: Updates
) -> None:
    calls = [
        await ended_call(store, n, recording=stereo_recording(recordings / f"{n}.wav", tone(0.2), b""))
        for n in range(3)
    ]
    job = await submit(store, kind="transcribe", calls=calls)
    gate = GateRecognizer()
    async with running_peer(tmp_path / "peer", recognizer=gate) as peer:
        worker = worker_for(store, peer, updates, transcribe_concurrency=1)
        try:
            await worker.run_once()
            await gate.started.get()  # the first call is being transcribed
            cancelling = await cancel_job(store, job.id)
            assert cancelling is not None and cancelling.status == "cancelling"
            gate.let_one_through()
            finished = await updates.until(job.id, "cancelled")
        finally:
            gate.open()
            await worker.close()
    assert gate.calls == 1
    assert (finished.done, finished.failed) == (1, 0)
    assert [item.status for item in await store.list_job_items(job.id)] == ["done", "pending", "pending"]


async def test_close_hands_a_running_job_to_the_next_worker(
    store: ArchiveStore, tmp_path: Path, recordings: Path, updates: Updates
) -> None:
    calls = [
        await ended_call(store, n, recording=stereo_recording(recordings / f"{n}.wav", tone(0.2), b""))
        for n in range(2)
    ]
    job = await submit(store, kind="transcribe", calls=calls)
    gate = GateRecognizer()
    async with running_peer(tmp_path / "peer", recognizer=gate) as peer:
        first = worker_for(store, peer, updates, transcribe_concurrency=1)
        try:
            await first.run_once()
            assert await gate.started.get() == 1
            gate.let_one_through()
            assert await gate.started.get() == 2  # the first call is done, the second in flight
        finally:
            await first.close()  # e.g. the bridge restarts mid-job
            gate.open()
        handed_back = await store.get_job(job.id)
        assert handed_back is not None and (handed_back.status, handed_back.done) == ("pending", 1)
        second = worker_for(store, peer, updates)
        try:
            await second.run_once()
            finished = await updates.until(job.id, "completed")
        finally:
            await second.close()
    assert (finished.done, finished.failed, gate.calls) == (2, 0, 3)  # only the unfinished call again


async def test_a_job_taken_from_its_runner_stops_it(
    store: ArchiveStore, tmp_path: Path, recordings: Path, updates: Updates
) -> None:
    calls = [
        await ended_call(store, n, recording=stereo_recording(recordings / f"{n}.wav", tone(0.2), b""))
        for n in range(2)
    ]
    job = await submit(store, kind="transcribe", calls=calls)
    gate = GateRecognizer()
    async with running_peer(tmp_path / "peer", recognizer=gate) as peer:
        worker = worker_for(store, peer, updates, transcribe_concurrency=1)
        try:
            await worker.run_once()
            await gate.started.get()
            await store.update_job(job.id, status="failed", error="stopped by hand")
            await worker.run_once()  # the heartbeat finds the job is no longer running
            gate.let_one_through()
            stopped = await updates.until(job.id, "failed")  # the runner found out and stopped
        finally:
            gate.open()
            await worker.close()
    assert (stopped.status, stopped.error, stopped.done) == ("failed", "stopped by hand", 0)
    assert gate.calls == 1
    assert [item.status for item in await store.list_job_items(job.id)] == ["done", "pending"]


async def test_the_background_loop_survives_failed_passes(
    archive_target: Target, tmp_path: Path, recordings: Path, updates: Updates, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_flaky(archive_target)
    naps: asyncio.Queue[float] = asyncio.Queue()

    async def nap(seconds: float) -> None:
        naps.put_nowait(seconds)
        await asyncio.Event().wait()  # only wake() starts the next pass

    observed: list[str] = []

    def observer(job: Job) -> None:
        observed.append(job.status)
        if len(observed) == 1:
            raise RuntimeError("observer bug")
        updates(job)

    try:
        wav = stereo_recording(recordings / "call.wav", tone(0.2), b"")
        call_id = await ended_call(store, 0, recording=wav)
        store.fail("claim_job", ArchiveUnavailable("archive down"))
        store.fail("claim_job", RuntimeError("a bug"))
        async with running_peer(tmp_path / "peer", recognizer=lambda pcm, rate: "") as peer:
            worker = JobWorker(store, peer.client, on_update=observer, sleep=nap, poll_interval_s=7)
            await worker.start()
            try:
                with pytest.raises(RuntimeError, match="already started"):
                    await worker.start()
                assert await naps.get() == 7  # the first pass failed on the archive
                worker.wake()
                await naps.get()  # the second on a bug
                job = await submit(store, kind="transcribe", calls=[call_id])
                worker.wake()
                finished = await updates.until(job.id, "completed")
                await naps.get()
            finally:
                await worker.close()
        assert (finished.done, finished.failed) == (1, 0)
        (item,) = await store.list_job_items(job.id)
        assert item.result == {"caller": ""}  # nothing was heard, so no segment was stored
        assert await store.get_transcript(call_id, "post") == []
    finally:
        await store.close()
    messages = [record.getMessage() for record in caplog.records]
    assert "jobs: the archive failed, trying again in 7 s: archive down" in messages
    assert "jobs: pass failed" in messages
    assert "job update observer failed" in messages


async def test_a_call_deleted_meanwhile_fails_its_item(store: ArchiveStore) -> None:
    async with OpenAIClient("unused", "http://127.0.0.1:9/v1") as client:
        with pytest.raises(ItemError, match="the call no longer exists"):
            await transcribe_call(store, client, "gone", channels=("caller",), model="m", prompt=None, chunk_ms=1000)
