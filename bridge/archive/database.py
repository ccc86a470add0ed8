"""Engines for the archive database and the translation of their errors.

One URL picks the database: SQLite through aiosqlite (the embedded default) or PostgreSQL through
asyncpg (scale-out). Every SQLAlchemy or driver error leaves the archive as an :class:`ArchiveError`;
the subclass :class:`ArchiveUnavailable` marks the ones worth retrying (no connection, lost connection,
locked database), as opposed to a write the database refuses (constraint, bad value).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bridge.errors import ArchiveError, ConfigError

__all__ = [
    "ArchiveUnavailable",
    "connect",
    "create_engine",
    "enable_sqlite_wal",
    "normalize_url",
    "translate_error",
    "writer_engine",
]

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Execution option read by the SQLite "begin" hook: writers take the write lock up front (BEGIN IMMEDIATE)
# so they wait for busy_timeout instead of failing when a deferred transaction cannot upgrade its lock.
_SQLITE_BEGIN = "bridge_sqlite_begin"


class ArchiveUnavailable(ArchiveError):
    """The archive database cannot be reached right now (down, connection lost, locked); retry later."""


def normalize_url(url: str) -> sa.URL:
    """Map ``sqlite:///`` and ``postgresql://`` (or ``postgres://``) URLs onto the async drivers.

    Raises ConfigError for other databases, drivers and in-memory SQLite (every pooled connection would
    open its own empty database).
    """
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:/// or postgresql://")
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ConfigError("in-memory SQLite cannot hold the archive: give a file path (sqlite:///var/bridge.db)")
    return parsed


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An engine for ``url``; ``schema`` (PostgreSQL only) puts every table in that schema.

    SQLite: the database folder is created, WAL journaling and foreign keys are switched on, and
    transactions are begun by us so DDL is transactional (pysqlite would otherwise commit around it).
    """
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        if schema is not None:
            raise ConfigError("a schema can only be chosen on PostgreSQL")
        assert parsed.database is not None  # normalize_url refused the rest
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {"server_settings": {"application_name": "bridge"}}
    if schema is not None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(f"invalid schema name {schema!r}")
        connect_args["server_settings"]["search_path"] = schema
    # pre_ping replaces connections the server dropped (restart, failover) instead of failing a write on them.
    return create_async_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def writer_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) for transactions that write: on SQLite they begin IMMEDIATE."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_SQLITE_BEGIN: "BEGIN IMMEDIATE"})
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # We emit BEGIN ourselves (see _sqlite_on_begin); pysqlite's own handling skips it around DDL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL itself is set once per database file, by enable_sqlite_wal.
    for pragma in ("busy_timeout = 10000", "synchronous = NORMAL", "foreign_keys = ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    begin = connection.get_execution_options().get(_SQLITE_BEGIN, "BEGIN")
    if begin is not None:
        connection.exec_driver_sql(begin)


async def enable_sqlite_wal(engine: AsyncEngine, *, attempts: int = 60) -> None:
    """Switch a SQLite database to WAL journaling (readers never wait for the writer); persistent.

    The switch needs the database to itself and SQLite answers "database is locked" at once, without
    waiting out busy_timeout, when another connection is busy with it (several processes opening a new
    file together), so this retries with backoff, about 10 s at most.
    """
    no_transaction = engine.execution_options(**{_SQLITE_BEGIN: None})
    delay = 0.005
    for attempt in range(attempts):
        try:
            async with connect(no_transaction, "switch SQLite to WAL") as conn:
                await conn.exec_driver_sql("PRAGMA journal_mode = WAL")
            return
        except ArchiveUnavailable as exc:
            if attempt == attempts - 1 or "database is locked" not in str(exc):
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)


_TRANSIENT = (
    sa_exc.OperationalError,  # SQLite "database is locked", PostgreSQL admin shutdown, ...
    sa_exc.InterfaceError,  # the connection went away
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # pool exhausted
    OSError,  # sockets, including TimeoutError
)


def _describe(exc: BaseException) -> str:
    # The driver's own message, without the SQL and parameters SQLAlchemy appends (they can hold call data).
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {exc.orig}".splitlines()[0]
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def translate_error(exc: BaseException, action: str) -> ArchiveError:
    """The ArchiveError for ``exc`` raised while doing ``action`` (ArchiveUnavailable when transient)."""
    if isinstance(exc, ArchiveError):
        return exc
    if isinstance(exc, _TRANSIENT) or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated):
        return ArchiveUnavailable(f"{action}: archive database unavailable: {_describe(exc)}")
    return ArchiveError(f"{action}: {_describe(exc)}")


@asynccontextmanager
async def connect(engine: AsyncEngine, action: str) -> AsyncIterator[AsyncConnection]:
    """One transaction on ``engine``, committed when the block exits cleanly.

    Any failure to get a connection is ArchiveUnavailable (whatever the driver raised: refused,
    database not accepting connections, ...); SQLAlchemy and socket errors inside become ArchiveError.
    Other exceptions from the block pass through untouched.
    """
    conn = engine.connect()
    try:
        await conn.start()
    except Exception as exc:
        raise ArchiveUnavailable(f"{action}: cannot reach the archive database: {_describe(exc)}") from exc
    try:
        try:
            async with conn.begin():
                yield conn
        finally:
            await conn.close()
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        raise translate_error(exc, action) from exc
