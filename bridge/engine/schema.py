"""A small schema language that fails the way OpenAI's API does.

Each spec checks a parsed JSON value at a dotted ``param`` path and raises ``ClientError`` with
OpenAI's code and message wording ("Unknown parameter: 'session.bogus_field'.", "Invalid type for
'x': expected a string, but got an integer instead.", "Invalid value: 'v'. Supported values are:
'a' and 'b'.", "Missing required parameter: 'x'.", "Invalid 'x': integer below minimum value.
Expected a value >= 24000, but got 16000 instead.").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = [
    "Anything",
    "Bool",
    "ClientError",
    "Enum",
    "Int",
    "ListOf",
    "MapOf",
    "Nullable",
    "Num",
    "Obj",
    "OneOf",
    "Spec",
    "Str",
    "Tagged",
    "describe",
    "join",
    "quote_values",
]


class ClientError(Exception):
    """A client event the server refuses; becomes an ``error`` event, the session goes on."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type


def join(path: str, key: str) -> str:
    """``path.key``, or ``key`` at the top level."""
    return f"{path}.{key}" if path else key


def describe(value: object) -> str:
    """OpenAI's name for a JSON value's type, with its article."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def quote_values(values: Collection[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'``."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _wrong_type(path: str, expected: str, value: object) -> ClientError:
    return ClientError(
        f"Invalid type for '{path}': expected {expected}, but got {describe(value)} instead.",
        code="invalid_type",
        param=path,
    )


class Spec:
    """A JSON value's shape."""

    expected = "a value"

    def check(self, value: Any, path: str) -> None:
        """Raise ClientError if ``value`` (at ``path``) does not fit."""
        raise NotImplementedError


class Anything(Spec):
    def check(self, value: Any, path: str) -> None:
        return None


class Str(Spec):
    expected = "a string"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, self.expected, value)


class Bool(Spec):
    expected = "a boolean"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise _wrong_type(path, self.expected, value)


class _Ranged(Spec):
    kind = "integer"

    def __init__(self, minimum: float | None = None, maximum: float | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def _range(self, value: float, path: str) -> None:
        if self.minimum is not None and value < self.minimum:
            raise ClientError(
                f"Invalid '{path}': {self.kind} below minimum value. "
                f"Expected a value >= {self.minimum:g}, but got {value:g} instead.",
                code=f"{self.kind}_below_min_value",
                param=path,
            )
        if self.maximum is not None and value > self.maximum:
            raise ClientError(
                f"Invalid '{path}': {self.kind} above maximum value. "
                f"Expected a value <= {self.maximum:g}, but got {value:g} instead.",
                code=f"{self.kind}_above_max_value",
                param=path,
            )


class Int(_Ranged):
    expected = "an integer"

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(path, self.expected, value)
        self._range(value, path)


class Num(_Ranged):
    expected = "a decimal"
    kind = "decimal"

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, self.expected, value)
        self._range(value, path)


class Enum(Spec):
    expected = "a string"

    def __init__(self, *values: str) -> None:
        self.values = values

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(path, self.expected, value)
        if value not in self.values:
            raise ClientError(
                f"Invalid value: '{value}'. Supported values are: {quote_values(self.values)}.",
                code="invalid_value",
                param=path,
            )


class Nullable(Spec):
    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expected = inner.expected

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.inner.check(value, path)


class ListOf(Spec):
    expected = "an array"

    def __init__(self, item: Spec) -> None:
        self.item = item

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _wrong_type(path, self.expected, value)
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]")


class MapOf(Spec):
    """An object with arbitrary keys and values of one shape (e.g. ``metadata``)."""

    expected = "an object"

    def __init__(self, value: Spec) -> None:
        self.value = value

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, self.expected, value)
        for key, item in value.items():
            self.value.check(item, join(path, key))


class Obj(Spec):
    """An object with known fields; unknown fields are refused."""

    expected = "an object"

    def __init__(self, fields: Mapping[str, Spec], required: Collection[str] = ()) -> None:
        self.fields = fields
        self.required = tuple(required)

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, self.expected, value)
        for key, item in value.items():
            spec = self.fields.get(key)
            if spec is None:
                raise ClientError(
                    f"Unknown parameter: '{join(path, key)}'.", code="unknown_parameter", param=join(path, key)
                )
            spec.check(item, join(path, key))
        for key in self.required:
            if key not in value:
                raise ClientError(
                    f"Missing required parameter: '{join(path, key)}'.",
                    code="missing_required_parameter",
                    param=join(path, key),
                )


class Tagged(Spec):
    """An object whose ``tag`` field picks its shape (each variant lists the tag field too)."""

    expected = "an object"

    def __init__(self, tag: str, variants: Mapping[str, Spec], default: str | None = None) -> None:
        self.tag = tag
        self.variants = variants
        self.default = default

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(path, self.expected, value)
        tag = value.get(self.tag, self.default)
        if tag is None:
            raise ClientError(
                f"Missing required parameter: '{join(path, self.tag)}'.",
                code="missing_required_parameter",
                param=join(path, self.tag),
            )
        Enum(*self.variants).check(tag, join(path, self.tag))
        self.variants[tag].check(value, path)


class OneOf(Spec):
    """A value that may take several JSON types, e.g. ``"auto"`` or ``{"type": "function", …}``."""

    def __init__(self, *options: Spec) -> None:
        self.options = options
        self.expected = "one of " + " or ".join(option.expected for option in options)

    def check(self, value: Any, path: str) -> None:
        described = describe(value)
        for option in self.options:
            if option.expected == described or (option.expected == "a decimal" and described == "an integer"):
                option.check(value, path)
                return
        raise _wrong_type(path, self.expected, value)
