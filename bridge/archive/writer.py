"""ArchiveWriter: the live call path's way into the archive, without ever awaiting the database.

``submit(op)`` appends to a bounded in-memory queue and returns at once. One background task drains the
queue in batches (one transaction per batch). While the database is unavailable the task keeps the batch
and retries it with exponential backoff, so records stay in order; what arrives while the queue is full is
dropped and counted. A write the database refuses outright (an event for an unknown call, a value that
breaks a constraint) is retried alone to find the culprit, which is then discarded and counted as rejected,
so one bad record never blocks the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from bridge.archive.database import ArchiveUnavailable
from bridge.archive.records import WriteOp
from bridge.errors import ArchiveError

__all__ = ["ArchiveSink", "ArchiveWriter"]

log = logging.getLogger("bridge.archive.writer")


class ArchiveSink(Protocol):
    """What the writer needs from the store (``ArchiveStore`` is one)."""

    async def apply(self, ops: Sequence[WriteOp]) -> None: ...


class ArchiveWriter:
    """A bounded write-behind queue in front of an :class:`ArchiveSink`.

    Counters (for /metrics): ``written`` operations stored, ``retried`` batch attempts that failed because
    the database was unavailable, ``dropped`` operations lost (queue full, submitted after close, or left
    over when close timed out), ``rejected`` operations the database refused.
    """

    def __init__(
        self,
        sink: ArchiveSink,
        *,
        max_pending: int = 10_000,
        batch_size: int = 256,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_pending < 1 or batch_size < 1:
            raise ValueError("max_pending and batch_size must be at least 1")
        self._sink = sink
        self._max_pending = max_pending
        self._batch_size = batch_size
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._queue: deque[WriteOp] = deque()
        self._in_flight = 0  # taken from the queue but not yet written: still counts against the bound
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.retried = 0
        self.dropped = 0
        self.rejected = 0

    @property
    def pending(self) -> int:
        """Operations accepted but not yet written."""
        return len(self._queue) + self._in_flight

    def start(self) -> None:
        """Start the background task (call from the running event loop)."""
        if self._task is not None:
            raise RuntimeError("ArchiveWriter already started")
        self._task = asyncio.create_task(self._run(), name="archive-writer")

    def submit(self, op: WriteOp) -> bool:
        """Queue ``op`` without blocking; False (and one more ``dropped``) when full or closed."""
        if self._closing or self.pending >= self._max_pending:
            self.dropped += 1
            return False
        self._queue.append(op)
        self._idle.clear()
        self._wakeup.set()
        return True

    async def flush(self) -> None:
        """Wait until everything submitted so far is written, rejected or dropped."""
        if self._task is None:
            raise RuntimeError("ArchiveWriter not started")
        idle = asyncio.create_task(self._idle.wait())
        done, _ = await asyncio.wait({idle, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if idle not in done:
            idle.cancel()
            self._task.result()  # the drain task died: surface why

    async def close(self, timeout_s: float | None = 10.0) -> None:
        """Stop accepting, drain what is queued (up to ``timeout_s``), then stop; the rest counts as dropped."""
        self._closing = True
        self._wakeup.set()
        if self._task is None:
            self.dropped += self.pending
            self._queue.clear()
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            lost = self.pending
            self.dropped += lost
            self._queue.clear()
            self._in_flight = 0
            self._idle.set()
            log.error("archive writer closed with %d operations unwritten (database unavailable)", lost)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            self._in_flight = len(batch)
            await self._write(batch)
            self._in_flight = 0

    async def _write(self, batch: list[WriteOp]) -> None:
        attempt = 0
        while True:
            try:
                await self._sink.apply(batch)
            except ArchiveUnavailable as exc:
                self.retried += 1
                if attempt == 0:
                    log.warning("archive unavailable, holding %d operations: %s", self.pending, exc)
                delay = min(self._backoff_max_s, self._backoff_initial_s * 2**attempt)
                attempt += 1
                await self._sleep(delay)
                continue
            except Exception as exc:  # refused: ArchiveError, or a bug in a sink, which must not stop the drain
                if len(batch) == 1:
                    self.rejected += 1
                    bug = not isinstance(exc, ArchiveError)
                    log.error("archive refused %s: %s", type(batch[0]).__name__, exc, exc_info=bug)
                    return
                # Find the bad operation(s): the others still deserve to be written, in order.
                for op in batch:
                    await self._write([op])
                return
            if attempt:
                log.info("archive available again after %d retries", attempt)
            self.written += len(batch)
            return
