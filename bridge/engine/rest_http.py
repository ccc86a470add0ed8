"""HTTP plumbing shared by the engine's REST endpoints: OpenAI-shaped errors, auth, ids, bodies, faults.

Errors follow OpenAI's body ``{"error": {"message", "type", "param", "code"}}``: handlers raise
:class:`ApiError` and :func:`endpoint` turns it into that response, so a client sees exactly what the real
API would send for the same mistake.
"""

from __future__ import annotations

import secrets
import string
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "ApiError",
    "Fault",
    "FaultPlan",
    "Form",
    "FormPart",
    "check_auth",
    "cursor_page",
    "endpoint",
    "int_param",
    "json_body",
    "json_response",
    "multipart_body",
    "new_id",
    "read_body",
]

_ALPHANUMERIC = string.ascii_letters + string.digits


class ApiError(Exception):
    """An OpenAI-style error answer; raised inside a handler, sent by :func:`endpoint`.

    Internal to the engine's HTTP layer (like Starlette's ``HTTPException``): it never escapes a request.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> Response:
        return json_response(self.body(), status=self.status, headers=self.headers)

    @classmethod
    def not_found(cls, kind: str, identifier: str) -> ApiError:
        """OpenAI's answer for an unknown id, e.g. ``No such File object: file-abc``."""
        return cls(404, f"No such {kind} object: {identifier}", param="id")

    @classmethod
    def missing(cls, param: str) -> ApiError:
        return cls(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")

    @classmethod
    def too_large(cls, limit: int, size: int) -> ApiError:
        return cls(413, f"Maximum content size limit ({limit}) exceeded ({size} bytes read)", type="server_error")

    @classmethod
    def invalid(cls, param: str, message: str, code: str | None = "invalid_value") -> ApiError:
        return cls(400, message, param=param, code=code)


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: ``file-`` + 24 base62 characters, other prefixes + 32 hex digits."""
    if prefix == "file-":
        return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(24))
    return prefix + secrets.token_hex(16)


def check_auth(request: Request, api_key: str | None) -> None:
    """Require ``Authorization: Bearer <key>``: any non-empty key when ``api_key`` is None, else that one."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if api_key is not None and not secrets.compare_digest(token.encode(), api_key.encode()):
        shown = f"{token[:3]}***{token[-4:]}" if len(token) > 8 else "***"
        raise ApiError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter in ``low..high``, or 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError.invalid(name, f"Invalid '{name}': expected an integer between {low} and {high}, got {raw!r}.")
    return value


def cursor_page(rows: Sequence[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """A cursor list page (``object: list``) of ``rows`` (already ordered) after the row with id ``after``."""
    start = 0
    if after is not None:
        ids = [row["id"] for row in rows]
        if after not in ids:
            raise ApiError.invalid("after", f"Invalid 'after': no object with id {after!r} in this list.")
        start = ids.index(after) + 1
    page = list(rows[start : start + limit])
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(rows),
    }


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 once it exceeds ``limit`` bytes.

    An oversize body is still read to its end (and dropped) so the client, which is still sending, gets
    the 413 instead of a broken connection.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        else:
            chunks.clear()
    if size > limit:
        raise ApiError.too_large(limit, size)
    return b"".join(chunks)


async def json_body(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, or OpenAI's 400 for anything else."""
    try:
        decoded = orjson.loads(await read_body(request, limit))
    except orjson.JSONDecodeError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
            "JSON. If you have trouble figuring out how to fix this, please contact us through our help center "
            "at help.openai.com.)",
        )
    return decoded


@dataclass(frozen=True, slots=True)
class FormPart:
    """One form field; ``filename`` is set for file fields."""

    name: str
    data: bytes
    filename: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True, slots=True)
class Form:
    """The fields of a form, in body order."""

    parts: tuple[FormPart, ...]

    def get(self, name: str) -> FormPart | None:
        """The last field called ``name`` (a repeated scalar field: the last one wins)."""
        for part in reversed(self.parts):
            if part.name == name:
                return part
        return None

    def text(self, name: str) -> str | None:
        part = self.get(name)
        return None if part is None else part.text


class _FormParser(MultiPartParser):
    """Starlette's multipart parser, also telling whether the body reached its closing boundary:
    python-multipart drops a truncated last part without complaint."""

    closed = False

    def on_end(self) -> None:
        self.closed = True


async def multipart_body(request: Request, limit: int) -> Form:
    """The body as form data: 413 once it exceeds ``limit`` bytes, 400 when it is not well-formed
    ``multipart/form-data``.

    The body is read whole first (as :func:`read_body`), so an oversize body is a 413 whatever its shape;
    then Starlette's parser splits it. One field may fill the whole ``limit`` (Starlette's default allows
    a field that is not a file only 1 MiB). Text fields come out of Starlette decoded and are kept as
    UTF-8 in ``FormPart.data``.
    """
    body = await read_body(request, limit)
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise _bad_form("expected multipart/form-data with a boundary")

    async def whole() -> AsyncGenerator[bytes, None]:
        yield body

    parser = _FormParser(request.headers, whole(), max_part_size=limit)
    try:
        fields = await parser.parse()
    except MultiPartException as exc:
        raise _bad_form(exc.message) from exc
    try:
        if not parser.closed:
            raise _bad_form("the body is not closed by its boundary")
        parts = []
        for name, value in fields.multi_items():
            if isinstance(value, UploadFile):
                parts.append(FormPart(name, await value.read(), value.filename))
            else:
                parts.append(FormPart(name, value.encode("utf-8")))
        return Form(tuple(parts))
    finally:
        await fields.close()


def _bad_form(reason: str) -> ApiError:
    return ApiError(400, f"Invalid multipart/form-data body: {reason}")


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure: the status to answer and extra headers (e.g. ``{"retry-after": "1"}``)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)

    def error(self) -> ApiError:
        if self.status == 429:
            return ApiError(
                429,
                "Rate limit reached for requests. Please try again later.",
                type="requests",
                code="rate_limit_exceeded",
                headers=self.headers,
            )
        return ApiError(
            self.status,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
            headers=self.headers,
        )


class FaultPlan:
    """Test hook: make the next requests to a path fail, to exercise a client's retries against the peer.

    ``plan.fail("/v1/files", 429, {"retry-after": "0"}, times=2)`` makes the next two requests to
    ``/v1/files`` (after authentication) answer 429 with OpenAI's rate-limit error body and those headers;
    the third goes through. Paths are exact request paths. ``hits`` counts the faults served per path.
    """

    def __init__(self) -> None:
        self._queued: dict[str, deque[Fault]] = {}
        self.hits: dict[str, int] = {}

    def fail(self, path: str, status: int, headers: Mapping[str, str] | None = None, *, times: int = 1) -> None:
        queue = self._queued.setdefault(path, deque())
        queue.extend(Fault(status, dict(headers or {})) for _ in range(times))

    def take(self, path: str) -> Fault | None:
        """The next fault queued for ``path``, if any (and count it)."""
        queue = self._queued.get(path)
        if not queue:
            return None
        self.hits[path] = self.hits.get(path, 0) + 1
        return queue.popleft()


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler, *, api_key: str | None, faults: FaultPlan | None) -> Handler:
    """Wrap a handler: authenticate, serve any injected fault, and send :class:`ApiError` as OpenAI does."""

    async def wrapped(request: Request) -> Response:
        try:
            check_auth(request, api_key)
            fault = None if faults is None else faults.take(request.url.path)
            if fault is not None:
                raise fault.error()
            return await handler(request)
        except ApiError as exc:
            return exc.response()

    return wrapped
