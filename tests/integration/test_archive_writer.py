from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bridge.archive.database import ArchiveUnavailable, normalize_url
from bridge.archive.records import AddEvents, CallEvent, CreateCall, WriteOp
from bridge.archive.store import ArchiveStore
from bridge.archive.writer import ArchiveWriter
from tests.archive_fixtures import T0, pg_execute, postgres_url, unique_name


class FlakySink:
    """The real store behind a switch: while ``down``, every write fails as an unreachable database."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.down = False
        self.batches: list[int] = []

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        self.batches.append(len(ops))
        if self.down:
            raise ArchiveUnavailable("archive database unavailable: test outage")
        await self.store.apply(ops)


class ManualSleep:
    """Backoff sleeps that last until the test wakes them."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.asleep = asyncio.Event()
        self._wake = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.asleep.set()
        await self._wake.wait()
        self._wake.clear()

    def wake(self) -> None:
        self.asleep.clear()
        self._wake.set()


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), 10)  # a safety net, not a synchronization


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[ArchiveStore]:
    store = await ArchiveStore.open(f"sqlite:///{tmp_path / 'archive.db'}")
    yield store
    await store.close()


def event(seq: int) -> CallEvent:
    return CallEvent(seq, seq * 20, "turn", {"n": seq})


async def test_writes_in_bounded_batches_in_order(sqlite_store: ArchiveStore) -> None:
    sink = FlakySink(sqlite_store)
    writer = ArchiveWriter(sink, batch_size=3)
    writer.start()
    assert writer.submit(CreateCall(id="c1", started_at=T0))
    for seq in range(10):
        assert writer.submit(AddEvents("c1", [event(seq)]))
    assert writer.pending == 11
    await writer.flush()
    assert sink.batches == [3, 3, 3, 2]
    assert await sqlite_store.get_events("c1") == [event(seq) for seq in range(10)]
    assert (writer.written, writer.retried, writer.dropped, writer.rejected, writer.pending) == (11, 0, 0, 0, 0)
    await writer.close()


async def test_outage_keeps_records_in_order_up_to_the_bound(sqlite_store: ArchiveStore) -> None:
    sink = FlakySink(sqlite_store)
    sleep = ManualSleep()
    writer = ArchiveWriter(sink, max_pending=5, batch_size=2, backoff_initial_s=0.05, backoff_max_s=0.08, sleep=sleep)
    writer.start()
    sink.down = True
    assert writer.submit(CreateCall(id="c1", started_at=T0))
    assert writer.submit(AddEvents("c1", [event(0)]))
    assert writer.submit(AddEvents("c1", [event(1)]))
    await wait(sleep.asleep)  # the first batch failed; the writer backs off holding it
    assert writer.retried == 1 and writer.written == 0 and writer.pending == 3
    # The call path keeps going: submit returns at once, accepting up to the bound, then counting losses.
    assert writer.submit(AddEvents("c1", [event(2)]))
    assert writer.submit(AddEvents("c1", [event(3)]))
    assert not writer.submit(AddEvents("c1", [event(4)]))
    assert not writer.submit(AddEvents("c1", [event(5)]))
    assert writer.pending == 5 and writer.dropped == 2
    for _ in range(2):  # still down: backoff grows to its cap
        sleep.wake()
        await wait(sleep.asleep)
    assert sleep.delays == [0.05, 0.08, 0.08] and writer.retried == 3
    sink.down = False
    sleep.wake()
    await writer.flush()
    assert await sqlite_store.get_events("c1") == [event(seq) for seq in range(4)]
    assert (writer.written, writer.dropped, writer.rejected, writer.pending) == (5, 2, 0, 0)
    # Room again once written.
    assert writer.submit(AddEvents("c1", [event(6)]))
    await writer.close()
    assert len(await sqlite_store.get_events("c1") or []) == 5


async def test_a_refused_operation_is_isolated_and_counted(sqlite_store: ArchiveStore) -> None:
    writer = ArchiveWriter(sqlite_store, batch_size=10)
    writer.start()
    writer.submit(CreateCall(id="c1", started_at=T0))
    writer.submit(AddEvents("ghost", [event(0)]))  # no such call: the database refuses it
    writer.submit(AddEvents("c1", [event(1)]))
    await writer.flush()
    assert await sqlite_store.get_events("c1") == [event(1)]
    assert (writer.written, writer.rejected, writer.retried) == (2, 1, 0)
    await writer.close()


class BuggySink:
    """A sink with a bug for one kind of operation."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        if any(isinstance(op, AddEvents) and op.call_id == "bug" for op in ops):
            raise TypeError("a bug")
        await self.store.apply(ops)


async def test_a_bug_in_the_sink_does_not_stop_the_writer(sqlite_store: ArchiveStore) -> None:
    writer = ArchiveWriter(BuggySink(sqlite_store))
    writer.start()
    writer.submit(CreateCall(id="c1", started_at=T0))
    writer.submit(AddEvents("bug", [event(0)]))
    writer.submit(AddEvents("c1", [event(1)]))
    await writer.flush()
    assert await sqlite_store.get_events("c1") == [event(1)]
    assert (writer.written, writer.rejected) == (2, 1)
    await writer.close()


async def test_close_drains_then_refuses(sqlite_store: ArchiveStore) -> None:
    writer = ArchiveWriter(sqlite_store)
    writer.start()
    writer.submit(CreateCall(id="c1", started_at=T0))
    writer.submit(AddEvents("c1", [event(0)]))
    await writer.close()
    assert await sqlite_store.get_events("c1") == [event(0)]
    assert not writer.submit(AddEvents("c1", [event(1)]))
    assert (writer.written, writer.dropped) == (2, 1)


async def test_close_gives_up_on_a_dead_database_and_counts_the_loss(sqlite_store: ArchiveStore) -> None:
    sink = FlakySink(sqlite_store)
    sink.down = True
    sleep = ManualSleep()
    writer = ArchiveWriter(sink, sleep=sleep)
    writer.start()
    for seq in range(3):
        writer.submit(AddEvents("c1", [event(seq)]))
    await wait(sleep.asleep)
    await writer.close(timeout_s=0.01)
    assert (writer.dropped, writer.pending, writer.written) == (3, 0, 0)
    await writer.flush()  # nothing left to wait for


async def test_closing_an_unstarted_writer_counts_what_was_queued(sqlite_store: ArchiveStore) -> None:
    writer = ArchiveWriter(sqlite_store)
    writer.submit(CreateCall(id="c1", started_at=T0))
    with pytest.raises(RuntimeError, match="not started"):
        await writer.flush()
    await writer.close()
    assert (writer.dropped, writer.pending) == (1, 0)


async def test_flush_reports_a_dead_drain_task(sqlite_store: ArchiveStore) -> None:
    sink = FlakySink(sqlite_store)
    sink.down = True

    async def broken_sleep(delay: float) -> None:
        raise RuntimeError("sleep broke")

    writer = ArchiveWriter(sink, sleep=broken_sleep)
    writer.start()
    writer.submit(CreateCall(id="c1", started_at=T0))
    with pytest.raises(RuntimeError, match="sleep broke"):
        await writer.flush()
    with pytest.raises(RuntimeError, match="sleep broke"):
        await writer.close()


async def test_misuse_is_refused(sqlite_store: ArchiveStore) -> None:
    with pytest.raises(ValueError):
        ArchiveWriter(sqlite_store, max_pending=0)
    with pytest.raises(ValueError):
        ArchiveWriter(sqlite_store, batch_size=0)
    writer = ArchiveWriter(sqlite_store)
    writer.start()
    with pytest.raises(RuntimeError, match="already started"):
        writer.start()
    await writer.close()


class ObservedStore:
    """The real store, noting when a write failed because the database was unavailable."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store
        self.unavailable = asyncio.Event()

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        try:
            await self.store.apply(ops)
        except ArchiveUnavailable:
            self.unavailable.set()
            raise


@pytest.mark.postgres
async def test_postgres_outage_and_recovery() -> None:
    url = postgres_url()
    name = unique_name("archive_outage")
    db_url = normalize_url(url).set(database=name).render_as_string(hide_password=False)
    await pg_execute(url, f'CREATE DATABASE "{name}"')
    try:
        store = await ArchiveStore.open(db_url)
        observed = ObservedStore(store)
        writer = ArchiveWriter(observed, backoff_initial_s=0.01, backoff_max_s=0.05)
        writer.start()
        try:
            writer.submit(CreateCall(id="c1", started_at=T0))
            await writer.flush()
            # The database goes away: new connections refused, existing ones killed.
            await pg_execute(
                url,
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
            )
            for seq in range(20):
                assert writer.submit(AddEvents("c1", [event(seq)]))
            await wait(observed.unavailable)
            assert writer.written == 1 and writer.pending == 20
            await pg_execute(url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await asyncio.wait_for(writer.flush(), 10)
            assert await store.get_events("c1") == [event(seq) for seq in range(20)]
            assert writer.written == 21 and writer.retried >= 1 and writer.dropped == writer.rejected == 0
        finally:
            await writer.close()
            await store.close()
    finally:
        await pg_execute(url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', f'DROP DATABASE "{name}" WITH (FORCE)')
