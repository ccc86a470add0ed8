"""HTTP tools: the model's arguments go to an endpoint; its answer goes back to the model.

* GET: the arguments become query parameters after the URL's own (strings as they are, other
  values as JSON text, a list as a repeated parameter). Every other method: the arguments are the
  JSON request body.
* The dialplan's headers are sent as configured (``${VAR}`` was expanded when the dialplan loaded).
* A 2xx answer with a JSON content type (``application/json``, ``application/*+json``) and a JSON
  body is passed to the model as it is; any other body is sent as one JSON string; an empty body as
  ``{"ok": true, "status": <code>}``.
* A non-2xx answer is an error naming the status, with an excerpt of the body. A timeout raises
  TimeoutError (the runner reports status ``timeout``); a failure to connect is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from bridge.dialplan.model import HttpTool
from bridge.errors import ToolError
from bridge.tools.base import ToolContext

__all__ = ["ERROR_EXCERPT_CHARS", "HttpHandler", "is_json_content_type", "query_params"]

# How much of an error body the model sees: enough for an error message, not a whole HTML page.
ERROR_EXCERPT_CHARS = 300


def is_json_content_type(content_type: str) -> bool:
    """True for ``application/json`` and ``application/<anything>+json`` (parameters ignored)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _query_value(value: object) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def query_params(fixed: httpx.QueryParams, arguments: Mapping[str, Any]) -> httpx.QueryParams:
    """The URL's own parameters, then the arguments (a list value repeats its parameter).

    An argument named like one of the URL's parameters is left out: what the operator wrote wins.
    """
    params: list[tuple[str, str | int | float | bool | None]] = list(fixed.multi_items())
    for key, value in arguments.items():
        if key in fixed:
            continue
        if isinstance(value, list):
            params.extend((key, _query_value(item)) for item in value)
        else:
            params.append((key, _query_value(value)))
    return httpx.QueryParams(params)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ERROR_EXCERPT_CHARS else flat[: ERROR_EXCERPT_CHARS - 3] + "..."


def _body_output(response: httpx.Response) -> str:
    if not response.content:
        return orjson.dumps({"ok": True, "status": response.status_code}).decode()
    if is_json_content_type(response.headers.get("content-type", "")):
        try:
            orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass  # labelled JSON but is not: the text goes to the model as a string, like any other
        else:
            return response.content.decode()
    return orjson.dumps(response.text).decode()


class HttpHandler:
    """Calls one HTTP endpoint over a shared ``httpx.AsyncClient``."""

    def __init__(self, tool: HttpTool, client: httpx.AsyncClient) -> None:
        self.tool = tool
        self.client = client
        self._url = httpx.URL(tool.url)
        self._timeout = httpx.Timeout(tool.timeout_s)
        self._headers = dict(tool.headers)
        if tool.method != "GET" and not any(name.lower() == "content-type" for name in tool.headers):
            self._headers["Content-Type"] = "application/json"

    async def __call__(self, arguments: dict[str, Any], context: ToolContext) -> str:
        tool = self.tool
        if tool.method == "GET":
            url = self._url.copy_with(params=query_params(self._url.params, arguments))
            request = self.client.build_request("GET", url, headers=self._headers, timeout=self._timeout)
        else:
            request = self.client.build_request(
                tool.method, self._url, content=orjson.dumps(arguments), headers=self._headers, timeout=self._timeout
            )
        try:
            response = await self.client.send(request, follow_redirects=True)
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"the service did not answer within {tool.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"could not reach the service: {str(exc) or type(exc).__name__}") from exc
        if not response.is_success:
            body = _excerpt(response.text)
            status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            raise ToolError(f"the service answered {status}" + (f": {body}" if body else ""))
        return _body_output(response)
