"""The archive's tables (SQLAlchemy Core), valid on SQLite and PostgreSQL alike.

This module describes the *current* schema; :mod:`bridge.archive.migrations` creates and evolves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

__all__ = [
    "FTS_CONFIG",
    "SQLITE_FTS_TABLE",
    "UtcDateTime",
    "call_events",
    "calls",
    "job_items",
    "jobs",
    "metadata",
    "schema_migrations",
    "tool_calls",
    "transcript_segments",
]


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on both databases.

    PostgreSQL stores ``timestamptz``. SQLite stores SQLAlchemy's fixed-width ISO text in UTC without an
    offset, so text order is time order and keyset comparisons work there too. Naive datetimes are refused:
    a naive value is a bug that would silently shift times by the server's offset.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: archive times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite; Python None is SQL NULL, not JSON null.
Json: sa.types.TypeEngine[Any] = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias the FTS index points at).
RowId: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Full-text search: English stemming on both sides (PostgreSQL's 'english' config, FTS5's porter tokenizer).
FTS_CONFIG = "english"
SQLITE_FTS_TABLE = "transcript_fts"

metadata = sa.MetaData()

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("call_sid", sa.String(64)),
    sa.Column("stream_sid", sa.String(64)),
    sa.Column("from_number", sa.String(64)),
    sa.Column("to_number", sa.String(64)),
    sa.Column("dialplan", sa.String(128)),
    sa.Column("model", sa.String(128)),
    sa.Column("voice", sa.String(64)),
    sa.Column("audio_mode", sa.String(16)),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("answered_at", UtcDateTime),
    sa.Column("ended_at", UtcDateTime),
    sa.Column("end_reason", sa.String(64)),
    sa.Column("duration_s", sa.Float),
    sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total_tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("barge_ins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("upstream_errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("recording_path", sa.Text),
    sa.Column("recording_bytes", sa.BigInteger),
    sa.Column("metadata", Json, nullable=False),
    # Keyset pagination walks (started_at, id); the filters below are equality + the same order.
    sa.Index("ix_calls_started", "started_at", "id"),
    sa.Index("ix_calls_from", "from_number", "started_at"),
    sa.Index("ix_calls_to", "to_number", "started_at"),
    sa.Index("ix_calls_dialplan", "dialplan", "started_at"),
    sa.Index("ix_calls_call_sid", "call_sid"),
)

_call_fk = sa.ForeignKey("calls.id", ondelete="CASCADE")

call_events = sa.Table(
    "call_events",
    metadata,
    sa.Column("call_id", sa.String(64), _call_fk, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("data", Json, nullable=False),
)

transcript_segments = sa.Table(
    "transcript_segments",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("speaker", sa.String(8), nullable=False),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("heard_text", sa.Text),
    sa.Column("cut", sa.Boolean, nullable=False),
    sa.Column("item_id", sa.String(64)),
    sa.UniqueConstraint("call_id", "source", "seq", name="uq_transcript_segments_key"),
    sa.CheckConstraint("speaker IN ('caller', 'agent')", name="ck_transcript_segments_speaker"),
    sa.CheckConstraint("source IN ('live', 'post')", name="ck_transcript_segments_source"),
    sa.CheckConstraint("end_ms >= start_ms", name="ck_transcript_segments_times"),
)

tool_calls = sa.Table(
    "tool_calls",
    metadata,
    sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("call_id_model", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("arguments", Json, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.BigInteger),
    sa.CheckConstraint("status IN ('ok', 'error', 'timeout')", name="ck_tool_calls_status"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("model", sa.String(128)),
    sa.Column("prompt", sa.Text),
    sa.Column("filter", Json, nullable=False),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("remote_ids", Json, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_jobs_created", "created_at", "id"),
    sa.Index("ix_jobs_status", "status", "created_at"),
)

job_items = sa.Table(
    "job_items",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("call_id", sa.String(64), sa.ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("result", Json),
    sa.Column("error", sa.Text),
    sa.Index("ix_job_items_status", "job_id", "status"),
    # Deleting a call cascades here; without this index PostgreSQL would scan job_items per deleted call.
    sa.Index("ix_job_items_call", "call_id"),
)
