"""Archive test fixtures: the same store on SQLite and on PostgreSQL.

PostgreSQL comes from ``BRIDGE_TEST_POSTGRES_URL``; without it those variants skip, or fail when
``BRIDGE_REQUIRE_SERVICES=1`` (CI). Each PostgreSQL test gets a fresh schema, dropped afterwards, so tests
can share one database with each other and with other test runs.

Import the fixtures by their function names (``from tests.archive_fixtures import store_fixture``); they
register under the names ``archive_target`` and ``store``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bridge.archive.database import normalize_url
from bridge.archive.records import CreateCall, TranscriptSegment, new_id
from bridge.archive.store import ArchiveStore

POSTGRES_ENV = "BRIDGE_TEST_POSTGRES_URL"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_url() -> str:
    """The test PostgreSQL URL, or skip (fail under BRIDGE_REQUIRE_SERVICES=1) when there is none."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("BRIDGE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{POSTGRES_ENV} is not set but BRIDGE_REQUIRE_SERVICES=1")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


async def pg_execute(url: str, *statements: str) -> None:
    """Run statements outside any transaction (CREATE/DROP DATABASE need that)."""
    engine = create_async_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a test's archive lives."""

    url: str
    schema: str | None = None

    async def open(self) -> ArchiveStore:
        return await ArchiveStore.open(self.url, schema=self.schema)


@asynccontextmanager
async def postgres_target() -> AsyncIterator[Target]:
    """A fresh schema on the test PostgreSQL (created by the store when opened), dropped on exit."""
    url = postgres_url()
    schema = unique_name("archive_test")
    try:
        yield Target(url, schema)
    finally:
        await pg_execute(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(name="archive_target", params=BACKENDS)
async def archive_target_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    if request.param == "sqlite":
        yield Target(f"sqlite:///{tmp_path / 'archive.db'}")
        return
    async with postgres_target() as target:
        yield target


@pytest.fixture(name="store")
async def store_fixture(archive_target: Target) -> AsyncIterator[ArchiveStore]:
    store = await archive_target.open()
    try:
        yield store
    finally:
        await store.close()


async def add_call(store: ArchiveStore, minutes: float, **fields: Any) -> str:
    """Create a call started ``minutes`` after T0; return its id."""
    started = T0 + timedelta(minutes=minutes)
    call_id = fields.pop("id", None) or new_id(started)
    await store.create_call(CreateCall(id=call_id, started_at=started, **fields))
    return call_id


async def add_transcript(store: ArchiveStore, call_id: str, lines: Sequence[str]) -> None:
    """Alternating caller/agent live segments, one second each."""
    segments = [
        TranscriptSegment(
            seq=i, speaker="caller" if i % 2 == 0 else "agent", start_ms=i * 1000, end_ms=i * 1000 + 900, text=text
        )
        for i, text in enumerate(lines)
    ]
    await store.add_transcript_segments(call_id, segments)


async def table_count(store: ArchiveStore, table: str) -> int:
    """Rows in ``table`` (through the store's engine, so in its schema)."""
    async with store._engine.connect() as conn:  # tests may look behind the API
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())
