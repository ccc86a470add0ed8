from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bridge.errors import ConfigError
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


async def test_a_busy_port_is_a_config_error() -> None:
    app = Starlette(routes=[Route("/", hello)])
    async with serve_asgi(app) as running:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{running.port}"):
            async with serve_asgi(app, port=running.port):
                pass


async def test_a_failing_lifespan_is_reported() -> None:
    @contextlib.asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="failed to start"):
        async with serve_asgi(Starlette(lifespan=broken)):
            pass
