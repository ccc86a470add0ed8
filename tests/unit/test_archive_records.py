from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.archive.records import (
    CALL_UPDATABLE_FIELDS,
    ID_PATTERN,
    Call,
    CallEvent,
    FinishCall,
    ToolCall,
    TranscriptSegment,
    UpdateCall,
    format_timestamp,
    new_id,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_new_id_is_26_crockford_chars_and_sorts_by_time() -> None:
    ids = [new_id(T0 + timedelta(milliseconds=ms)) for ms in (0, 1, 2, 1000, 86_400_000)]
    for ident in ids:
        assert len(ident) == 26 and set(ident) <= CROCKFORD and ID_PATTERN.fullmatch(ident)
    assert ids == sorted(ids)
    assert new_id(T0) != new_id(T0)  # 80 random bits
    assert new_id(T0)[:10] == new_id(T0)[:10]  # the time prefix


def test_new_id_encodes_the_millisecond_time() -> None:
    ident = new_id(T0)
    value = 0
    for char in ident[:10]:
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    assert value == int(T0.timestamp() * 1000)


def test_format_timestamp_is_utc_with_milliseconds_and_z() -> None:
    assert format_timestamp(T0) == "2024-05-01T12:00:00.000Z"
    plus_two = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2024-05-01T12:00:00.123Z"


def test_call_json_hides_the_server_path() -> None:
    call = Call(
        id="c1",
        started_at=T0,
        from_number="+1",
        to_number="+2",
        ended_at=T0 + timedelta(seconds=5),
        recording_path="/var/recordings/c1.wav",
        recording_bytes=44,
        metadata={"a": 1},
    )
    data = call.to_json()
    assert "recording_path" not in data
    assert data["has_recording"] is True and data["recording_bytes"] == 44
    assert (data["from"], data["to"]) == ("+1", "+2")
    assert data["started_at"] == "2024-05-01T12:00:00.000Z" and data["ended_at"] == "2024-05-01T12:00:05.000Z"
    assert data["answered_at"] is None and data["metadata"] == {"a": 1}
    assert Call(id="c2", started_at=T0).to_json()["has_recording"] is False


def test_child_records_json() -> None:
    assert CallEvent(3, 120, "barge_in", {"item": "i1"}).to_json() == {
        "seq": 3,
        "at_ms": 120,
        "kind": "barge_in",
        "data": {"item": "i1"},
    }
    segment = TranscriptSegment(1, "agent", 100, 900, "Hello there friend", heard_text="Hello", cut=True, item_id="i1")
    assert segment.to_json() == {
        "seq": 1,
        "speaker": "agent",
        "source": "live",
        "start_ms": 100,
        "end_ms": 900,
        "text": "Hello there friend",
        "heard_text": "Hello",
        "cut": True,
        "item_id": "i1",
    }
    assert ToolCall("call_1", "lookup", {"q": 1}, "ok", 10, 5, "out").to_json() == {
        "call_id_model": "call_1",
        "name": "lookup",
        "arguments": {"q": 1},
        "status": "ok",
        "started_at_ms": 10,
        "duration_ms": 5,
        "output": "out",
    }


def test_update_ops_refuse_unknown_fields() -> None:
    assert "started_at" not in CALL_UPDATABLE_FIELDS and "id" not in CALL_UPDATABLE_FIELDS
    UpdateCall("c", {"end_reason": "x", "total_tokens": 3})
    with pytest.raises(ValueError, match="id, started_at"):
        UpdateCall("c", {"started_at": T0, "id": "d"})
    with pytest.raises(ValueError, match="bogus"):
        FinishCall("c", T0, "hangup", {"bogus": 1})
