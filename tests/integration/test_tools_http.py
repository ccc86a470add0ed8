"""HTTP tools against a real server on loopback: bodies, query strings, headers, errors and timeouts."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bridge.dialplan.loader import load_dialplan_text
from bridge.dialplan.model import Dialplan, HttpTool, ToolSpec, empty_parameters
from bridge.tools.base import ToolCall, ToolResult
from bridge.tools.registry import ToolRegistry
from bridge.tools.runner import ToolRunner
from bridge.web.asgi_server import serve_asgi
from tests.tools_support import make_context

# One server and one registry for the whole module: starting and stopping uvicorn costs more than the tests.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Service:
    url: str
    release: asyncio.Event  # lets the slow endpoint finish, so the server can shut down


def build_app(release: asyncio.Event) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "method": request.method,
                "body": orjson.loads(await request.body()),
                "content_type": request.headers.get("content-type"),
                "authorization": request.headers.get("authorization"),
                "x_team": request.headers.get("x-team"),
            }
        )

    async def query(request: Request) -> JSONResponse:
        return JSONResponse({"query": [list(pair) for pair in request.query_params.multi_items()]})

    async def text(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Your order ships on Monday.")

    async def fail(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Traceback: database\n   exploded", status_code=500)

    async def missing(request: Request) -> JSONResponse:
        return JSONResponse({"detail": "order not found"}, status_code=404)

    async def empty(request: Request) -> Response:
        return Response(status_code=204)

    async def problem(request: Request) -> Response:
        return Response(b'{"title": "kept as sent"}', media_type="application/problem+json")

    async def mislabelled(request: Request) -> Response:
        return Response(b"not json at all", media_type="application/json")

    async def moved(request: Request) -> Response:
        return Response(status_code=307, headers={"location": "/echo"})

    async def slow(request: Request) -> PlainTextResponse:
        await release.wait()
        return PlainTextResponse("too late")

    routes = [
        Route("/echo", echo, methods=["POST", "PUT", "PATCH", "DELETE"]),
        Route("/query", query, methods=["GET"]),
        Route("/text", text, methods=["POST"]),
        Route("/fail", fail, methods=["POST"]),
        Route("/missing", missing, methods=["POST"]),
        Route("/empty", empty, methods=["POST"]),
        Route("/problem", problem, methods=["POST"]),
        Route("/mislabelled", mislabelled, methods=["POST"]),
        Route("/moved", moved, methods=["POST"]),
        Route("/slow", slow, methods=["POST"]),
    ]
    return Starlette(routes=routes)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service() -> AsyncIterator[Service]:
    release = asyncio.Event()
    async with serve_asgi(build_app(release)) as server:
        try:
            yield Service(server.http_url, release)
        finally:
            release.set()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def runner(service: Service) -> AsyncIterator[ToolRunner]:
    order_schema = "{type: object, properties: {order_id: {type: string}}, required: [order_id]}"
    plan = load_dialplan_text(
        textwrap.dedent(
            f"""\
            name: t
            tools:
              - name: lookup
                parameters: {order_schema}
                http:
                  url: "{service.url}/echo"
                  headers: {{Authorization: "Bearer ${{TOKEN}}", X-Team: support}}
              - name: replace
                parameters: {order_schema}
                http: {{url: "{service.url}/echo", method: PUT}}
              - name: cancel
                parameters: {order_schema}
                http: {{url: "{service.url}/echo", method: DELETE}}
              - name: search
                parameters:
                  type: object
                  properties:
                    q: {{type: string}}
                    limit: {{type: integer}}
                    exact: {{type: boolean}}
                    tags: {{type: array}}
                    filter: {{type: object}}
                    empty: {{type: "null"}}
                    fixed: {{type: string}}
                http: {{url: "{service.url}/query?fixed=1", method: GET}}
              - {{name: text, http: {{url: "{service.url}/text"}}}}
              - {{name: fail, http: {{url: "{service.url}/fail"}}}}
              - {{name: missing, http: {{url: "{service.url}/missing"}}}}
              - {{name: empty, http: {{url: "{service.url}/empty"}}}}
              - {{name: problem, http: {{url: "{service.url}/problem"}}}}
              - {{name: mislabelled, http: {{url: "{service.url}/mislabelled"}}}}
              - name: moved
                parameters: {order_schema}
                http: {{url: "{service.url}/moved"}}
              - {{name: slow, timeout_s: 30, http: {{url: "{service.url}/slow", timeout_s: 0.2}}}}
              - {{name: unreachable, http: {{url: "http://127.0.0.1:{closed_port()}/"}}}}
            """
        ),
        "t.yaml",
        {"TOKEN": "s3cret"},
    )
    registry = ToolRegistry.from_dialplan(plan)
    try:
        yield ToolRunner(registry)
    finally:
        await registry.aclose()


async def call(runner: ToolRunner, name: str, arguments: str = "{}") -> ToolResult:
    [result] = await runner.run([ToolCall("c1", name, arguments)], make_context())
    return result


async def test_post_sends_the_arguments_as_json_with_the_configured_headers(runner: ToolRunner) -> None:
    result = await call(runner, "lookup", '{"order_id": "A-123456"}')
    assert result.status == "ok"
    assert orjson.loads(result.output) == {
        "method": "POST",
        "body": {"order_id": "A-123456"},
        "content_type": "application/json",
        "authorization": "Bearer s3cret",
        "x_team": "support",
    }


@pytest.mark.parametrize(("tool", "method"), [("replace", "PUT"), ("cancel", "DELETE")])
async def test_other_methods_send_a_json_body_too(runner: ToolRunner, tool: str, method: str) -> None:
    answer = orjson.loads((await call(runner, tool, '{"order_id": "A-1"}')).output)
    assert (answer["method"], answer["body"]) == (method, {"order_id": "A-1"})


async def test_a_json_answer_is_passed_through_as_sent(runner: ToolRunner) -> None:
    result = await call(runner, "problem")
    assert result.output == '{"title": "kept as sent"}'


async def test_get_sends_the_arguments_as_query_parameters(runner: ToolRunner) -> None:
    arguments = {
        "fixed": "overridden?",
        "q": "tent",
        "limit": 5,
        "exact": True,
        "tags": ["a", 2],
        "filter": {"x": 1},
        "empty": None,
    }
    result = await call(runner, "search", orjson.dumps(arguments).decode())
    assert orjson.loads(result.output) == {
        "query": [
            ["fixed", "1"],
            ["q", "tent"],
            ["limit", "5"],
            ["exact", "true"],
            ["tags", "a"],
            ["tags", "2"],
            ["filter", '{"x":1}'],
            ["empty", "null"],
        ]
    }


async def test_a_text_answer_becomes_one_json_string(runner: ToolRunner) -> None:
    result = await call(runner, "text")
    assert (result.status, result.output) == ("ok", '"Your order ships on Monday."')


async def test_a_body_labelled_json_that_is_not_json_is_sent_as_a_string(runner: ToolRunner) -> None:
    assert (await call(runner, "mislabelled")).output == '"not json at all"'


async def test_an_empty_answer_reports_its_status(runner: ToolRunner) -> None:
    assert orjson.loads((await call(runner, "empty")).output) == {"ok": True, "status": 204}


async def test_redirects_are_followed(runner: ToolRunner) -> None:
    answer = orjson.loads((await call(runner, "moved", '{"order_id": "A-2"}')).output)
    assert answer["body"] == {"order_id": "A-2"}


async def test_a_server_error_is_an_error_with_the_status_and_an_excerpt(runner: ToolRunner) -> None:
    result = await call(runner, "fail")
    assert result.status == "error"
    expected = "the service answered HTTP 500 Internal Server Error: Traceback: database exploded"
    assert orjson.loads(result.output) == {"error": expected}


async def test_a_client_error_carries_the_body_too(runner: ToolRunner) -> None:
    result = await call(runner, "missing")
    expected = 'the service answered HTTP 404 Not Found: {"detail":"order not found"}'
    assert orjson.loads(result.output) == {"error": expected}


async def test_a_slow_service_times_out_on_the_request_timeout(runner: ToolRunner) -> None:
    result = await call(runner, "slow")
    assert result.status == "timeout"
    assert orjson.loads(result.output) == {"error": "the service did not answer within 0.2 s"}


async def test_the_tools_own_timeout_bounds_the_whole_request(service: Service) -> None:
    # Built in code: the loader refuses a request timeout longer than the tool's.
    tool = ToolSpec("slow", HttpTool(f"{service.url}/slow", timeout_s=30), "", empty_parameters(), timeout_s=0.1)
    registry = ToolRegistry.from_dialplan(Dialplan(name="code", tools=(tool,)))
    try:
        result = await call(ToolRunner(registry), "slow")
    finally:
        await registry.aclose()
    assert result.status == "timeout"
    assert orjson.loads(result.output) == {"error": "the tool 'slow' did not finish within 0.1 s"}


async def test_an_unreachable_service_is_an_error(runner: ToolRunner) -> None:
    result = await call(runner, "unreachable")
    assert result.status == "error"
    assert orjson.loads(result.output)["error"].startswith("could not reach the service: ")


async def test_a_dtmf_key_can_call_an_http_tool(runner: ToolRunner) -> None:
    [result] = await runner.run([ToolCall("dtmf_1", "text", "{}", source="dtmf")], make_context())
    assert (result.source, result.output) == ("dtmf", '"Your order ships on Monday."')
