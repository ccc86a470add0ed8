from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from bridge.archive.database import ArchiveUnavailable, create_engine
from bridge.archive.migrations import MIGRATIONS, migrate
from bridge.archive.query import CallFilter, Cursor
from bridge.archive.records import (
    AddEvents,
    CallEvent,
    CreateCall,
    ToolCall,
    TranscriptSegment,
    UpdateCall,
    new_id,
)
from bridge.archive.store import ArchiveStore
from bridge.errors import ArchiveError, ConfigError
from tests.archive_fixtures import (  # noqa: F401
    T0,
    Target,
    add_call,
    add_transcript,
    archive_target_fixture,
    pg_execute,
    postgres_target,
    postgres_url,
    store_fixture,
    table_count,
    unique_name,
)

ALL_VERSIONS = [m.version for m in MIGRATIONS]


async def ids(store: ArchiveStore, f: CallFilter | None = None, limit: int = 200) -> list[str]:
    calls, _ = await store.list_calls(f, limit=limit)
    return [c.id for c in calls]


# ---- opening and migrations ----


async def test_open_creates_the_sqlite_folder_and_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'bridge.db'}"
    store = await ArchiveStore.open(url)
    await store.close()
    assert (tmp_path / "a" / "b" / "bridge.db").is_file()
    engine = create_engine(url)
    try:
        assert await migrate(engine) == []  # already current
        async with engine.connect() as conn:
            versions = (await conn.execute(sa.text("SELECT version FROM schema_migrations ORDER BY 1"))).scalars()
            assert list(versions) == ALL_VERSIONS
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()


async def test_reopening_keeps_data_and_applies_nothing(archive_target: Target) -> None:
    first = await archive_target.open()
    call_id = await add_call(first, 0)
    await first.close()
    second = await archive_target.open()
    try:
        assert (await second.get_call(call_id)) is not None
        assert await table_count(second, "schema_migrations") == len(MIGRATIONS)
    finally:
        await second.close()


@pytest.mark.postgres
async def test_concurrent_migrations_on_postgres_apply_each_step_once() -> None:
    url = postgres_url()
    schema = unique_name("archive_migrate")
    engines = [create_engine(url, schema=schema) for _ in range(6)]
    try:
        results = await asyncio.gather(*(migrate(e, schema_name=schema) for e in engines))
        applied = sorted(v for r in results for v in r)
        assert applied == ALL_VERSIONS  # every step exactly once, whoever ran it
        assert sum(1 for r in results if r) == 1  # the advisory lock let one process do all of it
        async with engines[0].connect() as conn:
            rows = (await conn.execute(sa.text("SELECT version FROM schema_migrations ORDER BY 1"))).scalars()
            assert list(rows) == ALL_VERSIONS
    finally:
        for engine in engines:
            await engine.dispose()
        await pg_execute(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_concurrent_migrations_on_sqlite_apply_each_step_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    engines = [create_engine(url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(e) for e in engines))
        assert sorted(v for r in results for v in r) == ALL_VERSIONS
    finally:
        for engine in engines:
            await engine.dispose()


async def test_open_refuses_unusable_urls() -> None:
    with pytest.raises(ConfigError):
        await ArchiveStore.open("mysql://localhost/x")
    with pytest.raises(ConfigError):
        await ArchiveStore.open("sqlite:///:memory:")


async def test_unreachable_postgres_is_archive_unavailable() -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    with pytest.raises(ArchiveUnavailable):
        await ArchiveStore.open("postgresql://postgres@127.0.0.1:1/nothing")


async def test_a_file_that_is_not_a_database_is_archive_error(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not an SQLite database, not even its header" * 100)
    with pytest.raises(ArchiveError, match="not a database"):
        await ArchiveStore.open(f"sqlite:///{tmp_path / 'junk.db'}")


# ---- calls ----


async def test_call_round_trip_with_aware_utc_times(store: ArchiveStore) -> None:
    started = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=UTC)
    call = CreateCall(
        id="call-1",
        started_at=started,
        call_sid="CA1",
        stream_sid="MZ1",
        from_number="+15550001",
        to_number="+15550002",
        dialplan="support",
        model="gpt-realtime",
        voice="marin",
        audio_mode="passthrough",
        metadata={"campaign": "spring", "n": [1, 2]},
    )
    await store.create_call(call)
    await store.create_call(CreateCall(id="call-1", started_at=T0, dialplan="other"))  # existing id: no-op
    got = await store.get_call("call-1")
    assert got is not None
    assert got.started_at == started and got.started_at.tzinfo is not None
    assert got.started_at.utcoffset() == timedelta(0)
    assert (got.call_sid, got.stream_sid, got.from_number, got.to_number) == ("CA1", "MZ1", "+15550001", "+15550002")
    assert (got.dialplan, got.model, got.voice, got.audio_mode) == ("support", "gpt-realtime", "marin", "passthrough")
    assert got.metadata == {"campaign": "spring", "n": [1, 2]}
    assert (got.input_tokens, got.output_tokens, got.total_tokens, got.barge_ins, got.upstream_errors) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert got.ended_at is None and got.recording_path is None
    assert await store.get_call("nope") is None


async def test_offset_times_are_stored_as_the_same_instant(store: ArchiveStore) -> None:
    plus_two = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    await store.create_call(CreateCall(id="c", started_at=plus_two))
    got = await store.get_call("c")
    assert got is not None and got.started_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert got.started_at.tzinfo == UTC


async def test_update_and_finish_call(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    answered = T0 + timedelta(seconds=2)
    await store.update_call(call_id, answered_at=answered, input_tokens=10, metadata={"k": "v"})
    await store.finish_call(
        call_id,
        ended_at=T0 + timedelta(seconds=95, milliseconds=500),
        end_reason="caller_hangup",
        output_tokens=20,
        total_tokens=30,
        barge_ins=2,
        upstream_errors=1,
        recording_path="/rec/x.wav",
        recording_bytes=1234,
    )
    got = await store.get_call(call_id)
    assert got is not None
    assert got.answered_at == answered and got.metadata == {"k": "v"}
    assert got.ended_at == T0 + timedelta(seconds=95, milliseconds=500)
    assert got.end_reason == "caller_hangup" and got.duration_s == 95.5
    assert (got.input_tokens, got.output_tokens, got.total_tokens, got.barge_ins, got.upstream_errors) == (
        10,
        20,
        30,
        2,
        1,
    )
    assert (got.recording_path, got.recording_bytes) == ("/rec/x.wav", 1234)
    await store.finish_call(call_id, ended_at=T0 + timedelta(seconds=10), end_reason="x", duration_s=1.5)
    got = await store.get_call(call_id)
    assert got is not None and got.duration_s == 1.5


async def test_writes_to_a_missing_call_are_refused_not_unavailable(store: ArchiveStore) -> None:
    for attempt in (
        store.update_call("ghost", end_reason="x"),
        store.finish_call("ghost", ended_at=T0, end_reason="x"),
        store.add_events("ghost", [CallEvent(0, 0, "session")]),
    ):
        with pytest.raises(ArchiveError) as caught:
            await attempt
        assert not isinstance(caught.value, ArchiveUnavailable)


async def test_naive_datetimes_are_refused(store: ArchiveStore) -> None:
    with pytest.raises(ArchiveError) as caught:
        await store.create_call(CreateCall(id="naive", started_at=datetime(2024, 1, 1)))
    assert not isinstance(caught.value, ArchiveUnavailable)
    assert await store.get_call("naive") is None


async def test_update_call_rejects_unknown_fields(store: ArchiveStore) -> None:
    with pytest.raises(ValueError, match="started_at"):
        await store.update_call("x", started_at=T0)


async def test_apply_is_all_or_nothing(store: ArchiveStore) -> None:
    good = CreateCall(id="good", started_at=T0)
    with pytest.raises(ArchiveError):
        await store.apply([good, AddEvents("ghost", [CallEvent(0, 0, "x")])])
    assert await store.get_call("good") is None
    await store.apply([good, UpdateCall("good", {"end_reason": "done"})])
    got = await store.get_call("good")
    assert got is not None and got.end_reason == "done"


# ---- timeline, transcript, tool calls ----


async def test_events_keep_order_and_ignore_repeats(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    await store.add_events(call_id, [CallEvent(1, 20, "turn", {"n": 1}), CallEvent(0, 0, "session", {"model": "m"})])
    await store.add_events(call_id, [CallEvent(1, 999, "changed"), CallEvent(2, 40, "barge_in")])
    events = await store.get_events(call_id)
    assert events == [
        CallEvent(0, 0, "session", {"model": "m"}),
        CallEvent(1, 20, "turn", {"n": 1}),
        CallEvent(2, 40, "barge_in", {}),
    ]
    assert await store.get_events("ghost") is None
    empty = await add_call(store, 1)
    assert await store.get_events(empty) == []


async def test_transcript_segments_replace_by_source_and_seq(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    await store.add_transcript_segments(
        call_id,
        [
            TranscriptSegment(1, "agent", 1500, 4000, "Sure, I can help with that refund", item_id="item_b"),
            TranscriptSegment(0, "caller", 0, 1400, "I need a refund", item_id="item_a"),
            TranscriptSegment(0, "caller", 0, 1300, "I need a refund.", source="post"),
        ],
    )
    # barge-in cut the agent: the segment is written again with what was heard
    cut = TranscriptSegment(
        1,
        "agent",
        1500,
        2500,
        "Sure, I can help with that refund",
        heard_text="Sure, I can",
        cut=True,
        item_id="item_b",
    )
    await store.add_transcript_segments(call_id, [cut])
    segments = await store.get_transcript(call_id)
    assert segments is not None
    assert [(s.source, s.seq) for s in segments] == [("live", 0), ("post", 0), ("live", 1)]
    assert segments[2] == cut
    assert await store.get_transcript(call_id, "post") == [
        TranscriptSegment(0, "caller", 0, 1300, "I need a refund.", source="post")
    ]
    assert await store.get_transcript("ghost") is None


async def test_bad_segments_violate_constraints(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    with pytest.raises(ArchiveError):
        await store.add_transcript_segments(call_id, [TranscriptSegment(0, "caller", 100, 50, "backwards")])
    with pytest.raises(ArchiveError):
        await store.add_transcript_segments(call_id, [TranscriptSegment(0, "robot", 0, 1, "x")])  # type: ignore[arg-type]


async def test_tool_calls_replace_by_model_call_id(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    await store.add_tool_calls(
        call_id,
        [
            ToolCall("call_b", "transfer", {"to": "+1555"}, "timeout", 9000, 5000),
            ToolCall("call_a", "lookup_order", {"order": 42}, "error", 3000, 12, "not found"),
        ],
    )
    await store.add_tool_calls(
        call_id, [ToolCall("call_a", "lookup_order", {"order": 42}, "ok", 3000, 80, '{"status":"shipped"}')]
    )
    assert await store.get_tool_calls(call_id) == [
        ToolCall("call_a", "lookup_order", {"order": 42}, "ok", 3000, 80, '{"status":"shipped"}'),
        ToolCall("call_b", "transfer", {"to": "+1555"}, "timeout", 9000, 5000, None),
    ]
    assert await store.get_tool_calls("ghost") is None


# ---- listing, filters, pagination, search ----


async def test_every_filter(store: ArchiveStore) -> None:
    a = await add_call(store, 0, from_number="+1001", to_number="+2001", dialplan="sales")
    b = await add_call(store, 10, from_number="+1002", to_number="+2001", dialplan="support")
    c = await add_call(store, 20, from_number="+1001", to_number="+2002", dialplan="support")
    await store.finish_call(a, ended_at=T0 + timedelta(minutes=1), end_reason="caller_hangup")
    await store.finish_call(c, ended_at=T0 + timedelta(minutes=21), end_reason="agent_hangup")
    assert await ids(store) == [c, b, a]
    assert await ids(store, CallFilter(from_number="+1001")) == [c, a]
    assert await ids(store, CallFilter(to_number="+2001")) == [b, a]
    assert await ids(store, CallFilter(dialplan="support")) == [c, b]
    assert await ids(store, CallFilter(end_reason="caller_hangup")) == [a]
    assert await ids(store, CallFilter(since=T0 + timedelta(minutes=10))) == [c, b]  # inclusive
    assert await ids(store, CallFilter(until=T0 + timedelta(minutes=10))) == [a]  # exclusive
    assert await ids(store, CallFilter(from_number="+1001", dialplan="support", since=T0)) == [c]
    assert await ids(store, CallFilter(from_number="+9999")) == []


async def test_pagination_is_stable_under_inserts(store: ArchiveStore) -> None:
    # 7 calls, two pairs sharing a start time: the id breaks the tie.
    created = [await add_call(store, m) for m in (0, 1, 1, 2, 3, 3, 4)]
    expected = await ids(store)
    assert sorted(expected) == sorted(created)
    page, cursor = await store.list_calls(limit=3)
    seen = [c.id for c in page]
    # New calls arrive, newer and older than the page boundary; neither may shift what follows.
    await add_call(store, 10)
    await add_call(store, 11)
    while cursor is not None:
        cursor = Cursor.decode(cursor.encode())  # through the opaque form, as a client would
        page, cursor = await store.list_calls(limit=3, cursor=cursor)
        seen += [c.id for c in page]
    assert seen == expected
    with pytest.raises(ValueError):
        await store.list_calls(limit=0)


async def test_last_page_has_no_cursor(store: ArchiveStore) -> None:
    for m in range(4):
        await add_call(store, m)
    page, cursor = await store.list_calls(limit=4)
    assert len(page) == 4 and cursor is None
    page, cursor = await store.list_calls(limit=3)
    assert len(page) == 3 and cursor is not None


async def test_full_text_search(store: ArchiveStore) -> None:
    refund = await add_call(store, 0)
    await add_transcript(store, refund, ["Hello, I would like a refund for my order", "Of course. Which order?"])
    billing = await add_call(store, 1)
    await add_transcript(store, billing, ["My invoice shows a double charge", "Let me look at your billing history"])
    other = await add_call(store, 2)
    await add_transcript(store, other, ["What are your opening hours?", "We open at nine"])
    assert await ids(store, CallFilter(q="refund")) == [refund]
    assert await ids(store, CallFilter(q="REFUNDS")) == [refund]  # case and stemming
    assert await ids(store, CallFilter(q="order")) == [refund]
    assert await ids(store, CallFilter(q="billing invoice")) == []  # all words in one segment
    assert await ids(store, CallFilter(q="double charge")) == [billing]
    assert await ids(store, CallFilter(q="open")) == [other]
    assert await ids(store, CallFilter(q="zebra")) == []
    # Query syntax characters are words, never operators.
    assert await ids(store, CallFilter(q='refund OR "zebra" NOT * ( -')) == []
    assert await ids(store, CallFilter(q="!!!")) == []
    assert await ids(store, CallFilter(q="refund", since=T0 + timedelta(minutes=1))) == []


async def test_search_follows_rewrites_and_deletes(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    await store.add_transcript_segments(call_id, [TranscriptSegment(0, "caller", 0, 10, "cancel my subscription")])
    assert await ids(store, CallFilter(q="subscription")) == [call_id]
    await store.add_transcript_segments(call_id, [TranscriptSegment(0, "caller", 0, 10, "upgrade my plan")])
    assert await ids(store, CallFilter(q="subscription")) == []
    assert await ids(store, CallFilter(q="upgrade")) == [call_id]
    await store.delete_call(call_id)
    assert await ids(store, CallFilter(q="upgrade")) == []
    if store.dialect == "sqlite":
        async with store._engine.begin() as conn:  # FTS5 checks its index against the content table
            await conn.exec_driver_sql("INSERT INTO transcript_fts(transcript_fts) VALUES ('integrity-check')")


@pytest.mark.postgres
async def test_postgres_search_uses_the_gin_index() -> None:
    async with postgres_target() as target:
        store = await target.open()
        try:
            call_id = await add_call(store, 0)
            await add_transcript(store, call_id, ["where is my parcel"])
            query = store._search("parcel")
            async with store._engine.begin() as conn:
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                compiled = query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
                plan = "\n".join((await conn.exec_driver_sql(f"EXPLAIN {compiled}")).scalars())
            assert "ix_transcript_segments_fts" in plan
        finally:
            await store.close()


async def test_sqlite_without_fts5_falls_back_to_like(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    store = await ArchiveStore.open(url)
    await store.close()
    # What migration 2 leaves behind on a SQLite built without FTS5: no index, no triggers.
    engine = create_engine(url)
    async with engine.begin() as conn:
        for trigger in ("transcript_fts_insert", "transcript_fts_delete", "transcript_fts_update"):
            await conn.exec_driver_sql(f"DROP TRIGGER {trigger}")
        await conn.exec_driver_sql("DROP TABLE transcript_fts")
    await engine.dispose()
    store = await ArchiveStore.open(url)
    try:
        assert store._sqlite_fts is False
        a = await add_call(store, 0)
        await add_transcript(store, a, ["Please send the REFUND form", "order_id 42 noted"])
        b = await add_call(store, 1)
        await add_transcript(store, b, ["orderXid is not an id"])
        assert await ids(store, CallFilter(q="refund form")) == [a]
        assert await ids(store, CallFilter(q="order_id")) == [a]  # "_" is literal, not a wildcard
        assert await ids(store, CallFilter(q="...")) == []
    finally:
        await store.close()


# ---- deletes and purges ----


async def test_delete_call_cascades(store: ArchiveStore) -> None:
    call_id = await add_call(store, 0)
    keep = await add_call(store, 1)
    await store.update_call(call_id, recording_path="/rec/a.wav")
    for cid in (call_id, keep):
        await store.add_events(cid, [CallEvent(0, 0, "session")])
        await add_transcript(store, cid, ["hello"])
        await store.add_tool_calls(cid, [ToolCall("call_1", "t", {}, "ok", 0)])
    job = await store.create_job("transcribe")
    await store.add_job_items(job.id, [call_id, keep])
    deleted = await store.delete_call(call_id)
    assert deleted is not None and deleted.id == call_id and deleted.recording_path == "/rec/a.wav"
    assert await store.get_call(call_id) is None
    for table in ("call_events", "transcript_segments", "tool_calls", "job_items"):
        assert await table_count(store, table) == 1, table
    assert await store.delete_call(call_id) is None


async def test_purge_older_than_deletes_in_batches(store: ArchiveStore) -> None:
    old = [CreateCall(id=new_id(), started_at=T0 - timedelta(days=40, seconds=i)) for i in range(501)]
    await store.apply(old)
    await store.update_call(old[0].id, recording_path="/rec/old.wav")
    recent = await add_call(store, 0)
    purged = await store.purge_older_than(T0 - timedelta(days=30))
    assert sorted(c.id for c in purged) == sorted(c.id for c in old)
    assert [c.recording_path for c in purged if c.recording_path] == ["/rec/old.wav"]
    assert await ids(store) == [recent]
    assert await store.purge_older_than(T0 - timedelta(days=30)) == []


# ---- jobs ----


async def test_job_crud(store: ArchiveStore) -> None:
    created = await store.create_job(
        "batch_summary", model="gpt-4.1-mini", prompt="Summarize", filter={"dialplan": "support"}, total=2, now=T0
    )
    assert created.status == "pending" and created.created_at == T0 and created.remote_ids == {}
    assert await store.get_job(created.id) == created
    later = T0 + timedelta(minutes=5)
    updated = await store.update_job(created.id, status="submitted", remote_ids={"batch": "batch_1"}, now=later)
    assert updated is not None and updated.status == "submitted" and updated.remote_ids == {"batch": "batch_1"}
    assert updated.updated_at == later and updated.created_at == T0
    assert await store.update_job(created.id, expect_status="pending", status="failed") is None  # lost the race
    done = await store.update_job(created.id, expect_status="submitted", status="done", done=2, error=None)
    assert done is not None and done.status == "done" and done.done == 2
    assert await store.update_job("ghost", status="x") is None
    with pytest.raises(ValueError):
        await store.update_job(created.id, created_at=T0)
    assert await store.delete_job(created.id) is True
    assert await store.get_job(created.id) is None
    assert await store.delete_job(created.id) is False


async def test_list_jobs_pages_and_filters(store: ArchiveStore) -> None:
    made = [
        await store.create_job("transcribe" if i % 2 else "summary", now=T0 + timedelta(minutes=i)) for i in range(5)
    ]
    await store.update_job(made[4].id, status="running")
    page, cursor = await store.list_jobs(limit=2)
    assert [j.id for j in page] == [made[4].id, made[3].id] and cursor is not None
    page, cursor = await store.list_jobs(limit=2, cursor=cursor)
    assert [j.id for j in page] == [made[2].id, made[1].id]
    page, cursor = await store.list_jobs(limit=2, cursor=cursor)
    assert [j.id for j in page] == [made[0].id] and cursor is None
    assert [j.id for j in (await store.list_jobs(kind="transcribe"))[0]] == [made[3].id, made[1].id]
    assert [j.id for j in (await store.list_jobs(status="running"))[0]] == [made[4].id]
    with pytest.raises(ValueError):
        await store.list_jobs(limit=0)


async def test_claim_job_takes_the_oldest_once(store: ArchiveStore) -> None:
    first = await store.create_job("transcribe", now=T0)
    second = await store.create_job("summary", now=T0 + timedelta(seconds=1))
    third = await store.create_job("transcribe", now=T0 + timedelta(seconds=2))
    claims = await asyncio.gather(*(store.claim_job(status="pending", to_status="running") for _ in range(4)))
    claimed = sorted(j.id for j in claims if j is not None)
    assert claimed == sorted([first.id, second.id, third.id])  # each job to exactly one claimer
    assert all(j is None or j.status == "running" for j in claims)
    fourth = await store.create_job("summary", now=T0 + timedelta(seconds=3))
    await store.create_job("transcribe", now=T0 + timedelta(seconds=4))
    got = await store.claim_job(status="pending", to_status="running", kind="summary")
    assert got is not None and got.id == fourth.id


async def test_job_items(store: ArchiveStore) -> None:
    a = await add_call(store, 0)
    b = await add_call(store, 1)
    job = await store.create_job("transcribe")
    await store.add_job_items(job.id, [a, b])
    await store.add_job_items(job.id, [a])  # already there: unchanged
    await store.add_job_items(job.id, [])
    assert await store.update_job_item(job.id, a, status="done", result={"text": "hi"}) is True
    assert await store.update_job_item(job.id, b, status="failed", error="too short") is True
    assert await store.update_job_item(job.id, "ghost", status="done") is False
    items = await store.list_job_items(job.id)
    assert [(i.call_id, i.status, i.result, i.error) for i in items] == sorted(
        [(a, "done", {"text": "hi"}, None), (b, "failed", None, "too short")]
    )
    assert [i.call_id for i in await store.list_job_items(job.id, status="failed")] == [b]
    with pytest.raises(ArchiveError):
        await store.add_job_items(job.id, ["ghost-call"])


async def test_ping(store: ArchiveStore) -> None:
    await store.ping()
    assert store.dialect in ("sqlite", "postgresql")
