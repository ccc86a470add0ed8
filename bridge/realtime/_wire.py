"""Field codecs shared by the client and server event codecs (private; see ``events.py``).

An event is described by a table of ``Field``s in wire order; each field has a ``Kind`` that
checks the JSON value, converts it to the internal form for a dialect (decode) and back
(encode). Messages name the offending field, which ``ProtocolError.field`` carries too.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from bridge.errors import ProtocolError
from bridge.realtime._dialect import (
    item_from_beta,
    item_to_beta,
    response_from_beta,
    response_to_beta,
    session_from_beta,
    session_to_beta,
)

__all__ = [
    "BASE64",
    "INT",
    "ITEM",
    "LIST",
    "MISSING",
    "NULLABLE_STR",
    "OBJECT",
    "OPTIONAL_INT",
    "OPTIONAL_STR",
    "RESPONSE",
    "RESPONSE_PARAMS",
    "SESSION_CLIENT",
    "SESSION_SERVER",
    "STR",
    "Dialect",
    "Field",
    "Kind",
    "b64decode",
    "b64encode",
    "load_object",
    "read_fields",
    "write_fields",
]

Dialect = Literal["ga", "beta"]
"""The Realtime wire dialect: ``"ga"`` (``/v1/realtime``) or ``"beta"`` (``OpenAI-Beta: realtime=v1``)."""

MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Kind:
    """How one JSON value is checked and converted.

    ``required``: absence is an error (else absence reads as None). ``omit_none``: None is not
    written (else it is written as null). ``decode``/``encode`` run on non-None values only.
    """

    expected: str
    check: Callable[[Any], bool]
    required: bool = True
    omit_none: bool = False
    decode: Callable[[Any, Dialect, str], Any] | None = None
    encode: Callable[[Any, Dialect, str], Any] | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """One wire key of an event and the dataclass attribute that holds it."""

    key: str
    attr: str
    kind: Kind
    ga_only: bool = False


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is an int subclass; a JSON true is not a count


def _is_dict(v: Any) -> bool:
    return type(v) is dict


def b64decode(value: str, dialect: Dialect, path: str) -> bytes:
    """Strict base64 (the canonical alphabet and padding), so that re-encoding gives the same text."""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII text
        raise ProtocolError(f"'{path}' is not valid base64: {exc}", field=path) from exc


def b64encode(value: bytes, dialect: Dialect, path: str) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def _session_in(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    return session_from_beta(value, path) if dialect == "beta" else value


def _session_out_client(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    return session_to_beta(value, client=True, path=path) if dialect == "beta" else value


def _session_out_server(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    return session_to_beta(value, client=False, path=path) if dialect == "beta" else value


def _item_in(value: dict[str, Any], dialect: Dialect, path: str) -> Any:
    return item_from_beta(value) if dialect == "beta" else value


def _item_out(value: dict[str, Any], dialect: Dialect, path: str) -> Any:
    return item_to_beta(value) if dialect == "beta" else value


def _response_in(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    # The properties of ResponseCreated/ResponseDone rely on these two.
    for key in ("id", "status"):
        if type(value.get(key)) is not str:
            raise ProtocolError(f"'{path}.{key}' must be a string", field=f"{path}.{key}")
    return response_from_beta(value, params=False, path=path) if dialect == "beta" else value


def _response_out(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    return response_to_beta(value, params=False, path=path) if dialect == "beta" else value


def _params_in(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    return response_from_beta(value, params=True, path=path) if dialect == "beta" else value


def _params_out(value: dict[str, Any], dialect: Dialect, path: str) -> dict[str, Any]:
    return response_to_beta(value, params=True, path=path) if dialect == "beta" else value


STR = Kind("a string", _is_str)
INT = Kind("an integer", _is_int)
OBJECT = Kind("an object", _is_dict)
LIST = Kind("an array", lambda v: type(v) is list)
NULLABLE_STR = Kind("a string or null", lambda v: v is None or type(v) is str, required=False)
OPTIONAL_STR = Kind("a string", lambda v: v is None or type(v) is str, required=False, omit_none=True)
OPTIONAL_INT = Kind("an integer", lambda v: v is None or type(v) is int, required=False, omit_none=True)
BASE64 = Kind("a base64 string", _is_str, decode=b64decode, encode=b64encode)
SESSION_CLIENT = Kind("an object", _is_dict, decode=_session_in, encode=_session_out_client)
SESSION_SERVER = Kind("an object", _is_dict, decode=_session_in, encode=_session_out_server)
ITEM = Kind("an object", _is_dict, decode=_item_in, encode=_item_out)
RESPONSE = Kind("an object", _is_dict, decode=_response_in, encode=_response_out)
RESPONSE_PARAMS = Kind(
    "an object",
    lambda v: v is None or type(v) is dict,
    required=False,
    omit_none=True,
    decode=_params_in,
    encode=_params_out,
)


def load_object(data: str | bytes) -> dict[str, Any]:
    """Parse one JSON event; it must be an object with a string ``type``."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"invalid JSON: {exc}") from exc
    if type(obj) is not dict:
        raise ProtocolError(f"an event must be a JSON object, not {type(obj).__name__}")
    if type(obj.get("type")) is not str:
        raise ProtocolError("an event needs a string 'type'", field="type")
    return obj


def read_fields(
    obj: dict[str, Any], fields: tuple[Field, ...], dialect: Dialect, context: str, prefix: str = ""
) -> dict[str, Any]:
    """Check and decode ``fields`` of ``obj``: attribute name -> internal value.

    ``context`` (the event type) starts error messages; ``prefix`` is the path of ``obj``
    inside the event (``"error."``), so that ``ProtocolError.field`` is a full dotted path.
    """
    values: dict[str, Any] = {}
    for f in fields:
        kind = f.kind
        value = obj.get(f.key, MISSING)
        if value is MISSING:
            if kind.required:
                raise ProtocolError(f"{context}: missing required field '{prefix}{f.key}'", field=prefix + f.key)
            value = None
        elif not kind.check(value):
            raise ProtocolError(f"{context}: '{prefix}{f.key}' must be {kind.expected}", field=prefix + f.key)
        elif kind.decode is not None and value is not None:
            value = kind.decode(value, dialect, prefix + f.key)
        values[f.attr] = value
    return values


def write_fields(out: dict[str, Any], event: object, fields: tuple[Field, ...], dialect: Dialect) -> None:
    """Encode ``fields`` of ``event`` into ``out``, in wire order."""
    for f in fields:
        value = getattr(event, f.attr)
        if value is None:
            if not f.kind.omit_none:
                out[f.key] = None
        else:
            encode = f.kind.encode
            out[f.key] = value if encode is None else encode(value, dialect, f.key)
