"""Retention: delete calls (and their recordings) older than a number of days, now and on a schedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import anyio

from bridge.archive.store import ArchiveStore
from bridge.errors import ArchiveError

__all__ = ["purge", "remove_recording", "run_retention"]

log = logging.getLogger("bridge.archive.retention")


async def remove_recording(path: str) -> bool:
    """Delete a recording file (in a worker thread); True if it was deleted. A missing file is fine; other
    failures are logged, since the call's row is already gone and nothing else will retry."""
    try:
        await anyio.Path(path).unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.error("could not delete recording %s: %s", path, exc)
        return False
    return True


async def purge(store: ArchiveStore, retention_days: int, now: datetime) -> int:
    """Delete calls started more than ``retention_days`` before ``now``, with their recordings.

    Returns how many calls were deleted. ``retention_days`` must be positive (0 means "keep forever"
    in the settings, and is handled by not purging at all).
    """
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    purged = await store.purge_older_than(now - timedelta(days=retention_days))
    for call in purged:
        if call.recording_path is not None:
            await remove_recording(call.recording_path)
    if purged:
        log.info("retention: deleted %d calls older than %d days", len(purged), retention_days)
    return len(purged)


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_retention(
    store: ArchiveStore,
    days: int,
    interval_s: float,
    *,
    clock: Callable[[], datetime] = _utc_now,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Purge now and then every ``interval_s`` until cancelled; returns at once when ``days`` is 0 (keep).

    Meant as a task started by the app's lifespan. A failed purge (database down) is logged and tried
    again at the next interval.
    """
    if days <= 0:
        return
    while True:
        try:
            await purge(store, days, clock())
        except ArchiveError as exc:
            log.warning("retention purge failed, retrying in %.0f s: %s", interval_s, exc)
        await sleep(interval_s)
