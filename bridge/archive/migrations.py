"""Versioned schema migrations, applied in order at start-up.

Each step runs once per database, recorded in ``schema_migrations``. All pending steps run in one
transaction (DDL is transactional on both databases), so a failed start leaves the schema as it was.
Several bridge processes may start at once: on PostgreSQL they queue on a transaction-scoped advisory
lock, on SQLite on the database write lock (``BEGIN IMMEDIATE``); whoever comes second finds nothing to do.

Append new steps to :data:`MIGRATIONS`; never edit or reorder released ones. Step 1 builds its tables from
:mod:`bridge.archive.schema`; the first change to those tables must freeze step 1's definitions in here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.archive import schema
from bridge.archive.database import connect, enable_sqlite_wal, writer_engine

__all__ = ["MIGRATIONS", "Migration", "migrate"]

log = logging.getLogger("bridge.archive.migrations")

# Arbitrary but fixed: every bridge process must take the same advisory lock ("bridgemg" in ASCII).
ADVISORY_LOCK_KEY = 0x6272696467656D67


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step; ``apply`` runs inside the migration transaction."""

    version: int
    name: str
    apply: Callable[[AsyncConnection], Awaitable[None]]


async def _create_tables(conn: AsyncConnection) -> None:
    tables = [
        schema.calls,
        schema.call_events,
        schema.transcript_segments,
        schema.tool_calls,
        schema.jobs,
        schema.job_items,
    ]
    await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=tables))


_FTS = schema.SQLITE_FTS_TABLE
_SQLITE_FTS = [
    # External-content FTS5 index over transcript_segments.text, kept in sync by triggers.
    f"""CREATE VIRTUAL TABLE {_FTS} USING fts5(
        text, content='transcript_segments', content_rowid='id', tokenize='porter unicode61')""",
    f"""CREATE TRIGGER transcript_fts_insert AFTER INSERT ON transcript_segments BEGIN
        INSERT INTO {_FTS}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"""CREATE TRIGGER transcript_fts_delete AFTER DELETE ON transcript_segments BEGIN
        INSERT INTO {_FTS}({_FTS}, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    f"""CREATE TRIGGER transcript_fts_update AFTER UPDATE OF text ON transcript_segments BEGIN
        INSERT INTO {_FTS}({_FTS}, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO {_FTS}(rowid, text) VALUES (new.id, new.text);
    END""",
    f"INSERT INTO {_FTS}({_FTS}) VALUES ('rebuild')",
]


async def _sqlite_has_fts5(conn: AsyncConnection) -> bool:
    try:
        async with conn.begin_nested():
            await conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
            await conn.exec_driver_sql("DROP TABLE temp.fts5_probe")
    except sa_exc.OperationalError:  # "no such module: fts5"
        return False
    return True


async def _full_text_index(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        # The store's query repeats this exact expression, so the planner can use the index.
        await conn.exec_driver_sql(
            "CREATE INDEX ix_transcript_segments_fts ON transcript_segments "
            f"USING GIN (to_tsvector('{schema.FTS_CONFIG}'::regconfig, text))"
        )
    elif await _sqlite_has_fts5(conn):
        for statement in _SQLITE_FTS:
            await conn.exec_driver_sql(statement)
    else:
        log.warning("this SQLite has no FTS5: transcript search falls back to LIKE scans")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "calls, timeline, transcripts, tool calls, jobs", _create_tables),
    Migration(2, "full-text index over transcripts", _full_text_index),
)


async def migrate(engine: AsyncEngine, *, schema_name: str | None = None) -> list[int]:
    """Bring the database up to the latest version; return the versions this call applied.

    ``engine`` must come from :func:`bridge.archive.database.create_engine`. ``schema_name`` (PostgreSQL)
    is created when missing. Raises ArchiveError (ArchiveUnavailable when the database is unreachable).
    """
    applied: list[int] = []
    if engine.dialect.name == "sqlite":
        await enable_sqlite_wal(engine)
    async with connect(writer_engine(engine), "migrate the archive schema") as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            if schema_name is not None:
                await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
        await conn.run_sync(lambda sync: schema.schema_migrations.create(sync, checkfirst=True))
        done = set((await conn.execute(sa.select(schema.schema_migrations.c.version))).scalars())
        for step in MIGRATIONS:
            if step.version in done:
                continue
            await step.apply(conn)
            await conn.execute(
                schema.schema_migrations.insert().values(
                    version=step.version, name=step.name, applied_at=datetime.now(UTC)
                )
            )
            applied.append(step.version)
    if applied:
        log.info("archive schema migrated: applied versions %s", applied)
    return applied
