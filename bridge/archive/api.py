"""The archive's REST API: a Starlette app the bridge mounts at ``/api``.

Every route is an :class:`~bridge.archive.openapi.Endpoint`, so the router and ``/openapi.json`` come from
one list. Errors are always JSON ``{"error": {"code", "message"}}``: handlers raise :class:`ApiError` for
bad input (4xx); archive outages answer 503; anything else is a bug, logged and answered 500.

Access: with ``api_token`` set, every request needs ``Authorization: Bearer <token>``; without one only
loopback clients are served.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.archive.database import ArchiveUnavailable
from bridge.archive.formats import TEXT_FORMATS
from bridge.archive.openapi import (
    Endpoint,
    Handler,
    JsonObject,
    OpenApiRegistry,
    error_responses,
    json_response,
    path_param,
    query_param,
    ref,
)
from bridge.archive.query import FILTER_PARAMS, CallFilter, Cursor
from bridge.archive.ranges import Unsatisfiable, parse_byte_range
from bridge.archive.records import ID_PATTERN, Call, Source
from bridge.archive.retention import remove_recording
from bridge.archive.store import ArchiveStore

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "ApiError",
    "JsonResponse",
    "archive_store",
    "create_api_app",
    "page_limit",
    "query_params",
]

log = logging.getLogger("bridge.archive.api")

_SOURCES: Mapping[str, Source | None] = {"": None, "live": "live", "post": "post"}
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_CHUNK = 64 * 1024


class JsonResponse(JSONResponse):
    """JSON via orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """An error answer: raise it from a handler to send ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        body = {"error": {"code": self.code, "message": self.message}}
        return JsonResponse(body, status_code=self.status, headers=self.headers)


def archive_store(request: Request) -> ArchiveStore:
    """The store the API app was created with."""
    store: ArchiveStore = request.app.state.archive_store
    return store


def query_params(request: Request, allowed: Sequence[str]) -> dict[str, str]:
    """The query parameters, refusing unknown or repeated names (400) so typos do not pass silently."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise ApiError(400, "unknown_parameter", f"unknown query parameter {name!r}; allowed: {', '.join(allowed)}")
        if name in params:
            raise ApiError(400, "repeated_parameter", f"query parameter {name!r} given more than once")
        params[name] = value
    return params


def page_limit(params: Mapping[str, str]) -> int:
    """The ``limit`` query parameter of a paginated list (DEFAULT_LIMIT when absent); 400 when invalid."""
    raw = params.get("limit")
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "invalid_limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _call_id(request: Request) -> str:
    call_id: str = request.path_params["call_id"]
    if not ID_PATTERN.fullmatch(call_id):
        raise ApiError(400, "invalid_id", "a call id is 1 to 64 letters, digits, '-' or '_'")
    return call_id


def _not_found(call_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no call {call_id!r}")


# ---- handlers ----


async def _list_calls(request: Request) -> Response:
    params = query_params(request, [*FILTER_PARAMS, "cursor", "limit"])
    try:
        filters = CallFilter.parse(params)
    except ValueError as exc:
        raise ApiError(400, "invalid_filter", str(exc)) from None
    limit = page_limit(params)
    cursor = None
    if params.get("cursor"):
        try:
            cursor = Cursor.decode(params["cursor"])
        except ValueError:
            raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from None
    calls, next_cursor = await archive_store(request).list_calls(filters, cursor=cursor, limit=limit)
    return JsonResponse(
        {"data": [c.to_json() for c in calls], "next_cursor": next_cursor.encode() if next_cursor else None}
    )


async def _found_call(request: Request) -> Call:
    call_id = _call_id(request)
    call = await archive_store(request).get_call(call_id)
    if call is None:
        raise _not_found(call_id)
    return call


async def _get_call(request: Request) -> Response:
    query_params(request, [])
    return JsonResponse((await _found_call(request)).to_json())


async def _get_transcript(request: Request) -> Response:
    params = query_params(request, ["format", "source"])
    call_id = _call_id(request)
    fmt = params.get("format") or "json"
    if fmt != "json" and fmt not in TEXT_FORMATS:
        raise ApiError(400, "invalid_format", "format must be json, txt, srt or vtt")
    if params.get("source", "") not in _SOURCES:
        raise ApiError(400, "invalid_source", "source must be live or post")
    segments = await archive_store(request).get_transcript(call_id, _SOURCES[params.get("source", "")])
    if segments is None:
        raise _not_found(call_id)
    if fmt == "json":
        return JsonResponse({"data": [s.to_json() for s in segments]})
    render, media_type = TEXT_FORMATS[fmt]
    return Response(render(segments), media_type=media_type)


async def _get_events(request: Request) -> Response:
    query_params(request, [])
    call_id = _call_id(request)
    events = await archive_store(request).get_events(call_id)
    if events is None:
        raise _not_found(call_id)
    return JsonResponse({"data": [e.to_json() for e in events]})


async def _get_tool_calls(request: Request) -> Response:
    query_params(request, [])
    call_id = _call_id(request)
    tool_calls = await archive_store(request).get_tool_calls(call_id)
    if tool_calls is None:
        raise _not_found(call_id)
    return JsonResponse({"data": [t.to_json() for t in tool_calls]})


async def _delete_call(request: Request) -> Response:
    query_params(request, [])
    call_id = _call_id(request)
    call = await archive_store(request).delete_call(call_id)
    if call is None:
        raise _not_found(call_id)
    if call.recording_path is not None:
        await remove_recording(call.recording_path)
    return Response(status_code=204)


async def _stream(file: anyio.AsyncFile[bytes], first: int, length: int) -> AsyncIterator[bytes]:
    try:
        await file.seek(first)
        while length > 0:
            chunk = await file.read(min(_CHUNK, length))
            if not chunk:
                return  # the file shrank under us; the client sees a short body
            length -= len(chunk)
            yield chunk
    finally:
        # Also when the client went away and the transfer is being cancelled.
        with anyio.CancelScope(shield=True):
            await file.aclose()


async def _get_recording(request: Request) -> Response:
    query_params(request, [])
    call = await _found_call(request)
    recordings_dir: Path = request.app.state.recordings_dir
    missing = ApiError(404, "no_recording", f"call {call.id!r} has no recording")
    if call.recording_path is None:
        raise missing
    path = Path(await anyio.Path(call.recording_path).resolve())
    # Only ever serve files under the recordings folder, whatever the database says.
    if not path.is_relative_to(recordings_dir):
        log.warning("call %s: recording path %s is outside %s; not serving it", call.id, path, recordings_dir)
        raise missing
    try:
        file = await anyio.open_file(path, "rb")
    except (FileNotFoundError, IsADirectoryError):
        raise missing from None
    size = os.fstat(file.wrapped.fileno()).st_size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'inline; filename="{call.id}.wav"',
    }
    try:
        byte_range = parse_byte_range(request.headers.get("range"), size)
    except Unsatisfiable:
        await file.aclose()
        raise ApiError(
            416,
            "range_not_satisfiable",
            f"the recording has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        ) from None
    status = 200
    first, last = 0, size - 1
    if byte_range is not None:
        status = 206
        first, last = byte_range
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1)
    return StreamingResponse(
        _stream(file, first, last - first + 1), status_code=status, headers=headers, media_type="audio/wav"
    )


async def _openapi(request: Request) -> Response:
    query_params(request, [])
    registry: OpenApiRegistry = request.app.state.openapi
    return JsonResponse(registry.document(server_url=request.scope.get("root_path") or "/"))


# ---- endpoint descriptions ----

_CALL_ID = path_param("call_id", "The call's id")
_STORE_ERRORS = error_responses(400, 404, 503)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/calls",
        _list_calls,
        {
            "operationId": "listCalls",
            "summary": "Calls, newest first, filtered and paged",
            "parameters": [
                query_param("from", "Caller number, exactly (percent-encode '+' as %2B)"),
                query_param("to", "Called number, exactly"),
                query_param("dialplan", "Dialplan name"),
                query_param(
                    "since",
                    "Started at or after (ISO 8601; UTC when no offset)",
                    {"type": "string", "format": "date-time"},
                ),
                query_param(
                    "until", "Started before (ISO 8601; UTC when no offset)", {"type": "string", "format": "date-time"}
                ),
                query_param("end_reason", "Why the call ended"),
                query_param("q", "Full-text search: calls with a transcript segment containing all these words"),
                query_param("cursor", "`next_cursor` from the previous page"),
                query_param(
                    "limit",
                    f"Page size, 1 to {MAX_LIMIT}",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                ),
            ],
            "responses": {"200": json_response("A page of calls", ref("CallPage")), **error_responses(400, 503)},
        },
    ),
    Endpoint(
        "GET",
        "/calls/{call_id}",
        _get_call,
        {
            "operationId": "getCall",
            "summary": "One call",
            "parameters": [_CALL_ID],
            "responses": {"200": json_response("The call", ref("Call")), **_STORE_ERRORS},
        },
    ),
    Endpoint(
        "DELETE",
        "/calls/{call_id}",
        _delete_call,
        {
            "operationId": "deleteCall",
            "summary": "Delete a call, everything recorded with it, and its recording file",
            "parameters": [_CALL_ID],
            "responses": {"204": {"description": "Deleted"}, **_STORE_ERRORS},
        },
    ),
    Endpoint(
        "GET",
        "/calls/{call_id}/transcript",
        _get_transcript,
        {
            "operationId": "getTranscript",
            "summary": "The call's transcript in time order; cut agent replies show what the caller heard",
            "parameters": [
                _CALL_ID,
                query_param("format", "Representation", {"enum": ["json", "txt", "srt", "vtt"], "default": "json"}),
                query_param(
                    "source",
                    "Only live (during the call) or post (post-call transcription) segments",
                    {"enum": ["live", "post"]},
                ),
            ],
            "responses": {
                "200": {
                    "description": "The transcript; txt/srt/vtt mark cut agent replies with [cut]",
                    "content": {
                        "application/json": {"schema": ref("Transcript")},
                        "text/plain": {"schema": {"type": "string"}},
                        "application/x-subrip": {"schema": {"type": "string"}},
                        "text/vtt": {"schema": {"type": "string"}},
                    },
                },
                **_STORE_ERRORS,
            },
        },
    ),
    Endpoint(
        "GET",
        "/calls/{call_id}/recording.wav",
        _get_recording,
        {
            "operationId": "getRecording",
            "summary": "The stereo recording (caller left, agent right); single byte ranges supported",
            "parameters": [
                _CALL_ID,
                {
                    "name": "Range",
                    "in": "header",
                    "required": False,
                    "description": "`bytes=first-last`, `bytes=first-` or `bytes=-suffix`",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "The whole file",
                    "content": {"audio/wav": {"schema": {"contentMediaType": "audio/wav"}}},
                },
                "206": {
                    "description": "The requested range",
                    "headers": {
                        "Content-Range": {"schema": {"type": "string"}, "description": "`bytes first-last/size`"}
                    },
                    "content": {"audio/wav": {"schema": {"contentMediaType": "audio/wav"}}},
                },
                **error_responses(400, 404, 416, 503),
            },
        },
    ),
    Endpoint(
        "GET",
        "/calls/{call_id}/events",
        _get_events,
        {
            "operationId": "getCallEvents",
            "summary": "The call's event timeline",
            "parameters": [_CALL_ID],
            "responses": {"200": json_response("Events in order", ref("CallEventList")), **_STORE_ERRORS},
        },
    ),
    Endpoint(
        "GET",
        "/calls/{call_id}/tool_calls",
        _get_tool_calls,
        {
            "operationId": "getToolCalls",
            "summary": "The call's tool calls",
            "parameters": [_CALL_ID],
            "responses": {"200": json_response("Tool calls by start time", ref("ToolCallList")), **_STORE_ERRORS},
        },
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        _openapi,
        {
            "operationId": "getOpenApi",
            "summary": "This description",
            "responses": {"200": json_response("The OpenAPI 3.1 document", {"type": "object"})},
        },
    ),
)


# ---- errors, access control, app ----


def _guarded(handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except ArchiveUnavailable as exc:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            return ApiError(503, "archive_unavailable", "the archive database cannot be reached").response()
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return ApiError(500, "internal_error", "internal error; see the server log").response()

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    # The router's own 404 (no route) and 405 (wrong method, with its Allow header), in our error shape.
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return ApiError(exc.status_code, code, exc.detail, headers=exc.headers).response()


def _is_loopback(client: tuple[str, int] | None) -> bool:
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class _AccessGuard:
    """Bearer token check, or loopback-only when there is no token; before routing, so 404s leak nothing."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = None if token is None else token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            denied = self._check(scope)
            if denied is not None:
                await denied.response()(scope, receive, send)
                return
        await self._app(scope, receive, send)

    def _check(self, scope: Scope) -> ApiError | None:
        if self._token is None:
            if _is_loopback(scope.get("client")):
                return None
            return ApiError(403, "forbidden", "no API token is configured: only loopback clients are served")
        scheme, _, credentials = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return ApiError(401, "unauthorized", "bearer token required", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.strip().encode(), self._token):
            return ApiError(
                401, "unauthorized", "wrong bearer token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return None


def create_api_app(
    store: ArchiveStore,
    *,
    api_token: str | None,
    recordings_dir: Path,
    extra_routes: Sequence[Endpoint] = (),
    extra_schemas: Mapping[str, JsonObject] | None = None,
) -> Starlette:
    """The archive API, to mount at ``/api``.

    ``extra_routes`` adds endpoints (e.g. ``/jobs``) with their OpenAPI operations, ``extra_schemas`` the
    component schemas they refer to; both go through the same access control and error handling.
    Recordings are only served from under ``recordings_dir``.
    """
    registry = OpenApiRegistry()
    registry.add_schemas(extra_schemas or {})
    for endpoint in (*ENDPOINTS, *extra_routes):
        registry.add_endpoint(endpoint)
    by_path: dict[str, dict[str, Handler]] = {}
    for endpoint in registry.endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = _guarded(endpoint.handler)
    routes = [Route(path, _dispatch(handlers), methods=list(handlers)) for path, handlers in by_path.items()]
    if api_token is None:
        log.warning("BRIDGE_API_TOKEN is not set: the archive API answers loopback clients only")
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_AccessGuard, token=api_token)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.archive_store = store
    app.state.recordings_dir = recordings_dir.resolve()
    app.state.openapi = registry
    return app


def _dispatch(handlers: Mapping[str, Handler]) -> Handler:
    async def endpoint(request: Request) -> Response:
        # Starlette answers HEAD with the GET handler; the server drops the body.
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return endpoint
