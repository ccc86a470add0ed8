"""Parse and check a call's arguments: the model's raw JSON text against the tool's JSON Schema."""

from __future__ import annotations

from typing import Any

import orjson
from jsonschema import Draft202012Validator

from bridge.errors import ToolError

__all__ = ["parse_arguments"]

_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def parse_arguments(text: str, validator: Draft202012Validator) -> dict[str, Any]:
    """The arguments as a dict; empty text counts as ``{}`` (a DTMF key or a model that sent nothing).

    Raises:
        ToolError: the text is not a JSON object, or the object fails the schema (every failure is
            listed with its JSON path, such as ``$.order_id``).
    """
    if not text.strip():
        value: object = {}
    else:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ToolError(f"the arguments are not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        kind = "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
        raise ToolError(f"the arguments must be a JSON object, got {kind}")
    errors = sorted(validator.iter_errors(value), key=lambda error: (error.json_path, error.message))
    if errors:
        raise ToolError("invalid arguments: " + "; ".join(f"{error.json_path}: {error.message}" for error in errors))
    return value
