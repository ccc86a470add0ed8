"""The archive API's OpenAPI 3.1 description, built from the same endpoint list that builds the router.

An :class:`Endpoint` carries its handler *and* its OpenAPI Operation object, so no route can exist without
a description. Other modules extend the API (``create_api_app(extra_routes=..., extra_schemas=...)``) with
their own endpoints and component schemas, using the helpers here to refer to shared parts::

    Endpoint("GET", "/jobs/{job_id}", get_job, {
        "operationId": "getJob",
        "summary": "One job",
        "parameters": [path_param("job_id", "Job id")],
        "responses": {"200": json_response("The job", ref("Job")), **error_responses(400, 404, 503)},
    })
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "BASE_SCHEMAS",
    "Endpoint",
    "OpenApiRegistry",
    "error_responses",
    "exact_object",
    "json_response",
    "nullable",
    "path_param",
    "query_param",
    "ref",
]

Handler = Callable[[Request], Awaitable[Response]]
JsonObject = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route of the archive API.

    ``path`` is relative to where the API is mounted, in Starlette syntax without converters
    (``/calls/{call_id}``, which is also OpenAPI's template syntax). ``operation`` is the OpenAPI
    Operation object (operationId, summary, parameters, responses, ...); 401, 403 and 500 responses are
    added to every operation because authentication and the error handler apply to every route.
    """

    method: str
    path: str
    handler: Handler
    operation: JsonObject


def ref(name: str) -> dict[str, str]:
    """A reference to ``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: JsonObject) -> dict[str, Any]:
    """A Response object with an ``application/json`` body."""
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def path_param(name: str, description: str) -> dict[str, Any]:
    """A required string path parameter."""
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def query_param(name: str, description: str, schema: JsonObject | None = None) -> dict[str, Any]:
    """An optional query parameter (string unless ``schema`` says otherwise)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    416: "RangeNotSatisfiable",
    500: "InternalError",
    503: "Unavailable",
}
_ALWAYS = (401, 403, 500)


def error_responses(*statuses: int) -> dict[str, Any]:
    """Responses for error statuses, as references to the shared ``components/responses``."""
    return {str(s): {"$ref": f"#/components/responses/{_ERROR_RESPONSES[s]}"} for s in statuses}


def nullable(kind: str, **extra: Any) -> dict[str, Any]:
    """A JSON Schema of ``kind`` or null."""
    return {"type": [kind, "null"], **extra}


def exact_object(properties: Mapping[str, Any]) -> dict[str, Any]:
    """An object schema whose properties are all present (possibly null) and nothing else: responses are exact."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": dict(properties),
    }


_COUNT = {"type": "integer", "minimum": 0}
_MS = {"type": "integer", "description": "milliseconds from the start of the call"}
_TIME = {"type": "string", "format": "date-time"}

BASE_SCHEMAS: Mapping[str, JsonObject] = {
    "Error": exact_object(
        {"error": exact_object({"code": {"type": "string"}, "message": {"type": "string"}})},
    ),
    "Call": exact_object(
        {
            "id": {"type": "string"},
            "call_sid": nullable("string"),
            "stream_sid": nullable("string"),
            "from": nullable("string", description="caller number"),
            "to": nullable("string", description="called number"),
            "dialplan": nullable("string"),
            "model": nullable("string"),
            "voice": nullable("string"),
            "audio_mode": nullable("string"),
            "started_at": _TIME,
            "answered_at": nullable("string", format="date-time"),
            "ended_at": nullable("string", format="date-time"),
            "end_reason": nullable("string"),
            "duration_s": nullable("number"),
            "input_tokens": _COUNT,
            "output_tokens": _COUNT,
            "total_tokens": _COUNT,
            "barge_ins": _COUNT,
            "upstream_errors": _COUNT,
            "has_recording": {"type": "boolean"},
            "recording_bytes": nullable("integer"),
            "metadata": {"type": "object"},
        }
    ),
    "CallPage": exact_object(
        {
            "data": {"type": "array", "items": ref("Call")},
            "next_cursor": nullable("string", description="pass as `cursor` for the next page; null on the last"),
        }
    ),
    "CallEvent": exact_object(
        {"seq": {"type": "integer"}, "at_ms": _MS, "kind": {"type": "string"}, "data": {"type": "object"}}
    ),
    "CallEventList": exact_object({"data": {"type": "array", "items": ref("CallEvent")}}),
    "TranscriptSegment": exact_object(
        {
            "seq": {"type": "integer"},
            "speaker": {"enum": ["caller", "agent"]},
            "source": {"enum": ["live", "post"]},
            "start_ms": _MS,
            "end_ms": _MS,
            "text": {"type": "string", "description": "what was said"},
            "heard_text": nullable("string", description="agent segments cut by barge-in: what the caller heard"),
            "cut": {"type": "boolean"},
            "item_id": nullable("string"),
        }
    ),
    "Transcript": exact_object({"data": {"type": "array", "items": ref("TranscriptSegment")}}),
    "ToolCall": exact_object(
        {
            "call_id_model": {"type": "string"},
            "name": {"type": "string"},
            "arguments": {"type": "object"},
            "status": {"enum": ["ok", "error", "timeout"]},
            "started_at_ms": _MS,
            "duration_ms": nullable("integer"),
            "output": nullable("string"),
        }
    ),
    "ToolCallList": exact_object({"data": {"type": "array", "items": ref("ToolCall")}}),
}


def _error_response(description: str) -> dict[str, Any]:
    return json_response(description, ref("Error"))


_RESPONSES = {
    "BadRequest": _error_response("Bad parameter, id, filter, cursor or format"),
    "Unauthorized": {
        **_error_response("Missing or wrong bearer token"),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    },
    "Forbidden": _error_response("No API token is configured and the client is not on loopback"),
    "NotFound": _error_response("No such call (or recording, or route)"),
    "RangeNotSatisfiable": {
        **_error_response("The byte range lies outside the recording"),
        "headers": {"Content-Range": {"schema": {"type": "string"}, "description": "`bytes */<size>`"}},
    },
    "InternalError": _error_response("A bug; the server log has the details"),
    "Unavailable": _error_response("The archive database cannot be reached right now"),
}


class OpenApiRegistry:
    """Endpoints and component schemas of the API; refuses duplicates so extensions cannot shadow routes."""

    def __init__(self) -> None:
        self._endpoints: list[Endpoint] = []
        self._schemas: dict[str, JsonObject] = dict(BASE_SCHEMAS)

    @property
    def endpoints(self) -> Sequence[Endpoint]:
        return tuple(self._endpoints)

    def add_schemas(self, schemas: Mapping[str, JsonObject]) -> None:
        """Add component schemas; ValueError when a name is taken."""
        taken = sorted(set(schemas) & set(self._schemas))
        if taken:
            raise ValueError(f"OpenAPI schema names already registered: {', '.join(taken)}")
        self._schemas.update(schemas)

    def add_endpoint(self, endpoint: Endpoint) -> None:
        """Add an endpoint; ValueError for a taken method and path, a path with converters, or a method
        not spelled in capitals (GET, POST, PUT, PATCH, DELETE)."""
        if endpoint.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ValueError(f"{endpoint.method!r}: method must be GET, POST, PUT, PATCH or DELETE")
        if ":" in endpoint.path:
            raise ValueError(f"{endpoint.path}: path converters have no OpenAPI form; validate in the handler")
        if any((e.method, e.path) == (endpoint.method, endpoint.path) for e in self._endpoints):
            raise ValueError(f"{endpoint.method} {endpoint.path} is already registered")
        self._endpoints.append(endpoint)

    def document(self, *, server_url: str) -> dict[str, Any]:
        """The OpenAPI 3.1 document, with the API served from ``server_url``."""
        paths: dict[str, dict[str, Any]] = {}
        for endpoint in self._endpoints:
            operation = dict(endpoint.operation)
            operation["responses"] = {**error_responses(*_ALWAYS), **operation["responses"]}
            paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "bridge call archive",
                "version": "1",
                "description": "Archived phone calls: metadata, timeline, transcripts, recordings and tool calls.",
            },
            "servers": [{"url": server_url}],
            # A bearer token when the bridge has one; none (loopback clients only) when it has not.
            "security": [{"bearer": []}, {}],
            "paths": paths,
            "components": {
                "schemas": {name: dict(schema) for name, schema in self._schemas.items()},
                "responses": _RESPONSES,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }
