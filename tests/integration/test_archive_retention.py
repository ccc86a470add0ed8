from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bridge.archive.database import create_engine
from bridge.archive.retention import purge, remove_recording, run_retention
from bridge.archive.store import ArchiveStore
from tests.archive_fixtures import T0, add_call, archive_target_fixture, store_fixture  # noqa: F401

NOW = T0 + timedelta(days=100)


async def recorded_call(store: ArchiveStore, folder: Path, age_days: float) -> tuple[str, Path]:
    call_id = await add_call(store, (NOW - T0 - timedelta(days=age_days)).total_seconds() / 60)
    path = folder / f"{call_id}.wav"
    path.write_bytes(b"RIFF")
    await store.update_call(call_id, recording_path=str(path))
    return call_id, path


async def test_purge_deletes_old_calls_and_their_recordings(store: ArchiveStore, tmp_path: Path) -> None:
    old, old_file = await recorded_call(store, tmp_path, age_days=31)
    unrecorded_old = await add_call(store, (NOW - T0 - timedelta(days=45)).total_seconds() / 60)
    fresh, fresh_file = await recorded_call(store, tmp_path, age_days=29)
    assert await purge(store, 30, NOW) == 2
    assert await store.get_call(old) is None and await store.get_call(unrecorded_old) is None
    assert not old_file.exists()
    assert await store.get_call(fresh) is not None and fresh_file.exists()
    assert await purge(store, 30, NOW) == 0
    with pytest.raises(ValueError):
        await purge(store, 0, NOW)


async def test_a_recording_that_cannot_be_deleted_is_logged_and_skipped(
    store: ArchiveStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stuck, stuck_path = await recorded_call(store, tmp_path, age_days=40)
    stuck_path.unlink()
    stuck_path.mkdir()  # a directory where the file was: unlink fails
    other, other_path = await recorded_call(store, tmp_path, age_days=41)
    with caplog.at_level(logging.ERROR, logger="bridge.archive.retention"):
        assert await purge(store, 30, NOW) == 2
    assert not other_path.exists() and stuck_path.is_dir()
    assert any(str(stuck_path) in r.getMessage() for r in caplog.records)
    assert await store.get_call(stuck) is None and await store.get_call(other) is None


async def test_remove_recording(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"x")
    assert await remove_recording(str(path)) is True
    assert await remove_recording(str(path)) is False  # already gone is fine


class Stop(Exception):
    pass


class FakeTime:
    """A clock that advances by each sleep, and a sleep that stops the loop after ``rounds``."""

    def __init__(self, start: datetime, rounds: int) -> None:
        self.now = start
        self.rounds = rounds
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) == self.rounds:
            raise Stop
        self.now += timedelta(seconds=seconds)


async def test_run_retention_purges_on_every_interval(store: ArchiveStore, tmp_path: Path) -> None:
    day = 86_400.0
    first, _ = await recorded_call(store, tmp_path, age_days=31)  # past 30 days now
    second, _ = await recorded_call(store, tmp_path, age_days=29.5)  # past 30 days a day from now
    third, _ = await recorded_call(store, tmp_path, age_days=1)
    time = FakeTime(NOW, rounds=2)
    with pytest.raises(Stop):
        await run_retention(store, 30, day, clock=time.clock, sleep=time.sleep)
    assert time.sleeps == [day, day]
    assert [await store.get_call(c) is None for c in (first, second, third)] == [True, True, False]


async def test_run_retention_with_zero_days_keeps_everything(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    time = FakeTime(NOW, rounds=1)
    await run_retention(store, 0, 60.0, clock=time.clock, sleep=time.sleep)  # returns at once
    assert time.sleeps == [] and await store.get_call(call_id) is not None


async def test_run_retention_survives_an_unavailable_database(caplog: pytest.LogCaptureFixture) -> None:
    store = ArchiveStore(create_engine("postgresql://postgres@127.0.0.1:1/nothing"), sqlite_fts=False)
    time = FakeTime(NOW, rounds=3)
    try:
        with caplog.at_level(logging.WARNING, logger="bridge.archive.retention"), pytest.raises(Stop):
            await run_retention(store, 30, 3600.0, clock=time.clock, sleep=time.sleep)
    finally:
        await store.close()
    assert time.sleeps == [3600.0] * 3
    assert len([r for r in caplog.records if "retention purge failed" in r.getMessage()]) == 3
