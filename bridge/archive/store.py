"""ArchiveStore: every read and write of the call archive, on SQLite or PostgreSQL.

Writes are idempotent so a batch can be retried after an ambiguous failure: creating an existing call or
event changes nothing, and transcript segments and tool calls are replaced by key. Every SQLAlchemy or
driver error leaves as ArchiveError (ArchiveUnavailable when retrying may help).

The live call path does not call this directly: it queues operations on :class:`ArchiveWriter`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.archive import schema as tables
from bridge.archive.database import connect, create_engine, writer_engine
from bridge.archive.migrations import migrate
from bridge.archive.query import CallFilter, Cursor
from bridge.archive.records import (
    AddEvents,
    AddToolCalls,
    AddTranscriptSegments,
    Call,
    CallEvent,
    CreateCall,
    FinishCall,
    Job,
    JobItem,
    Source,
    ToolCall,
    TranscriptSegment,
    UpdateCall,
    WriteOp,
    new_id,
)
from bridge.errors import ArchiveError

__all__ = ["ArchiveStore"]

_calls = tables.calls
_events = tables.call_events
_segments = tables.transcript_segments
_tools = tables.tool_calls
_jobs = tables.jobs
_items = tables.job_items

_WORD = re.compile(r"\w+")
_PURGE_BATCH = 500


class ArchiveStore:
    """The archive database. Create with :meth:`open`; all methods are coroutines except :meth:`dialect`."""

    def __init__(self, engine: AsyncEngine, *, sqlite_fts: bool) -> None:
        """Use :meth:`open`; this takes an engine from ``create_engine`` whose schema is migrated."""
        self._engine = engine
        self._writer = writer_engine(engine)
        self._sqlite_fts = sqlite_fts

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None) -> ArchiveStore:
        """Connect to ``url`` (``sqlite:///...`` or ``postgresql://...``, async drivers implied) and migrate.

        ``schema`` (PostgreSQL only) keeps the tables in that schema, created when missing.
        Raises ConfigError for an unusable URL and ArchiveError when the database fails.
        """
        engine = create_engine(url, schema=schema)
        try:
            await migrate(engine, schema_name=schema)
            sqlite_fts = False
            if engine.dialect.name == "sqlite":
                async with connect(engine, "inspect the archive") as conn:
                    found = await conn.execute(
                        sa.text("SELECT 1 FROM sqlite_master WHERE name = :name"), {"name": tables.SQLITE_FTS_TABLE}
                    )
                    sqlite_fts = found.first() is not None
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, sqlite_fts=sqlite_fts)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def ping(self) -> None:
        """Round-trip to the database; raises ArchiveUnavailable when it cannot be reached."""
        async with connect(self._engine, "ping the archive") as conn:
            await conn.execute(sa.select(1))

    # ---- writes ----

    async def apply(self, ops: Sequence[WriteOp]) -> None:
        """Apply ``ops`` in order, in one transaction: all of them or none.

        Consecutive operations of one kind go to the database as one statement. Raises ArchiveError
        (e.g. an event for an unknown call, an update of a missing call) or ArchiveUnavailable.
        """
        if not ops:
            return
        async with connect(self._writer, "write to the archive") as conn:
            for kind, group in groupby(ops, key=type):
                run: list[Any] = list(group)  # all of type ``kind``
                if kind is CreateCall:
                    await self._create_calls(conn, run)
                elif kind is AddEvents:
                    await self._add_events(conn, run)
                elif kind is AddTranscriptSegments:
                    await self._add_segments(conn, run)
                elif kind is AddToolCalls:
                    await self._add_tool_calls(conn, run)
                else:
                    for op in run:
                        await self._update_call(conn, op)

    async def create_call(self, call: CreateCall) -> None:
        """Insert a call (nothing happens if its id exists)."""
        await self.apply([call])

    async def update_call(self, call_id: str, **fields: Any) -> None:
        """Set fields of a call (see ``CALL_UPDATABLE_FIELDS``); ArchiveError if the call does not exist."""
        await self.apply([UpdateCall(call_id, fields)])

    async def finish_call(self, call_id: str, *, ended_at: datetime, end_reason: str, **fields: Any) -> None:
        """Record the end of a call; ``duration_s`` defaults to ``ended_at - started_at``."""
        await self.apply([FinishCall(call_id, ended_at, end_reason, fields)])

    async def add_events(self, call_id: str, events: Sequence[CallEvent]) -> None:
        """Append timeline events (an event whose ``seq`` exists is left as it is)."""
        await self.apply([AddEvents(call_id, events)])

    async def add_transcript_segments(self, call_id: str, segments: Sequence[TranscriptSegment]) -> None:
        """Write transcript segments; one whose ``(source, seq)`` exists replaces it."""
        await self.apply([AddTranscriptSegments(call_id, segments)])

    async def add_tool_calls(self, call_id: str, tool_calls: Sequence[ToolCall]) -> None:
        """Write tool calls; one whose ``call_id_model`` exists replaces it."""
        await self.apply([AddToolCalls(call_id, tool_calls)])

    def _insert(self, table: sa.Table) -> Any:
        return (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)

    async def _create_calls(self, conn: AsyncConnection, ops: list[CreateCall]) -> None:
        rows = [
            {
                "id": op.id,
                "started_at": op.started_at,
                "call_sid": op.call_sid,
                "stream_sid": op.stream_sid,
                "from_number": op.from_number,
                "to_number": op.to_number,
                "dialplan": op.dialplan,
                "model": op.model,
                "voice": op.voice,
                "audio_mode": op.audio_mode,
                "metadata": dict(op.metadata),
            }
            for op in ops
        ]
        await conn.execute(self._insert(_calls).on_conflict_do_nothing(index_elements=["id"]), rows)

    async def _update_call(self, conn: AsyncConnection, op: UpdateCall | FinishCall) -> None:
        values = dict(op.fields)
        if "metadata" in values:
            values["metadata"] = dict(values["metadata"])
        if isinstance(op, FinishCall):
            started = (await conn.execute(sa.select(_calls.c.started_at).where(_calls.c.id == op.call_id))).first()
            if started is None:
                raise ArchiveError(f"no call {op.call_id!r} to finish")
            values.update(ended_at=op.ended_at, end_reason=op.end_reason)
            values.setdefault("duration_s", (op.ended_at - started[0]).total_seconds())
        if not values:
            return
        result = await conn.execute(_calls.update().where(_calls.c.id == op.call_id).values(values))
        if result.rowcount == 0:
            raise ArchiveError(f"no call {op.call_id!r} to update")

    async def _add_events(self, conn: AsyncConnection, ops: list[AddEvents]) -> None:
        rows = [
            {"call_id": op.call_id, "seq": e.seq, "at_ms": e.at_ms, "kind": e.kind, "data": dict(e.data)}
            for op in ops
            for e in op.events
        ]
        if rows:
            stmt = self._insert(_events).on_conflict_do_nothing(index_elements=["call_id", "seq"])
            await conn.execute(stmt, rows)

    async def _add_segments(self, conn: AsyncConnection, ops: list[AddTranscriptSegments]) -> None:
        rows = [
            {
                "call_id": op.call_id,
                "source": s.source,
                "seq": s.seq,
                "speaker": s.speaker,
                "start_ms": s.start_ms,
                "end_ms": s.end_ms,
                "text": s.text,
                "heard_text": s.heard_text,
                "cut": s.cut,
                "item_id": s.item_id,
            }
            for op in ops
            for s in op.segments
        ]
        if rows:
            stmt = self._insert(_segments)
            replaced = ("speaker", "start_ms", "end_ms", "text", "heard_text", "cut", "item_id")
            stmt = stmt.on_conflict_do_update(
                index_elements=["call_id", "source", "seq"], set_={c: stmt.excluded[c] for c in replaced}
            )
            await conn.execute(stmt, rows)

    async def _add_tool_calls(self, conn: AsyncConnection, ops: list[AddToolCalls]) -> None:
        rows = [
            {
                "call_id": op.call_id,
                "call_id_model": t.call_id_model,
                "name": t.name,
                "arguments": dict(t.arguments),
                "output": t.output,
                "status": t.status,
                "started_at_ms": t.started_at_ms,
                "duration_ms": t.duration_ms,
            }
            for op in ops
            for t in op.tool_calls
        ]
        if rows:
            stmt = self._insert(_tools)
            replaced = ("name", "arguments", "output", "status", "started_at_ms", "duration_ms")
            stmt = stmt.on_conflict_do_update(
                index_elements=["call_id", "call_id_model"], set_={c: stmt.excluded[c] for c in replaced}
            )
            await conn.execute(stmt, rows)

    # ---- reads ----

    async def get_call(self, call_id: str) -> Call | None:
        """The call, or None."""
        async with connect(self._engine, "read a call") as conn:
            row = (await conn.execute(sa.select(_calls).where(_calls.c.id == call_id))).first()
        return None if row is None else _call(row)

    async def list_calls(
        self, filters: CallFilter | None = None, *, cursor: Cursor | None = None, limit: int = 50
    ) -> tuple[list[Call], Cursor | None]:
        """Calls matching ``filters``, newest first, at most ``limit`` of them after ``cursor``.

        Returns the page and the cursor of the next one (None on the last page). Paging is keyset on
        ``(started_at, id)``, so calls inserted meanwhile never shift or repeat the following pages.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        f = filters or CallFilter()
        stmt = sa.select(_calls)
        for column, value in (
            (_calls.c.from_number, f.from_number),
            (_calls.c.to_number, f.to_number),
            (_calls.c.dialplan, f.dialplan),
            (_calls.c.end_reason, f.end_reason),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if f.since is not None:
            stmt = stmt.where(_calls.c.started_at >= f.since)
        if f.until is not None:
            stmt = stmt.where(_calls.c.started_at < f.until)
        if f.q is not None:
            stmt = stmt.where(_calls.c.id.in_(self._search(f.q)))
        stmt = _keyset(stmt, _calls.c.started_at, _calls.c.id, cursor, limit)
        async with connect(self._engine, "list calls") as conn:
            rows = (await conn.execute(stmt)).all()
        page = [_call(row) for row in rows[:limit]]
        more = len(rows) > limit
        return page, (Cursor(page[-1].started_at, page[-1].id) if more else None)

    def _search(self, q: str) -> sa.Select[tuple[str]]:
        """Ids of calls with a transcript segment containing every word of ``q``."""
        matching = sa.select(_segments.c.call_id)
        if self.dialect == "postgresql":
            # Same expression as the GIN index (migration 2), with the config as a literal so it matches.
            config: sa.ColumnElement[Any] = sa.literal_column(f"'{tables.FTS_CONFIG}'::regconfig")
            document = sa.func.to_tsvector(config, _segments.c.text)
            return matching.where(document.op("@@")(sa.func.plainto_tsquery(config, q)))
        words = _WORD.findall(q)
        if not words:
            return matching.where(sa.false())
        if self._sqlite_fts:
            fts = sa.table(tables.SQLITE_FTS_TABLE, sa.column("rowid"))
            # Each word as a quoted FTS5 string: user input never reaches FTS5's query syntax.
            match = " ".join(f'"{word}"' for word in words)
            hits = sa.select(fts.c.rowid).where(sa.literal_column(tables.SQLITE_FTS_TABLE).op("MATCH")(match))
            return matching.where(_segments.c.id.in_(hits))
        # No FTS5 in this SQLite: scan. "_" is the only LIKE wildcard a \w+ word can hold.
        patterns = ("%" + word.replace("_", "\\_") + "%" for word in words)
        return matching.where(*(_segments.c.text.ilike(p, escape="\\") for p in patterns))

    async def _rows_of_call(self, call_id: str, stmt: sa.Select[Any], action: str) -> Sequence[sa.Row[Any]] | None:
        """The rows ``stmt`` selects for one call; None when the call does not exist."""
        async with connect(self._engine, action) as conn:
            if not await _exists(conn, call_id):
                return None
            rows: Sequence[sa.Row[Any]] = (await conn.execute(stmt)).all()
        return rows

    async def get_events(self, call_id: str) -> list[CallEvent] | None:
        """The call's timeline in ``seq`` order; None when the call does not exist."""
        stmt = sa.select(_events).where(_events.c.call_id == call_id).order_by(_events.c.seq)
        rows = await self._rows_of_call(call_id, stmt, "read call events")
        if rows is None:
            return None
        return [CallEvent(seq=r.seq, at_ms=r.at_ms, kind=r.kind, data=r.data) for r in rows]

    async def get_transcript(self, call_id: str, source: Source | None = None) -> list[TranscriptSegment] | None:
        """The call's segments in time order (optionally one source); None when the call does not exist."""
        stmt = sa.select(_segments).where(_segments.c.call_id == call_id)
        if source is not None:
            stmt = stmt.where(_segments.c.source == source)
        stmt = stmt.order_by(_segments.c.start_ms, _segments.c.source, _segments.c.seq)
        rows = await self._rows_of_call(call_id, stmt, "read a transcript")
        if rows is None:
            return None
        return [
            TranscriptSegment(
                seq=r.seq,
                speaker=r.speaker,
                start_ms=r.start_ms,
                end_ms=r.end_ms,
                text=r.text,
                source=r.source,
                heard_text=r.heard_text,
                cut=r.cut,
                item_id=r.item_id,
            )
            for r in rows
        ]

    async def get_tool_calls(self, call_id: str) -> list[ToolCall] | None:
        """The call's tool calls by start time; None when the call does not exist."""
        stmt = (
            sa.select(_tools)
            .where(_tools.c.call_id == call_id)
            .order_by(_tools.c.started_at_ms, _tools.c.call_id_model)
        )
        rows = await self._rows_of_call(call_id, stmt, "read tool calls")
        if rows is None:
            return None
        return [
            ToolCall(
                call_id_model=r.call_id_model,
                name=r.name,
                arguments=r.arguments,
                status=r.status,
                started_at_ms=r.started_at_ms,
                duration_ms=r.duration_ms,
                output=r.output,
            )
            for r in rows
        ]

    # ---- deletes ----

    async def delete_call(self, call_id: str) -> Call | None:
        """Delete a call and everything recorded with it; return it (its ``recording_path`` is the
        caller's to remove from disk), or None when there was no such call."""
        async with connect(self._writer, "delete a call") as conn:
            row = (await conn.execute(sa.select(_calls).where(_calls.c.id == call_id))).first()
            if row is None:
                return None
            await conn.execute(_calls.delete().where(_calls.c.id == call_id))
        return _call(row)

    async def purge_older_than(self, cutoff: datetime) -> list[Call]:
        """Delete every call started before ``cutoff``; return them (for their recording paths).

        Runs in batches of a few hundred calls, each its own transaction, so live writes are never held
        up behind one long delete.
        """
        purged: list[Call] = []
        while True:
            async with connect(self._writer, "purge old calls") as conn:
                stmt = (
                    sa.select(_calls)
                    .where(_calls.c.started_at < cutoff)
                    .order_by(_calls.c.started_at, _calls.c.id)
                    .limit(_PURGE_BATCH)
                )
                batch = [_call(row) for row in (await conn.execute(stmt)).all()]
                if batch:
                    await conn.execute(_calls.delete().where(_calls.c.id.in_([c.id for c in batch])))
            purged.extend(batch)
            if len(batch) < _PURGE_BATCH:
                return purged

    # ---- jobs (driven by the post-call jobs module) ----

    async def create_job(
        self,
        kind: str,
        *,
        status: str = "pending",
        model: str | None = None,
        prompt: str | None = None,
        filter: Mapping[str, Any] | None = None,
        total: int = 0,
        job_id: str | None = None,
        now: datetime | None = None,
    ) -> Job:
        """Insert a job (id from ``new_id`` unless given) and return it."""
        moment = now or datetime.now(UTC)
        job = Job(
            id=job_id or new_id(moment),
            kind=kind,
            status=status,
            created_at=moment,
            updated_at=moment,
            model=model,
            prompt=prompt,
            filter=dict(filter or {}),
            total=total,
        )
        async with connect(self._writer, "create a job") as conn:
            await conn.execute(
                _jobs.insert().values(
                    id=job.id,
                    kind=kind,
                    status=status,
                    model=model,
                    prompt=prompt,
                    filter=dict(job.filter),
                    total=total,
                    remote_ids={},
                    created_at=moment,
                    updated_at=moment,
                )
            )
        return job

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None."""
        async with connect(self._engine, "read a job") as conn:
            row = (await conn.execute(sa.select(_jobs).where(_jobs.c.id == job_id))).first()
        return None if row is None else _job(row)

    async def list_jobs(
        self, *, status: str | None = None, kind: str | None = None, cursor: Cursor | None = None, limit: int = 50
    ) -> tuple[list[Job], Cursor | None]:
        """Jobs newest first, keyset-paged on ``(created_at, id)`` like :meth:`list_calls`."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        stmt = sa.select(_jobs)
        if status is not None:
            stmt = stmt.where(_jobs.c.status == status)
        if kind is not None:
            stmt = stmt.where(_jobs.c.kind == kind)
        stmt = _keyset(stmt, _jobs.c.created_at, _jobs.c.id, cursor, limit)
        async with connect(self._engine, "list jobs") as conn:
            rows = (await conn.execute(stmt)).all()
        page = [_job(row) for row in rows[:limit]]
        return page, (Cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None)

    async def update_job(
        self, job_id: str, *, expect_status: str | None = None, now: datetime | None = None, **fields: Any
    ) -> Job | None:
        """Set job fields (status, model, prompt, filter, total, done, failed, remote_ids, error).

        With ``expect_status`` the update only happens while the job still has that status (a
        compare-and-set between processes). Returns the updated job, or None when nothing matched.
        """
        allowed = {"status", "model", "prompt", "filter", "total", "done", "failed", "remote_ids", "error"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable job fields: {', '.join(sorted(unknown))}")
        stmt = _jobs.update().where(_jobs.c.id == job_id).values({**fields, "updated_at": now or datetime.now(UTC)})
        if expect_status is not None:
            stmt = stmt.where(_jobs.c.status == expect_status)
        async with connect(self._writer, "update a job") as conn:
            if (await conn.execute(stmt)).rowcount == 0:
                return None
            row = (await conn.execute(sa.select(_jobs).where(_jobs.c.id == job_id))).one()
        return _job(row)

    async def claim_job(
        self, *, status: str, to_status: str, kind: str | None = None, now: datetime | None = None
    ) -> Job | None:
        """Atomically move the oldest job in ``status`` to ``to_status`` and return it (None: none waiting).

        Safe with several processes: on PostgreSQL rows locked by another claimer are skipped, on SQLite
        the write lock serializes claimers.
        """
        pick = sa.select(_jobs.c.id).where(_jobs.c.status == status)
        if kind is not None:
            pick = pick.where(_jobs.c.kind == kind)
        pick = pick.order_by(_jobs.c.created_at, _jobs.c.id).limit(1).with_for_update(skip_locked=True)
        async with connect(self._writer, "claim a job") as conn:
            job_id = (await conn.execute(pick)).scalar()
            if job_id is None:
                return None
            await conn.execute(
                _jobs.update().where(_jobs.c.id == job_id).values(status=to_status, updated_at=now or datetime.now(UTC))
            )
            row = (await conn.execute(sa.select(_jobs).where(_jobs.c.id == job_id))).one()
        return _job(row)

    async def delete_job(self, job_id: str) -> bool:
        """Delete a job and its items; False when there was no such job."""
        async with connect(self._writer, "delete a job") as conn:
            return (await conn.execute(_jobs.delete().where(_jobs.c.id == job_id))).rowcount > 0

    async def add_job_items(self, job_id: str, call_ids: Sequence[str], *, status: str = "pending") -> None:
        """Attach calls to a job (a call already attached is left as it is)."""
        if not call_ids:
            return
        rows = [{"job_id": job_id, "call_id": call_id, "status": status} for call_id in call_ids]
        stmt = self._insert(_items).on_conflict_do_nothing(index_elements=["job_id", "call_id"])
        async with connect(self._writer, "add job items") as conn:
            await conn.execute(stmt, rows)

    async def update_job_item(
        self,
        job_id: str,
        call_id: str,
        *,
        status: str,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Record an item's outcome; False when the item does not exist."""
        stmt = (
            _items.update()
            .where(_items.c.job_id == job_id, _items.c.call_id == call_id)
            .values(status=status, result=None if result is None else dict(result), error=error)
        )
        async with connect(self._writer, "update a job item") as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def list_job_items(self, job_id: str, *, status: str | None = None) -> list[JobItem]:
        """A job's items in call-id order (which is call-creation order for our ids)."""
        stmt = sa.select(_items).where(_items.c.job_id == job_id)
        if status is not None:
            stmt = stmt.where(_items.c.status == status)
        async with connect(self._engine, "list job items") as conn:
            rows = (await conn.execute(stmt.order_by(_items.c.call_id))).all()
        return [
            JobItem(job_id=r.job_id, call_id=r.call_id, status=r.status, result=r.result, error=r.error) for r in rows
        ]


def _keyset(
    stmt: sa.Select[Any],
    at: sa.ColumnElement[datetime],
    ident: sa.ColumnElement[str],
    cursor: Cursor | None,
    limit: int,
) -> sa.Select[Any]:
    """Newest first, strictly after ``cursor``, one row more than ``limit`` to tell whether a page follows."""
    if cursor is not None:
        # A row-value comparison, which both databases answer from the (at, id) index.
        key = sa.tuple_(sa.literal(cursor.at, tables.UtcDateTime()), sa.literal(cursor.id, sa.String()))
        stmt = stmt.where(sa.tuple_(at, ident) < key)
    return stmt.order_by(at.desc(), ident.desc()).limit(limit + 1)


async def _exists(conn: AsyncConnection, call_id: str) -> bool:
    return (await conn.execute(sa.select(_calls.c.id).where(_calls.c.id == call_id))).first() is not None


def _call(row: sa.Row[Any]) -> Call:
    # Column names are the dataclass's field names.
    return Call(**row._mapping)


def _job(row: sa.Row[Any]) -> Job:
    return Job(**row._mapping)
