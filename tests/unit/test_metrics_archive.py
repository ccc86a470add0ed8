"""The archive writer's counters on /metrics (``bridge_archive_*``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bridge.archive.records import CreateCall, UpdateCall, WriteOp
from bridge.archive.writer import ArchiveWriter
from bridge.errors import ArchiveError
from bridge.web.calls import CallRegistry
from bridge.web.metrics import BridgeMetrics

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class RefusingSink:
    """Writes everything but updates, which it refuses as the database would an update of a missing call."""

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        if any(isinstance(op, UpdateCall) for op in ops):
            raise ArchiveError("no call to update")


def archive_lines(metrics: BridgeMetrics) -> list[str]:
    return [line for line in metrics.render().splitlines() if line.startswith("bridge_archive_")]


async def test_the_writers_counters_are_exposed_while_there_is_a_writer() -> None:
    writer: ArchiveWriter | None = None
    metrics = BridgeMetrics(CallRegistry(), archive_writer=lambda: writer)
    assert archive_lines(metrics) == []  # before the lifespan opened the archive: no samples
    assert "# TYPE bridge_archive_pending gauge" in metrics.render()
    writer = ArchiveWriter(RefusingSink(), max_pending=2)
    writer.start()
    assert writer.submit(CreateCall(id="c1", started_at=T0))
    assert writer.submit(UpdateCall("c1", {"end_reason": "x"}))
    assert not writer.submit(CreateCall(id="c2", started_at=T0))  # the queue holds two
    assert archive_lines(metrics)[-1] == "bridge_archive_pending 2"
    await writer.flush()
    assert archive_lines(metrics) == [
        "bridge_archive_written_total 1",
        "bridge_archive_retried_total 0",
        "bridge_archive_dropped_total 1",
        "bridge_archive_rejected_total 1",
        "bridge_archive_pending 0",
    ]
    await writer.close()


def test_without_an_archive_there_are_no_archive_metrics() -> None:
    assert "bridge_archive" not in BridgeMetrics(CallRegistry()).render()
