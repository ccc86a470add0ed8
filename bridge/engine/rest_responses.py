"""``POST /v1/responses`` offline: validate a Responses API request and answer it with the scripted brain.

Used by the HTTP route and by batch execution alike, so a batch line gets exactly the answer (or the
400) that the same body would get on its own. Offline the engine needs ``model`` and ``input`` (a string
or a list of message items); the reply text comes from :mod:`bridge.engine.brain`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.engine import brain
from bridge.engine.rest_http import ApiError, new_id

__all__ = ["create_response"]

_ROLES = frozenset({"user", "assistant", "system", "developer"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
_FORMATS = frozenset({"text", "json_object", "json_schema"})


def create_response(body: Mapping[str, Any], *, now: float) -> dict[str, Any]:
    """The Response object for ``body``; raise :class:`ApiError` (400) for an invalid request."""
    model = body.get("model")
    if model is None:
        raise ApiError.missing("model")
    if not isinstance(model, str) or not model:
        raise ApiError.invalid("model", "Invalid 'model': expected a non-empty string.", code="invalid_type")
    if body.get("input") is None:
        raise ApiError.missing("input")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ApiError.invalid("instructions", "Invalid type for 'instructions': expected a string.", "invalid_type")
    system_text, user_text = _texts(body["input"])
    all_instructions = "\n".join(t for t in (instructions, system_text) if t)
    text_format = _text_format(body.get("text"))
    kind = text_format["type"]
    if kind == "json_object" and "json" not in f"{all_instructions}\n{user_text}".lower():
        raise ApiError.invalid(
            "input",
            "Response input messages must contain the word 'json' in some form to use 'text.format' of type "
            "'json_object'.",
        )
    reply = brain.answer(
        all_instructions,
        user_text,
        schema=text_format["schema"] if kind == "json_schema" else None,
        json_object=kind == "json_object",
    )
    input_tokens = brain.count_tokens(all_instructions) + brain.count_tokens(user_text)
    output_tokens = brain.count_tokens(reply)
    created = int(now)
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": created,
        "status": "completed",
        "completed_at": created,
        "error": None,
        "incomplete_details": None,
        "instructions": instructions,
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [
            {
                "type": "message",
                "id": new_id("msg_"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply, "annotations": []}],
            }
        ],
        "output_text": reply,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text_format},
        "tool_choice": "auto",
        "tools": [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _texts(value: object) -> tuple[str, str]:
    """(system and developer text, user text) of an ``input``; assistant turns are context only."""
    if isinstance(value, str):
        return "", value
    if not isinstance(value, list):
        raise ApiError.invalid(
            "input", "Invalid type for 'input': expected a string or an array of input items.", "invalid_type"
        )
    system: list[str] = []
    user: list[str] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise ApiError.invalid(where, f"Invalid type for '{where}': expected an object.", "invalid_type")
        if item.get("type", "message") != "message":
            continue  # tool calls and their outputs carry no text for the brain
        role = item.get("role")
        if role not in _ROLES:
            message = f"Invalid value for '{where}.role': expected one of {sorted(_ROLES)}."
            raise ApiError.invalid(f"{where}.role", message)
        text = _content_text(item.get("content"), f"{where}.content")
        if role == "user":
            user.append(text)
        elif role in ("system", "developer"):
            system.append(text)
    return "\n".join(system), "\n".join(user)


def _content_text(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ApiError.invalid(where, f"Invalid type for '{where}': expected a string or an array.", "invalid_type")
    texts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
    return "\n".join(texts)


def _text_format(text: object) -> dict[str, Any]:
    """The request's ``text.format`` (default ``{"type": "text"}``), checked."""
    if text is None:
        return {"type": "text"}
    if not isinstance(text, dict):
        raise ApiError.invalid("text", "Invalid type for 'text': expected an object.", "invalid_type")
    fmt = text.get("format")
    if fmt is None:
        return {"type": "text"}
    if not isinstance(fmt, dict) or fmt.get("type") not in _FORMATS:
        raise ApiError.invalid("text.format.type", f"Invalid 'text.format.type': expected one of {sorted(_FORMATS)}.")
    if fmt["type"] == "json_schema":
        if not isinstance(fmt.get("name"), str):
            raise ApiError.missing("text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            raise ApiError.missing("text.format.schema")
    return dict(fmt)
