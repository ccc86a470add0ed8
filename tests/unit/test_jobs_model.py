from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.archive.jobs_model import (
    DEFAULT_MODELS,
    MAX_LISTED_CALLS,
    JobRequest,
    JobRequestError,
    item_to_json,
    job_channels,
    job_to_json,
    parse_labels,
)
from bridge.archive.query import CallFilter
from bridge.archive.records import Job, JobItem

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_transcribe_defaults_to_the_caller_channel_and_the_default_model() -> None:
    request = JobRequest.parse({"kind": "transcribe", "calls": ["a", "b"]})
    assert request == JobRequest(
        kind="transcribe", model=DEFAULT_MODELS["transcribe"], calls=("a", "b"), channels=("caller",)
    )
    assert request.stored_options() == {"channels": ["caller"]}


def test_channels_are_kept_in_recording_order() -> None:
    request = JobRequest.parse({"kind": "transcribe", "calls": ["a"], "channels": ["agent", "caller"]})
    assert request.channels == ("caller", "agent")


def test_a_filter_is_stored_in_its_parameter_form_and_round_trips() -> None:
    request = JobRequest.parse(
        {"kind": "summarize", "filter": {"since": "2024-05-01", "dialplan": "support", "q": ""}, "model": "m"}
    )
    assert request.filter == CallFilter(since=T0.replace(hour=0), dialplan="support")
    options = request.stored_options()
    assert options == {"filter": {"dialplan": "support", "since": "2024-05-01T00:00:00+00:00"}}
    assert CallFilter.parse(options["filter"]) == request.filter
    assert (request.model, request.prompt, request.channels) == ("m", None, ())


def test_classify_reads_its_labels_from_the_prompt() -> None:
    prompt = "Sort these calls.\nLabels: billing | Technical support, 'sales'.\nBe brief."
    request = JobRequest.parse({"kind": "classify", "calls": ["a"], "prompt": prompt})
    assert request.labels == ("billing", "Technical support", "sales")
    assert request.prompt == prompt


@pytest.mark.parametrize(
    ("prompt", "labels"),
    [
        ("labels: a, b", ["a", "b"]),
        ("label:x|y|z", ["x", "y", "z"]),
        ('Classify. LABELS : "one", `two`,, three.\nlabels: not, these', ["one", "two", "three"]),
        ("no list here", []),
    ],
)
def test_parse_labels(prompt: str, labels: list[str]) -> None:
    assert parse_labels(prompt) == labels


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "invalid_body"),
        ({"kind": "summarize", "calls": ["a"], "extra": 1}, "unknown_field"),
        ({"kind": "translate", "calls": ["a"]}, "invalid_kind"),
        ({"calls": ["a"]}, "invalid_kind"),
        ({"kind": "summarize"}, "invalid_selection"),
        ({"kind": "summarize", "calls": ["a"], "filter": {}}, "invalid_selection"),
        ({"kind": "summarize", "calls": []}, "invalid_calls"),
        ({"kind": "summarize", "calls": "a"}, "invalid_calls"),
        ({"kind": "summarize", "calls": ["a", "a"]}, "invalid_calls"),
        ({"kind": "summarize", "calls": ["bad id"]}, "invalid_calls"),
        ({"kind": "summarize", "calls": [1]}, "invalid_calls"),
        ({"kind": "summarize", "calls": [f"c{i}" for i in range(MAX_LISTED_CALLS + 1)]}, "too_many_calls"),
        ({"kind": "summarize", "filter": ["since"]}, "invalid_filter"),
        ({"kind": "summarize", "filter": {"since": 5}}, "invalid_filter"),
        ({"kind": "summarize", "filter": {"form": "+1"}}, "invalid_filter"),
        ({"kind": "summarize", "filter": {"since": "yesterday"}}, "invalid_filter"),
        ({"kind": "summarize", "calls": ["a"], "model": ""}, "invalid_model"),
        ({"kind": "summarize", "calls": ["a"], "model": 4}, "invalid_model"),
        ({"kind": "summarize", "calls": ["a"], "model": "m" * 129}, "invalid_model"),
        ({"kind": "summarize", "calls": ["a"], "prompt": "  "}, "invalid_prompt"),
        ({"kind": "summarize", "calls": ["a"], "prompt": "x" * 20_001}, "invalid_prompt"),
        ({"kind": "classify", "calls": ["a"]}, "invalid_prompt"),
        ({"kind": "classify", "calls": ["a"], "prompt": "is it about billing?"}, "invalid_prompt"),
        ({"kind": "classify", "calls": ["a"], "prompt": "labels: billing"}, "invalid_prompt"),
        ({"kind": "classify", "calls": ["a"], "prompt": "labels: Sales, sales"}, "invalid_prompt"),
        ({"kind": "classify", "calls": ["a"], "prompt": "labels: a, " + "b" * 101}, "invalid_prompt"),
        (
            {"kind": "classify", "calls": ["a"], "prompt": "labels: " + ",".join(f"l{i}" for i in range(51))},
            "invalid_prompt",
        ),
        ({"kind": "summarize", "calls": ["a"], "channels": ["caller"]}, "invalid_channels"),
        ({"kind": "transcribe", "calls": ["a"], "channels": []}, "invalid_channels"),
        ({"kind": "transcribe", "calls": ["a"], "channels": ["left"]}, "invalid_channels"),
        ({"kind": "transcribe", "calls": ["a"], "channels": ["agent", "agent"]}, "invalid_channels"),
    ],
)
def test_invalid_requests_name_their_problem(body: Any, code: str) -> None:
    with pytest.raises(JobRequestError) as raised:
        JobRequest.parse(body)
    assert raised.value.code == code
    assert raised.value.message == str(raised.value)


def test_job_and_item_json() -> None:
    job = Job(
        id="J1",
        kind="transcribe",
        status="submitted",
        created_at=T0,
        updated_at=T0.replace(minute=5),
        model="m",
        filter={"filter": {"dialplan": "d"}, "channels": ["caller", "agent"]},
        total=3,
        done=1,
        failed=1,
        remote_ids={"input_file": "file-1", "batch": "batch_1"},
    )
    assert job_to_json(job) == {
        "id": "J1",
        "kind": "transcribe",
        "status": "submitted",
        "model": "m",
        "prompt": None,
        "filter": {"dialplan": "d"},
        "channels": ["caller", "agent"],
        "progress": {"total": 3, "done": 1, "failed": 1},
        "error": None,
        "input_file_id": "file-1",
        "batch_id": "batch_1",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": "2024-05-01T12:00:00.000Z",
        "updated_at": "2024-05-01T12:05:00.000Z",
    }
    assert job_channels(job) == ("caller", "agent")
    assert job_channels(Job(id="J2", kind="transcribe", status="pending", created_at=T0, updated_at=T0)) == ("caller",)
    assert item_to_json(JobItem("J1", "c1", "done", {"summary": "s"})) == {
        "call_id": "c1",
        "status": "done",
        "result": {"summary": "s"},
        "error": None,
    }
