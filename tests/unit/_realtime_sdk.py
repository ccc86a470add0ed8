"""Check Realtime JSON against the official ``openai`` package's generated types (test helper).

The SDK's models accept unknown keys (``extra="allow"``), so validation alone would not catch
a misspelt field. ``assert_sdk_accepts`` therefore also walks the validated model for extra
keys and dumps it back, proving that every key was known and none was dropped or changed.
"""

from __future__ import annotations

from typing import Any

import orjson
import pydantic
from openai.types.beta.realtime.realtime_client_event import RealtimeClientEvent as BetaClientEvent
from openai.types.beta.realtime.realtime_server_event import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime.realtime_client_event import RealtimeClientEvent as GAClientEvent
from openai.types.realtime.realtime_server_event import RealtimeServerEvent as GAServerEvent

from bridge.realtime.events import Dialect

_ADAPTERS: dict[tuple[str, Dialect], pydantic.TypeAdapter[Any]] = {
    ("client", "ga"): pydantic.TypeAdapter(GAClientEvent),
    ("client", "beta"): pydantic.TypeAdapter(BetaClientEvent),
    ("server", "ga"): pydantic.TypeAdapter(GAServerEvent),
    ("server", "beta"): pydantic.TypeAdapter(BetaServerEvent),
}


def _extra_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, pydantic.BaseModel):
        found = [f"{path}{key}" for key in value.model_extra or {}]
        for name in type(value).model_fields:
            found += _extra_paths(getattr(value, name), f"{path}{name}.")
        return found
    if isinstance(value, list):
        return [p for item in value for p in _extra_paths(item, path)]
    return []


def _without(data: Any, paths: frozenset[str], path: str = "") -> Any:
    if isinstance(data, dict):
        return {k: _without(v, paths, f"{path}{k}.") for k, v in data.items() if f"{path}{k}" not in paths}
    if isinstance(data, list):
        return [_without(item, paths, path) for item in data]
    return data


def assert_sdk_accepts(text: str, side: str, dialect: Dialect, *, not_in_sdk: frozenset[str] = frozenset()) -> None:
    """Assert that the SDK's ``side`` (client/server) event union of ``dialect`` knows every key of ``text``.

    ``not_in_sdk`` lists dotted paths (list indexes left out) that the real server sends but
    the SDK does not declare; they are removed before the check.
    """
    data = _without(orjson.loads(text), not_in_sdk)
    model = _ADAPTERS[(side, dialect)].validate_python(data)
    unknown = _extra_paths(model, "")
    assert unknown == [], f"keys the SDK does not know: {unknown}"
    assert model.model_dump(mode="json", exclude_unset=True) == data
