from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bridge.web.asgi_server import serve_asgi


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_serves_on_a_free_port_and_stops() -> None:
    app = Starlette(routes=[Route("/", hello)])
    async with serve_asgi(app) as running:
        assert running.port > 0
        async with httpx.AsyncClient() as client:
            response = await client.get(running.http_url + "/")
        assert response.text == "hello"
    async with httpx.AsyncClient() as client:
        try:
            await client.get(running.http_url + "/")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("server still answering after exit")
