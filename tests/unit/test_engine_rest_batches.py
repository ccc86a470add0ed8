from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from bridge.engine import rest_batches
from bridge.engine.rest_batches import BatchLine, BatchTimeline, run_lines, validate_input
from bridge.engine.rest_http import ApiError


def jsonl(*rows: object) -> bytes:
    return b"\n".join(json.dumps(row).encode() for row in rows) + b"\n"


def line(custom_id: object, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {"custom_id": custom_id, "method": "POST", "url": "/v1/responses", "body": {"model": "m"}}
    row.update(overrides)
    return row


def test_a_valid_file_gives_its_lines() -> None:
    lines, errors = validate_input(
        jsonl(line("a"), line("b", body={"model": "m", "input": "x"})) + b"\n\n", "/v1/responses"
    )
    assert errors == []
    assert lines == [BatchLine("a", {"model": "m"}), BatchLine("b", {"model": "m", "input": "x"})]


def test_every_problem_is_reported_with_its_line() -> None:
    content = (
        jsonl(
            line("a"),
            line("a"),
            line("", method="GET"),
            line("c", url="/v1/chat/completions", body=[]),
        )
        + b"{not json\n[1]\n"
    )
    lines, errors = validate_input(content, "/v1/responses")
    assert lines == []
    assert [(e["code"], e["line"], e["param"]) for e in errors] == [
        ("duplicate_custom_id", 2, "custom_id"),
        ("missing_custom_id", 3, "custom_id"),
        ("invalid_method", 3, "method"),
        ("mismatched_url", 4, "url"),
        ("invalid_body", 4, "body"),
        ("invalid_json_line", 5, None),
        ("invalid_json_line", 6, None),
    ]


def test_an_empty_file_fails() -> None:
    assert validate_input(b"\n \n", "/v1/responses") == (
        [],
        [{"code": "empty_file", "message": "The input file contains no requests.", "param": None, "line": None}],
    )


def test_too_many_requests_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rest_batches, "MAX_BATCH_REQUESTS", 2)
    lines, errors = validate_input(jsonl(line("a"), line("b"), line("c")), "/v1/responses")
    assert lines == [] and [e["code"] for e in errors] == ["too_many_requests"]


def test_the_timeline_of_a_valid_batch() -> None:
    timeline = BatchTimeline(created=100.0, pace=2.0, valid=True)
    assert [timeline.status(t) for t in (100, 101.9, 102, 104, 105.9, 106, 10_000)] == [
        "validating",
        "validating",
        "in_progress",
        "finalizing",
        "finalizing",
        "completed",
        "completed",
    ]
    assert timeline.stamps(104) == {
        "in_progress_at": 102,
        "finalizing_at": 104,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
    }


def test_an_invalid_batch_fails_after_validation() -> None:
    timeline = BatchTimeline(created=100.0, pace=2.0, valid=False)
    assert (timeline.status(101), timeline.status(102)) == ("validating", "failed")
    assert timeline.stamps(102)["failed_at"] == 102


def test_pace_zero_finishes_at_creation() -> None:
    assert BatchTimeline(created=100.0, pace=0.0, valid=True).status(100.0) == "completed"


def test_cancel_keeps_earlier_stamps_and_stops_the_path() -> None:
    timeline = BatchTimeline(created=100.0, pace=2.0, valid=True, cancelled_at=103.0)
    assert [timeline.status(t) for t in (102, 103, 104.9, 105)] == [
        "in_progress",
        "cancelling",
        "cancelling",
        "cancelled",
    ]
    stamps = timeline.stamps(200)
    assert (stamps["in_progress_at"], stamps["cancelling_at"], stamps["cancelled_at"]) == (102, 103, 105)
    assert stamps["finalizing_at"] is None and stamps["completed_at"] is None


def test_a_batch_that_cannot_finish_in_24_hours_expires() -> None:
    timeline = BatchTimeline(created=0.0, pace=10 * 3600.0, valid=True)  # would complete at 30 h
    assert timeline.status(20 * 3600) == "finalizing"
    assert timeline.status(24 * 3600) == "expired"
    assert timeline.stamps(24 * 3600)["expired_at"] == 86_400 and timeline.stamps(24 * 3600)["completed_at"] is None


def test_run_lines_splits_successes_and_failures_and_sums_usage() -> None:
    def execute(body: Mapping[str, Any]) -> dict[str, Any]:
        if "input" not in body:
            raise ApiError.missing("input")
        return {"id": "resp_1", "usage": {"input_tokens": 3, "output_tokens": 2}}

    result = run_lines(
        [BatchLine("ok-1", {"input": "x"}), BatchLine("bad", {}), BatchLine("ok-2", {"input": "y"})], execute
    )
    assert [row["custom_id"] for row in result.output] == ["ok-1", "ok-2"]
    ok = result.output[0]
    assert ok["id"].startswith("batch_req_") and ok["error"] is None
    assert ok["response"]["status_code"] == 200 and ok["response"]["request_id"].startswith("req_")
    (bad,) = result.errors
    assert bad["custom_id"] == "bad"
    assert bad["response"]["status_code"] == 400
    assert bad["response"]["body"]["error"]["param"] == "input"
    assert bad["error"] == {"code": "missing_required_parameter", "message": "Missing required parameter: 'input'."}
    assert (result.usage["input_tokens"], result.usage["output_tokens"], result.usage["total_tokens"]) == (6, 4, 10)
