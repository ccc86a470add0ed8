"""Batch lines and results, checked against the engine's own ``/v1/responses`` and batch-line code."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.archive.jobs_batch import (
    CLASSIFY_INSTRUCTIONS,
    SUMMARY_INSTRUCTIONS,
    Outcome,
    parse_results,
    request_line,
    transcript_text,
)
from bridge.archive.records import TranscriptSegment
from bridge.engine.rest_batches import BatchLine, run_lines, validate_input
from bridge.engine.rest_responses import create_response

LABELS = ["billing", "support", "sales"]


def run_batch(lines: bytes, *, kind: str, labels: list[str] = LABELS) -> dict[str, Outcome]:
    """Validate and run ``lines`` as the engine's batch does, then read its output and error files."""
    requests, errors = validate_input(lines, "/v1/responses")
    assert errors == []
    result = run_lines(requests, lambda body: create_response(body, now=1_700_000_000))
    files = [b"".join(orjson.dumps(row) + b"\n" for row in rows) for rows in (result.output, result.errors)]
    return {**parse_results(files[0], kind=kind, labels=labels), **parse_results(files[1], kind=kind, labels=labels)}


def test_transcript_text_shows_what_the_caller_heard() -> None:
    segments = [
        TranscriptSegment(0, "caller", 0, 900, "I have a  question\nabout my bill"),
        TranscriptSegment(
            1, "agent", 1000, 3000, "Sure, let me look that up for you.", heard_text="Sure, let", cut=True
        ),
        TranscriptSegment(2, "caller", 3000, 3500, "   "),
        TranscriptSegment(3, "agent", 4000, 5000, "Done.", heard_text="ignored when not cut"),
    ]
    assert transcript_text(segments) == "Caller: I have a question about my bill\nAgent: Sure, let\nAgent: Done."
    assert transcript_text([]) == ""


def test_summary_line_shape_and_default_instructions() -> None:
    line = request_line("C1", kind="summarize", model="gpt-x", prompt=None, labels=[], text="Caller: hi")
    assert line.endswith(b"\n")
    assert orjson.loads(line) == {
        "custom_id": "C1",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": "gpt-x", "input": "Caller: hi", "instructions": SUMMARY_INSTRUCTIONS},
    }
    custom = request_line("C1", kind="summarize", model="gpt-x", prompt="Summarize in French.", labels=[], text="x")
    assert orjson.loads(custom)["body"]["instructions"] == "Summarize in French."


def test_classify_line_asks_for_a_label_from_an_enum() -> None:
    line = orjson.loads(
        request_line(
            "C1", kind="classify", model="m", prompt="labels: billing, support, sales", labels=LABELS, text="t"
        )
    )
    body = line["body"]
    assert body["instructions"] == f"{CLASSIFY_INSTRUCTIONS}\nlabels: billing, support, sales"
    fmt = body["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True
    assert fmt["schema"]["properties"]["label"] == {"type": "string", "enum": LABELS}
    assert fmt["schema"]["required"] == ["label"]


def test_summaries_and_labels_round_trip_through_the_engine() -> None:
    bill = "Caller: I was charged twice on my bill.\nAgent: I will refund the bill charge today."
    buy = "Caller: I want to buy the premium plan and upgrade my sales account.\nAgent: Great."
    summary_lines = request_line("A", kind="summarize", model="m", prompt=None, labels=[], text=bill)
    assert run_batch(summary_lines, kind="summarize") == {
        "A": Outcome(
            result={"summary": "Caller: I was charged twice on my bill. Agent: I will refund the bill charge today."}
        )
    }
    prompt = "labels: bill, support, sales"
    classify_lines = b"".join(
        request_line(call, kind="classify", model="m", prompt=prompt, labels=["bill", "support", "sales"], text=text)
        for call, text in (("A", bill), ("B", buy))
    )
    outcomes = run_batch(classify_lines, kind="classify", labels=["bill", "support", "sales"])
    assert outcomes == {"A": Outcome(result={"label": "bill"}), "B": Outcome(result={"label": "sales"})}


def test_a_rejected_line_becomes_that_calls_error() -> None:
    good = request_line("A", kind="summarize", model="m", prompt=None, labels=[], text="Caller: hi.")
    bad = orjson.loads(request_line("B", kind="summarize", model="m", prompt=None, labels=[], text="Caller: hi."))
    del bad["body"]["model"]
    outcomes = run_batch(good + orjson.dumps(bad) + b"\n", kind="summarize")
    assert outcomes["A"] == Outcome(result={"summary": "Caller: hi."})
    assert outcomes["B"] == Outcome(error="HTTP 400 missing_required_parameter: Missing required parameter: 'model'.")


def output_line(custom_id: str, body: dict[str, Any], status: int = 200, error: Any = None) -> bytes:
    row = {"id": "r", "custom_id": custom_id, "response": {"status_code": status, "body": body}, "error": error}
    return orjson.dumps(row) + b"\n"


def message(text: str) -> dict[str, Any]:
    return {
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": []},
            {
                "type": "message",
                "content": [{"type": "output_text", "text": text}, {"type": "refusal", "refusal": "x"}],
            },
        ],
    }


def test_result_lines_in_every_shape() -> None:
    content = b"".join(
        [
            output_line("json", message('{"label": "Support"}')),
            output_line("bare", message(" sales ")),
            output_line("other", message('{"label": "refunds"}')),
            output_line("long", message("x" * 300)),
            output_line("incomplete", {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}),
            output_line("failed", {"status": "failed"}),
            output_line("http", {"error": {"message": "Rate limit", "type": "requests", "code": None}}, status=429),
            output_line("http-bare", {}, status=500),
            orjson.dumps({"custom_id": "err", "response": None, "error": {"code": "expired", "message": "gone"}})
            + b"\n",
            orjson.dumps({"custom_id": "err-bare", "response": None, "error": {}}) + b"\n",
            b"not json\n",
            b'{"no": "custom id"}\n',
            b"\n",
        ]
    )
    outcomes = parse_results(content, kind="classify", labels=LABELS)
    assert outcomes == {
        "json": Outcome(result={"label": "support"}),
        "bare": Outcome(result={"label": "sales"}),
        "other": Outcome(error='the model answered \'{"label": "refunds"}\', which is not one of the labels'),
        "long": Outcome(error=f"the model answered {'x' * 200 + '…'!r}, which is not one of the labels"),
        "incomplete": Outcome(error="the response is incomplete (max_output_tokens)"),
        "failed": Outcome(error="the response is failed"),
        "http": Outcome(error="HTTP 429 requests: Rate limit"),
        "http-bare": Outcome(error="HTTP 500: the request failed"),
        "err": Outcome(error="expired: gone"),
        "err-bare": Outcome(error="the request failed"),
    }
    summaries = parse_results(output_line("s", message("  A short summary. ")), kind="summarize", labels=[])
    assert summaries == {"s": Outcome(result={"summary": "A short summary."})}


def test_a_batch_line_is_what_the_engine_validates() -> None:
    line = request_line("C1", kind="summarize", model="m", prompt=None, labels=[], text="t")
    assert validate_input(line, "/v1/responses") == (
        [BatchLine("C1", {"model": "m", "input": "t", "instructions": SUMMARY_INSTRUCTIONS})],
        [],
    )
