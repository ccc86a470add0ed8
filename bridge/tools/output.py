"""How a tool's value becomes the ``function_call_output`` text the model reads.

Every output is JSON text, encoded exactly once: a string result ``Monday to Friday`` becomes
``"Monday to Friday"``, a mapping becomes a JSON object, and an error becomes ``{"error": "..."}``.
"""

from __future__ import annotations

import orjson

from bridge.errors import ToolError

__all__ = ["OK_OUTPUT", "encode_output", "error_output"]

# What a tool that returns nothing (None) tells the model.
OK_OUTPUT = '{"ok":true}'


def encode_output(value: object) -> str:
    """``value`` as JSON text: strings become JSON strings, None becomes ``{"ok":true}``.

    Besides JSON's own types, whatever orjson encodes natively works too (dataclasses, datetimes as
    RFC 3339, enums, UUIDs).

    Raises:
        ToolError: the value cannot be encoded as JSON (a set, bytes, a non-string key...).
    """
    if value is None:
        return OK_OUTPUT
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise ToolError(f"the tool returned a value that is not JSON ({exc})") from exc


def error_output(message: str) -> str:
    """The error output the model sees: ``{"error": message}``."""
    return orjson.dumps({"error": message}).decode()
