from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import Response

from bridge.engine.rest_http import ApiError
from bridge.engine.rest_responses import create_response


def test_a_string_input_gets_a_complete_response_object() -> None:
    body = create_response({"model": "gpt-5-mini", "input": "Hello there. How are you?"}, now=1700000000.5)
    parsed = Response.model_validate(body)  # the SDK's own model of the wire object
    assert parsed.output_text == "You said: Hello there. How are you?"
    assert body["output_text"] == parsed.output_text
    assert body["id"].startswith("resp_") and body["output"][0]["id"].startswith("msg_")
    assert (body["object"], body["status"], body["model"], body["created_at"]) == (
        "response",
        "completed",
        "gpt-5-mini",
        1700000000,
    )
    assert body["usage"]["input_tokens"] == 5 and body["usage"]["output_tokens"] == 7
    assert body["usage"]["total_tokens"] == 12


def test_message_lists_split_system_and_user_text() -> None:
    body = create_response(
        {
            "model": "m",
            "instructions": "Classify the call.",
            "input": [
                {"role": "developer", "content": "labels: billing, opening_hours"},
                {"role": "assistant", "content": "How can I help?"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Opening hours?"}]},
                {"type": "function_call_output", "call_id": "c1", "output": "{}"},
            ],
        },
        now=0,
    )
    assert body["output_text"] == "opening_hours"
    assert body["instructions"] == "Classify the call."


def test_json_schema_format_is_echoed_and_answered() -> None:
    fmt = {
        "type": "json_schema",
        "name": "call_summary",
        "schema": {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]},
        "strict": True,
    }
    body = create_response(
        {"model": "m", "instructions": "Summarize.", "input": "Caller asked about hours.", "text": {"format": fmt}},
        now=0,
    )
    assert json.loads(body["output_text"]) == {"summary": "Caller asked about hours."}
    assert body["text"] == {"format": fmt}


def test_json_object_needs_the_word_json() -> None:
    request: dict[str, Any] = {"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}}}
    with pytest.raises(ApiError, match="must contain the word 'json'"):
        create_response(request, now=0)
    request["instructions"] = "Answer in JSON."
    assert json.loads(create_response(request, now=0)["output_text"]) == {"text": "You said: hi"}


@pytest.mark.parametrize(
    ("request_body", "param", "code"),
    [
        ({"input": "x"}, "model", "missing_required_parameter"),
        ({"model": 3, "input": "x"}, "model", "invalid_type"),
        ({"model": "m"}, "input", "missing_required_parameter"),
        ({"model": "m", "input": 5}, "input", "invalid_type"),
        ({"model": "m", "input": ["x"]}, "input[0]", "invalid_type"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role", "invalid_value"),
        ({"model": "m", "input": [{"role": "user", "content": 1}]}, "input[0].content", "invalid_type"),
        ({"model": "m", "input": "x", "instructions": 1}, "instructions", "invalid_type"),
        ({"model": "m", "input": "x", "text": "json"}, "text", "invalid_type"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type", "invalid_value"),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
            "text.format.name",
            "missing_required_parameter",
        ),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
            "text.format.schema",
            "missing_required_parameter",
        ),
    ],
)
def test_invalid_requests_are_400_naming_the_parameter(request_body: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        create_response(request_body, now=0)
    assert (caught.value.status, caught.value.param, caught.value.code) == (400, param, code)
    assert caught.value.body()["error"]["type"] == "invalid_request_error"
